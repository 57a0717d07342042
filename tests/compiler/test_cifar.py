"""The ResNet paper's CIFAR-10 nets (Sec. 4.2): their specs count Table 6's parameters, and compile to the
function a hand-written torch build computes, option-A shortcuts included."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.compiler.shortcut import ZeroPadShortcut
from archspec.infer import infer

from .cifar_resnet import CifarNet
from .conftest import busy_batch_norm

# Table 6 of the ResNet paper, as ../shared/paper.md transcribes it: parameters in millions, as printed
TABLE6 = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}


def _numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _eval_busy(model: nn.Module) -> nn.Module:
    busy_batch_norm(model)
    return model.eval()


@pytest.mark.parametrize("name", TABLE6)
def test_resnets_count_table_6s_parameters_and_the_hand_written_builds(name):
    depth = int(name.removeprefix("resnet"))
    counted = infer(archspec.network(name)).params
    assert round(counted / 1e6, 2 if counted < 10**6 else 1) == TABLE6[name]
    assert counted == _numel(CifarNet(depth)) == _numel(archspec.compile(name))


@pytest.mark.parametrize("depth", [20, 32, 44, 56])
def test_plain_nets_count_what_the_resnet_of_their_depth_counts(depth):
    """Option A has no parameters and adds no multiply-accumulates: a plain net and its ResNet cost the same."""
    plain, res = infer(archspec.network(f"plain{depth}")), infer(archspec.network(f"resnet{depth}"))
    assert (plain.weight_layers, plain.params, plain.macs) == (res.weight_layers, res.params, res.macs)
    assert (res.weight_layers, res.params) == (depth, _numel(CifarNet(depth, shortcuts=False)))


def test_option_a_counts_no_parameters_and_no_flops_as_torch_counts_them():
    stats = infer(archspec.network("resnet20"))
    pads = [s for s in stats.layers if s.kind == "zeropad"]
    assert [(s.in_shape, s.out_shape, s.params, s.macs) for s in pads] == [
        ((16, 32, 32), (32, 16, 16), 0, 0),
        ((32, 16, 16), (64, 8, 8), 0, 0),
    ]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        CifarNet(20)(torch.randn(1, 3, 32, 32))
    assert stats.flops == counter.get_total_flops()  # convs and the FC, 2 FLOPs a multiply-accumulate


def test_at_crop_32_the_stages_run_on_maps_of_32_16_and_8():
    model = archspec.compile("resnet20").eval()
    seen: dict[str, set] = {}  # stage -> the (C, H, W) its convs and shortcuts produced, as they ran
    for name, m in model.named_modules():
        if name.startswith("layer") and isinstance(m, nn.Conv2d | ZeroPadShortcut):
            m.register_forward_hook(lambda m, i, out, s=name[:6]: seen.setdefault(s, set()).add(out.shape[1:]))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert seen == {"layer1": {(16, 32, 32)}, "layer2": {(32, 16, 16)}, "layer3": {(64, 8, 8)}}


@pytest.mark.parametrize("name", ["resnet20", "resnet32"])
def test_resnet_computes_what_the_hand_written_build_computes(name):
    ref = _eval_busy(CifarNet(int(name.removeprefix("resnet"))))
    ours = archspec.compile(name).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)  # torchvision's names on both sides
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


def test_plain_net_computes_what_the_hand_written_build_computes():
    ref = _eval_busy(CifarNet(20, shortcuts=False))
    ours = archspec.compile("plain20").eval()
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert [v.shape for v in mine.values()] == [v.shape for v in theirs.values()]
    ours.load_state_dict(dict(zip(mine, theirs.values(), strict=True)))  # a flat net: same tensors by position
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


def test_a_narrower_resnet_scales_its_shortcuts_with_its_convs():
    ref = _eval_busy(CifarNet(20, widths=(8, 16, 32)))
    ours = archspec.compile("resnet20", width=0.5).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


def test_option_a_trains_through_the_shortcut():
    """The gradient reaches the input through the zero-padding shortcut too: body and shortcut both carry it."""
    model = archspec.compile("input 8x8x3 conv3-4 bn [conv3-8/2 bn conv3-8 bn + zeropad-8/2] avgpool FC-3")
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
