import os
from pathlib import Path

import torch

# Without CUDA, Triton kernels run on the CPU only under the interpreter, which must be chosen before any
# kernel is defined (kernel modules are imported lazily, after this). With CUDA they run for real.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spec_dir() -> Path:
    return ROOT / "specs"
