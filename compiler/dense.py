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

from .eager import Net
from .layout import classifier_start


def floor_stride(layers) -> int:
    """Input pixels per map cell where the map is the input floor-divided: every layer keeps the size (a
    stride-1 conv or pool padded by half its odd window, batch norm, LRN) or pools non-overlapping windows
    without padding, like VGG's 2x2/2 max-pools (32 for VGG). Then only the input's remainder after that
    division goes unused. Anything else (AlexNet's conv11/4, a 3x3/2 pool) gives 1: its margins are used."""
    stride = 1
    for layer in layers:
        k, s = getattr(layer, "kernel", 1), getattr(layer, "stride", 1)
        pad, ceil = getattr(layer, "pad", getattr(layer, "padding", 0)), getattr(layer, "ceil", False)
        if layer.global_pool:  # the whole map to 1x1: every pixel is used
            return 1
        if s == 1 and 2 * pad == k - 1:
            continue
        if s == k and pad == 0 and not ceil:
            stride *= s
            continue
        return 1
    return stride


def _last_map(model: Net) -> tuple[int, int, int] | None:
    """The last feature map before global pooling or the first FC layer, at the net's own input size."""
    last = None
    for node, s in zip(model._nodes, model.stats.layers, strict=True):
        if node.global_pool or isinstance(node, FC):
            break
        if len(s.out_shape) == 3:
            last = s.out_shape
    return last


class Dense(nn.Module):
    """The fully convolutional form of a compiled net, sharing its weights: `forward` gives the class score
    map (N, classes, h, w). `stride`: `floor_stride` of a flat net's feature layers (32 for VGG, 1 where the
    margins are used); 1 for a net with shortcuts or branches, which have no single chain of strides."""

    def __init__(self, model: Net) -> None:
        super().__init__()
        net = model.net
        self.model = model
        self.stride = floor_stride(net.layers[: classifier_start(net.layers)]) if net.flat else 1
        # Without a floor chain (stride 1: ResNet, GoogLeNet, AlexNet) a larger image changes what every cell of
        # the last map sees (its padding, its share of the image), so the net no longer reads it as it was
        # trained to. Such a net is scored on windows of its own input size, `window_step` pixels apart (its
        # input side over its last map's): the geometry it was trained at, as VGG's score map has by design.
        self.window_step = None
        last = _last_map(model) if self.stride == 1 else None  # None too where an FC layer comes first
        if last is not None and net.input.height // last[1] > 1:
            self.window_step = net.input.height // last[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, dense=True)  # (N, classes, h, w) class score map


def to_dense(model: Net) -> Dense:
    """The fully convolutional form of a compiled net (sharing its weights)."""
    if not any(isinstance(layer, FC) for layer in walk(model.net.layers)):
        raise ValueError(f"{model.net.name}: has no FC layer, so it is fully convolutional already")
    return Dense(model).train(model.training)
