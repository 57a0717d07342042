"""Shape inference: what every layer of a `Network` produces and costs.

`infer(net)` walks the layers once and returns one `LayerStats` per layer:
input and output shape, parameters, multiply-accumulates (MACs; FLOPs are
2 x MACs and reported separately), activation size and receptive field with its
jump (the input-pixel stride between neighbouring outputs). Counting is
analytic: no weights are allocated and torch is not imported.

Conventions: MACs count conv and FC multiply-accumulates only (bias adds, ReLU,
pooling and normalisation are not multiply-accumulates). An FC layer on a map
flattens it (C*H*W inputs); its receptive field is the whole map. On a
non-square map `rf` is the larger side.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from .errors import SpecError
from .ir import FC, LRN, BatchNorm, Conv, Dropout, Layer, MaxPool, Network, Node, ReLU, Softmax

Dims = tuple[int, ...]  # (C, H, W) for a map, (N,) for a vector


class LayerStats(Node):
    index: int
    layer: Layer = Field(exclude=True)
    kind: str
    label: str
    in_shape: Dims
    out_shape: Dims
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
    input: Dims
    layers: tuple[LayerStats, ...]

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
    def weight_layers(self) -> int:
        return sum(s.kind in ("conv", "fc") for s in self.layers)

    @property
    def out_shape(self) -> Dims:
        return self.layers[-1].out_shape


def _fail(layer: Layer, found: str, expected: str) -> SpecError:
    s = layer.src
    return SpecError(found, expected, path=s and s.path, line=s and s.line, col=s and s.col)


def _need_map(layer: Layer, shape: Dims) -> Dims:
    if len(shape) != 3:
        name = layer.src.text if layer.src else layer.label
        raise _fail(layer, f"{name!r} on a flat vector of {shape[0]}", "a feature map (put FC layers last)")
    return shape


# Each rule: (layer, in_shape, rf, jump) -> (out_shape, params, macs, rf, jump)
Rule = Callable[..., tuple[Dims, int, int, int, int]]


def _conv(layer: Conv, shape: Dims, rf: int, jump: int):
    c, h, w = _need_map(layer, shape)
    k, s, p = layer.kernel, layer.stride, layer.pad
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if oh < 1 or ow < 1:
        raise _fail(layer, f"{layer.label} on a {h}x{w} map", f"a map of at least {k}x{k}")
    out = (layer.out_channels, oh, ow)
    params = k * k * c * layer.out_channels + (layer.out_channels if layer.bias else 0)
    macs = k * k * c * layer.out_channels * oh * ow
    return out, params, macs, rf + (k - 1) * jump, jump * s


def _maxpool(layer: MaxPool, shape: Dims, rf: int, jump: int):
    c, h, w = _need_map(layer, shape)
    k, s = layer.kernel, layer.stride
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    if h < k or w < k:
        raise _fail(
            layer,
            f"maxpool on a {h}x{w} map, which would shrink it below 1x1",
            f"a map of at least {k}x{k} (remove a maxpool or use a larger input)",
        )
    return (c, oh, ow), 0, 0, rf + (k - 1) * jump, jump * s


def _fc(layer: FC, shape: Dims, rf: int, jump: int):
    n_in = 1
    for d in shape:
        n_in *= d
    span = max(shape[1], shape[2]) if len(shape) == 3 else 1  # the larger side of the map
    out = (layer.out_features,)
    return out, n_in * layer.out_features + layer.out_features, n_in * layer.out_features, rf + (span - 1) * jump, jump


def _batchnorm(layer: BatchNorm, shape: Dims, rf: int, jump: int):
    return shape, 2 * shape[0], 0, rf, jump


def _same(layer: Layer, shape: Dims, rf: int, jump: int):
    return shape, 0, 0, rf, jump


def _lrn(layer: LRN, shape: Dims, rf: int, jump: int):
    return _need_map(layer, shape), 0, 0, rf, jump


RULES: dict[type, Rule] = {
    Conv: _conv,
    MaxPool: _maxpool,
    FC: _fc,
    BatchNorm: _batchnorm,
    LRN: _lrn,
    ReLU: _same,
    Dropout: _same,
    Softmax: _same,
}


def infer(net: Network) -> NetworkStats:
    """Shapes, parameters and compute of every layer; raises `SpecError` naming the bad layer."""
    shape: Dims = (net.input.channels, net.input.height, net.input.width)
    rf, jump, rows = 1, 1, []
    for i, layer in enumerate(net.layers):
        out, params, macs, rf, jump = RULES[type(layer)](layer, shape, rf, jump)
        n = 1
        for d in out:
            n *= d
        rows.append(
            LayerStats(
                index=i,
                layer=layer,
                kind=layer.kind,
                label=layer.label,
                in_shape=shape,
                out_shape=out,
                params=params,
                macs=macs,
                activations=n,
                rf=rf,
                jump=jump,
            )
        )
        shape = out
    return NetworkStats(name=net.name, input=rows[0].in_shape if rows else shape, layers=tuple(rows))
