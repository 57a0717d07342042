"""The ResNet paper's plain baselines (Sec. 4.1, Fig. 3 middle): ResNet-18/34 with the shortcuts taken out."""

import pytest
import torch
from torch import nn

import archspec
from archspec.infer import infer

BLOCKS = {"plain18": [2, 2, 2, 2], "plain34": [3, 4, 6, 3]}


def hand_written(blocks: list[int], classes: int = 1000) -> nn.Sequential:
    """The plain net written out in torch: conv-BN-ReLU everywhere, the stride on each stage's first conv."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    layers.append(nn.MaxPool2d(3, 2, 1))
    c_in = 64
    for c, n in zip((64, 128, 256, 512), blocks, strict=True):
        for i in range(2 * n):
            stride = 2 if (i == 0 and c != 64) else 1
            layers += [nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes))


@pytest.mark.parametrize("name, resnet", [("plain18", "resnet18"), ("plain34", "resnet34")])
def test_plain_counts_are_the_resnets_less_their_three_projection_shortcuts(name, resnet):
    # by hand: a 1x1/2 conv + BN into 128, 256 and 512 channels, on 28x28, 14x14 and 7x7 outputs
    projection_params = sum(c_in * c + 2 * c for c_in, c in ((64, 128), (128, 256), (256, 512)))
    projection_macs = 3 * (64 * 128 * 28 * 28)  # each stage halves the side and doubles both channel counts
    plain, res = infer(archspec.network(name)), infer(archspec.network(resnet))
    assert (plain.weight_layers, plain.params, plain.macs) == (
        res.weight_layers,
        res.params - projection_params,
        res.macs - projection_macs,
    )


@pytest.mark.parametrize("name", BLOCKS)
def test_plain_net_computes_what_the_hand_written_torch_net_computes(name):
    ref = hand_written(BLOCKS[name]).eval()
    ours = archspec.compile(name).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert [v.shape for v in mine.values()] == [v.shape for v in theirs.values()]
    ours.load_state_dict(dict(zip(mine, theirs.values(), strict=True)))  # same tensors, position by position
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)
