import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from archspec.compiler.memory_format import channels_last, routed_convs

WORKER = Path(__file__).with_name("memory_format_worker.py")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["resnet18", "C"])
def test_a_training_step_in_the_format_used_gives_every_conv_the_nchw_gradient(name, threads):
    """On the machine the tests run on: a narrow ResNet-18 (its strided 1x1 shortcuts are oneDNN issue 6035's case)
    and C (1x1 convs at stride 1). An abort or a hang fails this test alone."""
    done = subprocess.run(
        [sys.executable, str(WORKER), name, str(threads)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["routed"] == (3 if name == "resnet18" else 0)  # ResNet-18's stages 2-4 shortcuts
    assert len(result["grad"]) == result["convs"] > 0
    worst = max(result["grad"].items(), key=lambda kv: kv[1])
    assert worst[1] < 1e-4, worst
    assert result["weights"] < 1e-4


def test_only_strided_1x1_convs_are_routed_and_they_keep_the_rest_channels_last():
    model = channels_last(archspec.compile("resnet18", width=0.0625, input="32x32x3", num_classes=10), "cpu")
    routed = routed_convs(model)
    assert [(c.kernel_size, c.stride) for c in routed] == [((1, 1), (2, 2))] * 3
    assert all(c.weight.stride() == (c.in_channels, 1, 1, 1) for c in routed)  # NCHW strides, not only "contiguous"
    seen = []

    def inputs(conv, args):  # runs after the routing hook: what the convolution itself gets
        seen.append(args[0].stride() == args[0].contiguous(memory_format=torch.contiguous_format).stride())

    def outputs(conv, args, y):
        seen.append(y.is_contiguous(memory_format=torch.channels_last))

    for conv in routed:
        conv.register_forward_pre_hook(inputs)
        conv.register_forward_hook(outputs)
    model(torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    assert seen == [True] * 6  # NCHW in, channels-last out, at each of the three
    channels_last(model, "cpu")  # moving the model again adds no second pair of hooks
    assert all(len(c._forward_pre_hooks) == 2 for c in routed)  # ours and the test's
