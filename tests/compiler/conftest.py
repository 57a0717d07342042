import pytest
import torch
from torch import nn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: the Triton interpreter (tests/conftest.py)


def tolerance(dtype: torch.dtype, op: str = "") -> dict:
    """Kernel vs torch (fp32 reference). The interpreter computes true fp32; on CUDA an fp32 conv or linear
    uses TF32 (10 mantissa bits) exactly where torch's flag for the op allows it (convs by default)."""
    tf32 = {"conv": torch.backends.cudnn.allow_tf32, "linear": torch.backends.cuda.matmul.allow_tf32}.get(op, False)
    if dtype == torch.float32 and not (tf32 and DEVICE == "cuda"):
        return {"rtol": 1e-4, "atol": 1e-4}
    return {"rtol": 2e-2, "atol": 2e-2}  # TF32, or fp16 / bf16 inputs with fp32 accumulation


def busy_batch_norm(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so eval-mode BN is really exercised."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)


@pytest.fixture
def on_device():
    """Tensors made by the test land on the kernels' device: CUDA when present, else the CPU."""
    previous = torch.get_default_device()
    torch.set_default_device(DEVICE)
    yield DEVICE
    torch.set_default_device(previous)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
