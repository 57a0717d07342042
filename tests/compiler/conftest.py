import pytest
import torch


def tolerance(dtype: torch.dtype, device: str = "cpu") -> dict:
    """Kernel vs torch (fp32 reference). The interpreter computes true fp32; CUDA defaults to TF32."""
    if dtype == torch.float32:
        return {"rtol": 1e-4, "atol": 1e-4} if device == "cpu" else {"rtol": 2e-2, "atol": 2e-2}
    return {"rtol": 2e-2, "atol": 2e-2}  # fp16 / bf16 inputs, fp32 accumulation


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
