import os
from pathlib import Path

# Triton kernels run on the CPU only under the interpreter, which must be chosen
# before any kernel is defined (kernel modules are imported lazily, after this).
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spec_dir() -> Path:
    return ROOT / "specs"
