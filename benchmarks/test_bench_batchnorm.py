"""Batch norm on narrow maps (`compiler/batchnorm.py`): one SGD step of the successors suite's ResNet-56 (the ResNet
paper's CIFAR net at width 1/4: 4, 8 and 16 channels on 32, 16 and 8 pixel maps) with the compiler's batch norm,
against the same net built with torch's nn.BatchNorm2d. Batch 64 at 32x32x1, channels-last as training runs, one
torch thread as in a `--jobs 2` worker, timed in CPU time. bf16 runs only on a CPU with bf16 units. Results also in
`benchmarks/results/batchnorm-<CPU model>.json`."""

import time

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler import eager
from archspec.compiler.memory_format import channels_last
from archspec.harness.training.distributed import cpu_bf16_units
from archspec.harness.training.init import initialise

from .conftest import EXTRA, NAMED, RATIOS, sgd_step

NAMED.append("batchnorm")
for _dtype in ("fp32", "bf16"):
    _label = f"batchnorm: speed-up of this batch norm over torch's, ResNet-56 step, {_dtype}"
    RATIOS.append((_label, f"torch_{_dtype}", f"ours_{_dtype}"))
EXTRA["batchnorm: CPU bf16 units"] = cpu_bf16_units()
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.benchmark(timer=time.process_time)]


def model() -> nn.Module:
    torch.manual_seed(0)
    m = archspec.compile("resnet56", num_classes=10, input="32x32x1", width=0.25)
    initialise(m, "torchvision")
    return channels_last(m.train(), "cpu")


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("norm", ["torch", "ours"])
def test_training_step(benchmark, record, monkeypatch, norm, dtype):
    if dtype == "bf16" and not cpu_bf16_units():
        pytest.skip("bf16 is emulated on a CPU without bf16 units (AMX, AVX512-BF16), about 90x slower")
    if norm == "torch":
        monkeypatch.setattr(eager.LAYERS, "BatchNorm2d", nn.BatchNorm2d)
    benchmark.pedantic(sgd_step(model(), dtype), rounds=20, iterations=1, warmup_rounds=3)
    record(f"{norm}_{dtype}")
