"""`autocast_dtype`: which arithmetic each precision choice runs a device in."""

import pytest
import torch

from archspec.choices import Precision
from archspec.harness.distributed import autocast_dtype, slow_bf16

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


def test_bf16_on_a_cpu_without_bf16_instructions_is_flagged_as_slow(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert slow_bf16(torch.bfloat16, CPU)
    assert not slow_bf16(None, CPU) and not slow_bf16(torch.bfloat16, CUDA)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert not slow_bf16(torch.bfloat16, CPU)


def test_a_torch_that_cannot_tell_its_cpus_bf16_support_does_not_warn(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert not slow_bf16(torch.bfloat16, CPU)
