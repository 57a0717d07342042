"""`autocast_dtype`: which arithmetic each precision choice runs a device in."""

import pytest
import torch

from archspec.choices import Precision
from archspec.harness.distributed import autocast_dtype

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.mark.parametrize(
    "precision, device, dtype",
    [
        (Precision.auto, CPU, None),  # fp32 on a CPU unless asked: the paper's arithmetic
        (Precision.auto, CUDA, torch.bfloat16),
        (Precision.fp32, CPU, None),
        (Precision.fp32, CUDA, None),
        (Precision.bf16, CPU, torch.bfloat16),
        (Precision.bf16, CUDA, torch.bfloat16),
    ],
)
def test_each_precision_picks_its_autocast_dtype(precision, device, dtype):
    assert autocast_dtype(precision, device) is dtype
