"""The fully convolutional ("dense") form of a compiled net, Sec. 3.2 of the paper.

The first FC layer becomes a conv whose kernel equals the map size at that
point (7x7 at 224x224), the other FC layers become 1x1 convs; weights are the
same numbers reshaped. On a crop-size input the output (N, classes, 1, 1) equals
the classifier's logits; on a larger image it is a class score map
(N, classes, h, w) that evaluation averages spatially.

A net that ends in global average pooling (ResNet, GoogLeNet) is fully convolutional
already: its dense form leaves the pooling out and applies the FC layer at every
position, so the spatial mean of its score map is exactly the net's output (the
FC layer is linear), and the map shows how many positions were scored.
"""

from __future__ import annotations

import torch
from torch import nn

from archspec.ir import GlobalAvgPool

from .eager import VGG, GraphNet, split


def _fc_to_conv(fc: nn.Linear, channels: int, kh: int, kw: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, fc.out_features, (kh, kw))
    with torch.no_grad():
        conv.weight.copy_(fc.weight.view(fc.out_features, channels, kh, kw))  # torch flattens C, H, W
        conv.bias.copy_(fc.bias)
    return conv.to(fc.weight.device, fc.weight.dtype)


def floor_stride(layers) -> int:
    """Input pixels per map cell where the map is the input floor-divided: every layer keeps the size (a
    stride-1 conv or pool padded by half its odd window, batch norm, LRN) or pools non-overlapping windows
    without padding, like VGG's 2x2/2 max-pools (32 for VGG). Then only the input's remainder after that
    division goes unused. Anything else (AlexNet's conv11/4, a 3x3/2 pool) gives 1: its margins are used."""
    stride = 1
    for layer in layers:
        k, s = getattr(layer, "kernel", 1), getattr(layer, "stride", 1)
        pad, ceil = getattr(layer, "pad", getattr(layer, "padding", 0)), getattr(layer, "ceil", False)
        if isinstance(layer, GlobalAvgPool):  # the whole map to 1x1: every pixel is used
            return 1
        if s == 1 and 2 * pad == k - 1:
            continue
        if s == k and pad == 0 and not ceil:
            stride *= s
            continue
        return 1
    return stride


class DenseVGG(nn.Module):
    """`stride`: `floor_stride` of the feature layers (32 for VGG, 1 where the margins are used)."""

    def __init__(self, features: nn.Module, head: nn.Sequential, stride: int) -> None:
        super().__init__()
        self.features, self.head, self.stride = features, head, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, classes, h, w) class score map


class DenseGraph(nn.Module):
    stride = 1  # shortcuts and branches have no single chain of strides: evaluation leaves the image whole

    def __init__(self, model: GraphNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, dense=True)  # (N, classes, h, w) class score map


def to_dense(model: VGG | GraphNet) -> DenseVGG | DenseGraph:
    """Convert a compiled net into its fully convolutional form (sharing its weights)."""
    if isinstance(model, GraphNet):
        if not any(layer.kind == "fc" for layer in model.net.layers):
            raise ValueError(f"{model.net.name}: has no FC layer, so it is fully convolutional already")
        return DenseGraph(model).train(model.training)
    if not len(model.classifier):
        raise ValueError(f"{model.net.name}: has no FC layer, so it is fully convolutional already")
    c, h, w = model.stats.layers[split(model.net)].in_shape  # the map the first FC layer flattens
    head, first = [], True
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            head.append(_fc_to_conv(m, c, h, w) if first else _fc_to_conv(m, m.in_features, 1, 1))
            first = False
        else:
            head.append(m)
    stride = floor_stride(model.net.layers[: split(model.net)])
    return DenseVGG(model.features, nn.Sequential(*head), stride).train(model.training)
