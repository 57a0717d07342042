"""Triton cross-channel LRN against torch's LocalResponseNorm (which divides alpha by size)."""

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler.kernels.lrn import local_response_norm

from .conftest import tolerance

pytestmark = pytest.mark.usefixtures("on_device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape, size", [((2, 8, 5, 3), 5), ((1, 37, 4, 4), 5), ((1, 6, 3, 3), 4)])
def test_matches_torch(shape, size, dtype):
    x = (torch.randn(shape) * 3).to(dtype)
    alpha_sum = 2.5e-3
    y = local_response_norm(x, size, alpha_sum, 0.75, 2.0)
    ref = F.local_response_norm(x.float(), size, alpha=alpha_sum * size, beta=0.75, k=2.0)
    torch.testing.assert_close(y.float(), ref, **tolerance(dtype))
    assert y.is_contiguous(memory_format=torch.channels_last)
