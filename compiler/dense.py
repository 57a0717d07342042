"""The fully convolutional ("dense") form of a compiled net, Sec. 3.2 of the paper.

The first FC layer becomes a conv whose kernel equals the map size at that
point (7x7 at 224x224), the other FC layers become 1x1 convs; weights are the
same numbers reshaped. It is the compiled model itself, run with `dense=True`
(its leaf step, `eager._fc_on_map`). On a crop-size input the output
(N, classes, 1, 1) equals the classifier's logits; on a larger image it is a class
score map (N, classes, h, w) that evaluation averages spatially.

A net that ends in global average pooling (ResNet, GoogLeNet, the plain nets) is fully convolutional
already: its dense form leaves the pooling out and applies the FC layer at every
position, so the spatial mean of its score map is exactly the net's output (the
FC layer is linear), and the map shows how many positions were scored.
"""

from __future__ import annotations

import torch
from torch import nn

from archspec.ir import FC, walk
from archspec.views import geometry

from .eager import Net


class Dense(nn.Module):
    """The fully convolutional form of a compiled net, sharing its weights: `forward` gives the class score
    map (N, classes, h, w). `stride`: `floor_stride` of a flat net's feature layers (32 for VGG, 1 where the
    margins are used); 1 for a net with shortcuts or branches, which have no single chain of strides."""

    def __init__(self, model: Net) -> None:
        super().__init__()
        self.model = model
        geo = geometry(model.net)  # archspec.views: the same geometry the protocol's views and the planner use
        self.stride = geo.stride
        # Without a floor chain (stride 1: ResNet, GoogLeNet, AlexNet) a larger image changes what every cell of
        # the last map sees (its padding, its share of the image), so the net no longer reads it as it was
        # trained to. Such a net is scored on windows of its own input size, `window_step` pixels apart (its
        # input side over its last map's): the geometry it was trained at, as VGG's score map has by design.
        self.window_step = geo.window_step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, dense=True)  # (N, classes, h, w) class score map


def to_dense(model: Net) -> Dense:
    """The fully convolutional form of a compiled net (sharing its weights)."""
    if not any(isinstance(layer, FC) for layer in walk(model.net.layers)):
        raise ValueError(f"{model.net.name}: has no FC layer, so it is fully convolutional already")
    return Dense(model).train(model.training)
