"""Shape inference: what every layer of a `Network` produces and costs.

`infer(net)` walks the layer tree once and returns one `LayerStats` per node
(`ir.walk` order: a group after its children); each kind's own `infer` (in
`archspec.ir`) gives
its input and output shape, parameters, multiply-accumulates (MACs; FLOPs are
2 x MACs and reported separately), activation size and receptive field with its
jump (the input-pixel stride between neighbouring outputs). Counting is
analytic: no weights are allocated and torch is not imported.

Shapes are named tuples in torch's order: `MapShape(channels, height, width)` for a
map, `VectorShape(features)` after an FC layer; they compare equal to plain tuples,
and tables print them as the papers do, `HxWxC` (`ir.dims_text`).

Conventions: MACs count conv and FC multiply-accumulates only (bias adds, ReLU,
pooling, normalisation and an option-A shortcut's strided copy and zeros are not
multiply-accumulates). An FC layer on a map
flattens it (C*H*W inputs); its receptive field is the whole map. On a
non-square map `rf` is the larger side.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import Field

from .errors import ArchspecError, SpecError
from .ir import Dims, KindError, Layer, Network, Node, ShapeError, infer_seq


class MapShape(NamedTuple):
    """A feature map's shape, in torch's order: `(C, H, W)`, printed `HxWxC` (`ir.dims_text`)."""

    channels: int
    height: int
    width: int


class VectorShape(NamedTuple):
    """A flat vector's shape (after an FC layer): `(N,)`."""

    features: int


LayerShape = MapShape | VectorShape


def named(dims: Dims) -> LayerShape:
    return MapShape(*dims) if len(dims) == 3 else VectorShape(*dims)


class LayerStats(Node):
    index: int
    layer: Layer = Field(exclude=True)
    kind: str
    label: str
    in_shape: LayerShape = Field(description="(channels, height, width) of a map, (features,) of a vector")
    out_shape: LayerShape
    params: int
    macs: int
    activations: int = Field(description="elements in the output, per image")
    rf: int = Field(description="receptive field side, in input pixels")
    jump: int = Field(description="input pixels between neighbouring outputs")

    @property
    def flops(self) -> int:
        return 2 * self.macs


class NetworkStats(Node):
    name: str
    input: MapShape
    layers: tuple[LayerStats, ...]
    weight_layers: int = Field(description="depth in weight layers, on the longest path")

    @property
    def params(self) -> int:
        return sum(s.params for s in self.layers)

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def out_shape(self) -> LayerShape:
        return self.layers[-1].out_shape


def _fail(layer: Layer, found: str, expected: str) -> SpecError:
    s = layer.src
    return SpecError(found, expected, path=s and s.path, line=s and s.line, col=s and s.col)


def infer(net: Network) -> NetworkStats:
    """Shapes, parameters and compute of every node, in `ir.walk` order (a group after its children, with its
    output shape and no parameters of its own); raises `SpecError` naming the bad layer."""
    rows: list[LayerStats] = []

    def emit(layer: Layer, shape: Dims, out) -> None:
        out_shape, params, macs, rf, jump = out
        n = 1
        for d in out_shape:
            n *= d
        rows.append(
            LayerStats(
                index=len(rows),
                layer=layer,
                kind=layer.kind,
                label=layer.label,
                in_shape=named(shape),
                out_shape=named(out_shape),
                params=params,
                macs=macs,
                activations=n,
                rf=rf,
                jump=jump,
            )
        )

    shape: Dims = (net.input.channels, net.input.height, net.input.width)
    try:
        infer_seq(net.layers, shape, 1, 1, emit)
    except ShapeError as e:
        raise _fail(e.layer, e.found, e.expected) from None
    except KindError as e:
        raise ArchspecError(f"{e.layer.src or '<spec>'}: {e}") from None
    return NetworkStats(name=net.name, input=MapShape(*shape), layers=tuple(rows), weight_layers=net.weight_layers)
