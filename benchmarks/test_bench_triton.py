"""pytest entry for the GPU benchmark of the Triton backend; skipped without CUDA."""

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="the Triton benchmark needs a CUDA GPU")


def test_triton_backend_gpu_benchmark():
    from .gpu_triton import main

    main([])
