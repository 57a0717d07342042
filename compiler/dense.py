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

import math

import torch
from torch import nn

from .eager import VGG, GraphNet, split


def _fc_to_conv(fc: nn.Linear, channels: int, kh: int, kw: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, fc.out_features, (kh, kw))
    with torch.no_grad():
        conv.weight.copy_(fc.weight.view(fc.out_features, channels, kh, kw))  # torch flattens C, H, W
        conv.bias.copy_(fc.bias)
    return conv.to(fc.weight.device, fc.weight.dtype)


class DenseVGG(nn.Module):
    """`stride`: the feature layers' strides multiplied (32 for VGG): one score-map cell per `stride` pixels."""

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
    stride = math.prod(getattr(layer, "stride", 1) for layer in model.net.layers[: split(model.net)])
    return DenseVGG(model.features, nn.Sequential(*head), stride).train(model.training)
