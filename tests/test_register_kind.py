"""A kind registered from outside archspec, as timm's `register_block` registers a block: a depthwise-separable
conv (`dwconv3-64`, MobileNet's unit without its batch norms) defined here, in a test module. It parses, counts
exactly what torch computes, compiles with both backends and trains a step; no archspec file names it."""

from typing import ClassVar, Literal

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec import ir
from archspec.ir import Layer, Network, register_kind


class DWConv(Layer):
    """`dwconv<k>-<c>[/<stride>]`: a k x k depthwise conv (one filter per channel, 'same' padding), then a 1x1
    conv to c channels, each with a bias."""

    kind: Literal["dwconv"] = "dwconv"
    kernel: int
    out_channels: int
    stride: int = 1

    token: ClassVar[str] = r"dwconv([0-9]+)-([0-9]+)(?:/([0-9]+))?"
    syntax: ClassVar[str] = "dwconv<k>-<c>[/<stride>]"
    example: ClassVar[str] = "dwconv3-64"
    weight: ClassVar[bool] = True  # a ReLU is implied after it, and it counts in depth

    @classmethod
    def read(cls, m, num):
        stride = num(3, "stride", 1, 31) if m.group(3) else 1
        return cls(kernel=num(1, "kernel size", 1, 31), out_channels=num(2, "channel count", 1, 4096), stride=stride)

    @property
    def label(self):
        return f"dwconv{self.kernel}-{self.out_channels}" + (f"/{self.stride}" if self.stride > 1 else "")

    def infer(self, shape, rf, jump):
        c, h, w = shape
        k, s = self.kernel, self.stride
        oh, ow = (h - 1) // s + 1, (w - 1) // s + 1  # padding k // 2 of an odd kernel
        params = (k * k * c + c) + (c * self.out_channels + self.out_channels)
        macs = (k * k * c + c * self.out_channels) * oh * ow
        return (self.out_channels, oh, ow), params, macs, rf + (k - 1) * jump, jump * s

    def scaled(self, scale):
        return self.model_copy(update={"out_channels": scale(self.out_channels)})

    def channels(self, c):
        return self.out_channels

    def reduction(self):
        return self.stride

    def repeated(self):
        return self.model_copy(update={"stride": 1})

    def torch(self, shape, nn):
        c, k = shape[0], self.kernel
        return nn.Sequential(nn.Conv2d(c, c, k, self.stride, k // 2, groups=c), nn.Conv2d(c, self.out_channels, 1))


SPEC = "input 16x16x3 conv3-8 dwconv3-16 maxpool dwconv5-24/2 FC-10 soft-max"


def reference() -> nn.Module:
    """SPEC written in torch by hand (the paper's implied ReLUs included)."""
    return nn.Sequential(
        *(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()),
        *(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.ReLU(), nn.MaxPool2d(2)),
        *(nn.Conv2d(16, 16, 5, 2, 2, groups=16), nn.Conv2d(16, 24, 1), nn.ReLU()),
        *(nn.Flatten(), nn.Linear(24 * 4 * 4, 10)),
    )


@pytest.fixture(autouse=True, scope="module")
def dwconv():
    kinds = ir.KINDS
    register_kind(DWConv)
    yield
    ir._use_kinds(kinds)  # the other test modules see the built-in kinds only


def test_it_parses_with_implied_relus_and_round_trips_through_json():
    net = archspec.parse(SPEC)
    assert [layer.kind for layer in net.layers] == [
        *("conv", "relu", "dwconv", "relu", "maxpool", "dwconv", "relu", "fc", "softmax")
    ]
    assert net.layers[5] == DWConv(kernel=5, out_channels=24, stride=2, src=net.layers[5].src)
    assert Network.from_json(net.to_json()) == net and net.weight_layers == 4


def test_in_a_stage_its_stride_and_channels_imply_the_projection():
    net = archspec.parse("input 16x16x3 conv3-8 [dwconv3-16/2 bn dwconv3-16 bn] ×2 avgpool FC-4")
    first, second = net.layers[2].blocks
    assert [(n.kind, n.out_channels, n.stride) for n in first.shortcut if n.kind == "conv"] == [("conv", 16, 2)]
    assert second.shortcut == () and second.body[0].stride == 1  # later blocks: stride 1, the identity


def test_a_misspelt_word_is_still_one_positioned_error_that_lists_it():
    with pytest.raises(archspec.SpecError, match=r"1:15: .*dwconv<k>-<c>\[/<stride>\]"):
        archspec.parse("input 16x16x3 dwcnv3-16 FC-2")


def test_params_and_macs_are_exactly_what_torch_computes():
    stats = archspec.infer(archspec.parse(SPEC))
    ref = reference()
    assert stats.params == sum(p.numel() for p in ref.parameters())
    with FlopCounterMode(display=False) as flops:
        ref(torch.zeros(1, 3, 16, 16))
    assert 2 * stats.macs == flops.get_total_flops()


def test_it_compiles_to_the_same_function_with_both_backends():
    model = archspec.compile(SPEC).eval()
    ref = reference().eval()
    for mine, theirs in zip(model.parameters(), ref.parameters(), strict=True):
        theirs.data.copy_(mine)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))
        triton = archspec.compile(SPEC, backend="triton").eval()  # the dwconv runs as its torch module
        triton.load_state_dict(model.state_dict())
        torch.testing.assert_close(triton(x), ref(x), rtol=1e-4, atol=1e-4)


def test_it_trains_one_step():
    model = archspec.compile(SPEC)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    before = [p.detach().clone() for p in model.parameters()]
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
