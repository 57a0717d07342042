"""The memory format a CPU trains in: channels-last with the strided 1x1 convolutions routed to NCHW
(`compiler.memory_format`, around oneDNN issue 6035) against the whole net in NCHW, the other way around the bug.
One SGD step of ResNet-18 at width 1/8 (its three strided shortcuts are the routed convolutions) and of D at width
1/8 (nothing routed), batch 64 at 32x32x3, one torch thread as in a `--jobs 2` worker."""

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec.compiler.memory_format import channels_last

from .conftest import RATIOS

for _net in ("resnet18", "D"):
    RATIOS.append(
        (f"memory format: routed channels-last vs NCHW, {_net} width 1/8 step (speed-up)", f"nchw_{_net}", f"cl_{_net}")
    )


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("layout", ["nchw", "cl"])
@pytest.mark.parametrize("net", ["resnet18", "D"])
def test_training_step(benchmark, record, net, layout):
    torch.manual_seed(0)
    model = archspec.compile(net, num_classes=10, input="32x32x3", width=0.125).train()
    x = torch.randn(64, 3, 32, 32)  # (B, C, H, W)
    if layout == "cl":
        model, x = channels_last(model, "cpu"), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=10, warmup_rounds=2)
    record(f"{layout}_{net}")
