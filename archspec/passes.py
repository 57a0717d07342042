"""Small IR -> IR passes: the overrides a user asks for without writing a new spec.

Each pass takes a `Network` and returns a new one (nodes are immutable);
`Overrides.apply` composes them. Overrides never change what the paper's spec
means, only its size: classes, input shape, channel width, batch norm.
"""

from __future__ import annotations

import re

from pydantic import Field

from .errors import ArchspecError
from .ir import FC, BatchNorm, Network, Node, Shape, map_layers, walk


def with_classes(net: Network, n: int) -> Network:
    """Replace the last FC layer's width (the class count)."""
    idx = [i for i, layer in enumerate(net.layers) if isinstance(layer, FC)]
    if not idx:
        raise ArchspecError(f"{net.name}: has no FC layer; expected one to set the class count on")
    layers = list(net.layers)
    layers[idx[-1]] = layers[idx[-1]].model_copy(update={"out_features": n})
    return net.model_copy(update={"layers": tuple(layers)})


def with_input(net: Network, shape: Shape) -> Network:
    return net.model_copy(update={"input": shape})


def with_width(net: Network, multiplier: float) -> Network:
    """Scale every conv's channels and every hidden FC's width (not the class count), inside groups too."""
    fcs = [i for i, layer in enumerate(net.layers) if isinstance(layer, FC)]
    classes = net.layers[fcs[-1]] if fcs else None

    def scale(n: int) -> int:
        return max(1, round(n * multiplier))

    layers = map_layers(net.layers, lambda layer: (layer if layer is classes else layer.scaled(scale),))
    return net.model_copy(update={"layers": layers})


def with_batch_norm(net: Network) -> Network:
    """Insert BatchNorm right after every conv (before its ReLU), as torchvision's `vgg*_bn`; a net that
    already has batch norm is returned as it is (`vgg16_bn --bn` is vgg16_bn, not doubled)."""
    if any(isinstance(layer, BatchNorm) for layer in walk(net.layers)):
        return net
    layers = map_layers(net.layers, lambda layer: layer.batch_normed())
    return net.model_copy(update={"layers": layers, "name": f"{net.name}-BN"})


def parse_shape(text: str) -> Shape:
    """`224x224x3`, `32x32x1` or `28x28` (3 channels) -> Shape."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*[x×]\s*(\d{1,5})(?:\s*[x×]\s*(\d{1,2}))?\s*", text)
    try:
        if not m:
            raise ValueError
        return Shape(height=int(m[1]), width=int(m[2]), channels=int(m[3] or 3))
    except ValueError:
        raise ArchspecError(
            f"input {text!r}: expected HxWxC such as 224x224x3 or 32x32x1 (sides 1-16384, 1-64 channels)"
        ) from None


class Overrides(Node):
    """What a user may change on any spec without editing it."""

    num_classes: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Number of classes (the last FC's width)."
    )
    input: Shape | None = None
    width: float | None = Field(
        default=None, gt=0, le=64, description="Channel-width multiplier for convs and hidden FCs."
    )
    batch_norm: bool = Field(default=False, description="Batch norm after every conv (torchvision's vgg*_bn).")

    def apply(self, net: Network) -> Network:
        if self.width is not None and self.width != 1:
            net = with_width(net, self.width)
        if self.num_classes is not None:
            net = with_classes(net, self.num_classes)
        if self.input is not None:
            net = with_input(net, self.input)
        if self.batch_norm:
            net = with_batch_norm(net)
        return net
