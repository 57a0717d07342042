"""bf16 autocast against fp32 on this CPU, as the small suite uses it: one SGD step of D at width 1/8 with batch
norm (batch 64, 32x32x1), and its multi-crop posterior (150 views an image at Q = 73), one torch thread each as in
a `--jobs 2` worker. The ratio is what bf16 buys where `precision = "auto"` picks it; on a CPU without bf16 units it
is far below 1 (emulated), which `extra` records, and which is why auto picks fp32 there."""

import pytest
import torch

import archspec
from archspec.compiler import build
from archspec.compiler.dense import to_dense
from archspec.harness.evaluation.protocol import image_posteriors
from archspec.harness.training.distributed import cpu_bf16_units
from archspec.harness.training.init import initialise

from .conftest import EXTRA, RATIOS, sgd_step

RATIOS.append(("precision: bf16 vs fp32 training step, D width 1/8 (speed-up)", "step_fp32", "step_bf16"))
RATIOS.append(("precision: bf16 vs fp32 multi-crop evaluation, D width 1/8 (speed-up)", "crops_fp32", "crops_bf16"))
EXTRA["precision: bf16 emulated on this CPU"] = cpu_bf16_units() == []
pytestmark = pytest.mark.usefixtures("one_thread")


def model(train: bool):
    torch.manual_seed(0)
    net = archspec.network("D", num_classes=10, input="32x32x1", width=0.125, batch_norm=True)
    m = build(net, "torch")
    initialise(m, "torchvision", 0.01)
    return m.train(train).to(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_training_step(benchmark, record, dtype):
    benchmark.pedantic(sgd_step(model(train=True), dtype), rounds=20, iterations=1, warmup_rounds=3)
    record(f"step_{dtype}")


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_multicrop_posterior(benchmark, record, dtype):
    m = model(train=False)
    x = torch.randn(8, 1, 73, 73).contiguous(memory_format=torch.channels_last)  # (B, C, Q, Q)

    def crops():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            return image_posteriors(m, to_dense(m), x, [73], 32, lambda t: t, ("multi-crop",))  # x is at Q = 73

    benchmark.pedantic(crops, rounds=5, iterations=1, warmup_rounds=1)
    record(f"crops_{dtype}")
