"""The typed intermediate representation of a network, and every layer kind in one place each.

A `Network` is an immutable pydantic model: an input shape and a tuple of layer
nodes, one discriminated union keyed by `kind`. Groups nest: a `Stage` holds
residual blocks (`Residual`: a body and a shortcut, added, then ReLU), and a
`Concat` holds parallel branches joined along channels (an Inception module).
Every node implied by a paper but not written in its table (ReLU after each hidden
weight layer, dropout after the hidden FC layers, the projection shortcut of a block
that changes shape) is an explicit node here, carrying the source position of the
token that implied it.

Each layer kind is one class below, and the class is the whole definition of the
kind: its written token (`token`, `read`), its shape / parameter / MAC inference
(`infer`), how the width and batch-norm overrides act on it (`scaled`,
`batch_normed`), the torch module it compiles to (`torch`, handed `torch.nn` by the
compiler, with the compiler's faster LocalResponseNorm in place of torch's, so this module never imports
torch) and the Triton fusion patterns that start at it (`fusion`), and what the parser and
the compiler ask of it: how it changes channels and stride (`channels`, `reduction`), what
it implies (`implied`), how a group runs and joins its children (`order`, `join`).
`archspec.spec` reads tokens through `KINDS`, `register_kind` adds a kind from
outside the package (as timm's `register_block`), `archspec.infer` and
`archspec.passes` walk the tree, and `archspec.compiler.layout` gives every node
its module name in torchvision's layout of the net's family.

Shapes are (C, H, W) for a map and (N,) for a vector, everywhere in the Python API;
the CLI prints them as HxWxC, as the papers' tables do.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

Dims = tuple[int, ...]  # (C, H, W) for a map, (N,) for a vector


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Src(Node):
    """Where a node came from: the table token (file, 1-based line and column)."""

    path: str | None = None
    line: int = Field(ge=1)
    col: int = Field(ge=1)
    text: str

    def __str__(self) -> str:
        return f"{self.path or '<spec>'}:{self.line}:{self.col}"


class ShapeError(ValueError):
    """Raised by `Layer.infer`; `archspec.infer` turns it into a `SpecError` at the layer's source."""

    def __init__(self, found: str, expected: str, hint: str | None = None) -> None:
        self.found, self.expected, self.hint = found, expected, hint
        super().__init__(f"found {found}; expected {expected}")


class Pattern(NamedTuple):
    """A Triton fusion pattern starting at a layer: the op, what the next layers must be, and a condition on
    the first layer. `tail`: the pattern ends a residual block's body, and the block's add and ReLU join the
    kernel. `archspec.compiler.fusion` tries a kind's patterns in order."""

    op: str
    follow: tuple[Callable[[Layer], bool], ...] = ()
    when: Callable[[Layer], bool] = lambda layer: True
    tail: bool = False


Out = tuple[Dims, int, int, int, int]  # out shape, params, MACs, receptive field, jump


def _map(layer: Layer, shape: Dims) -> Dims:
    if len(shape) != 3:
        raise ShapeError(f"{layer.written!r} on a flat vector of {shape[0]}", "a feature map (put FC layers last)")
    return shape


def _pool_side(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    """torch's pooling output size (ceil mode: a last window may start in the padding, never past it)."""
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    return out - 1 if ceil and (out - 1) * s >= n + p else out


class Layer(Node):
    """A layer kind. Subclasses set `kind` and override what differs from these defaults: a shape-keeping,
    parameter-free layer that is written as its `token` and compiles to no module."""

    src: Src | None = None
    token: ClassVar[str | None] = None  # the written word, a regex matched in full, case-insensitive
    syntax: ClassVar[str] = ""  # how the word is written, for error messages (e.g. conv<k>-<c>)
    example: ClassVar[str] = ""  # a written word, for did-you-mean hints
    on_maps: ClassVar[bool] = True  # may stand inside a residual block or a branch
    global_pool: ClassVar[bool] = False  # pools the whole map: the fully convolutional form leaves it out
    weight: ClassVar[bool] = False  # counts in depth; when hidden, implies a ReLU after it
    in_projection: ClassVar[bool] = False  # an implied projection shortcut repeats it after its 1x1 conv (bn)
    compiled: ClassVar[bool] = True  # False: no step in the compiled model (soft-max: the loss applies it)
    fusion: ClassVar[tuple[Pattern, ...]] = ()
    join_op: ClassVar[str | None] = None  # groups: the plan's torch step that joins the children's outputs
    tail_join: ClassVar[bool] = False  # groups: the first child's last kernel may do the join (a fused add)

    @classmethod
    def read(cls, m: re.Match, num: Callable[..., int]) -> Layer:
        """The node for a written token; `num(group, what, lo, hi)` reads and range-checks a number."""
        return cls()

    @property
    def label(self) -> str:
        """The layer as the paper would write it (implied layers get a lower-case name)."""
        return self.kind

    @property
    def resnet_label(self) -> str:
        """The layer as the ResNet paper's Table 1 writes it (`3×3, 64, stride 2`, `3×3 max pool, stride 2`,
        `1000-d fc`): what `archspec table` shows for a net with groups."""
        return self.label

    @property
    def written(self) -> str:
        return self.src.text if self.src else self.label

    def infer(self, shape: Dims, rf: int, jump: int) -> Out:
        return shape, 0, 0, rf, jump

    def scaled(self, scale: Callable[[int], int]) -> Layer:
        """The width override: `scale` maps a channel count to the scaled one."""
        return self

    def batch_normed(self) -> tuple[Layer, ...]:
        """The batch-norm override (`--bn`, `_bn`): what replaces this layer."""
        return (self,)

    def torch(self, shape: Dims, nn: Any) -> Any:
        """The torch module for this layer on an input of `shape`; `nn` is `torch.nn` (the compiler's
        LocalResponseNorm in place of torch's). None: no module."""
        return None

    def channels(self, c: int) -> int:
        """Channels out of this node on `c` channels in (no spatial size needed: what the parser knows)."""
        return c

    def reduction(self) -> int:
        """The factor this node divides a map's side by (its stride)."""
        return 1

    def implied(self, dropout: bool) -> tuple[Layer, ...]:
        """What the papers imply after this node where it is hidden (not the last weight layer): ReLU after a
        weight layer; `dropout`: the spec writes none, so the hidden FC layers imply it."""
        return (ReLU(src=self.src),) if self.weight else ()

    def before_batch_norm(self) -> Layer:
        """This node where a batch norm is written right after it (a conv drops its redundant bias)."""
        return self

    def repeated(self) -> Layer:
        """This node in the later blocks of a stage (`[ ... ] ×n`: the first as written, the others stride 1)."""
        return self

    def children(self) -> tuple[tuple[Layer, ...], ...]:
        """Nested layer sequences (groups only)."""
        return ()

    def depth(self) -> int:
        """Weight layers on the longest path through this node (the papers' "18-layer", "22 layers deep")."""
        return int(self.weight)

    def with_children(self, seqs: tuple[tuple[Layer, ...], ...]) -> Layer:
        return self

    def order(self) -> tuple[int, ...]:
        """Groups: the order the child sequences run in (the first last where its last kernel may join)."""
        n = len(self.children())
        return (*range(1, n), 0) if self.tail_join else tuple(range(n))

    def join(self, outs: list, torch: Any) -> Any:
        """Groups: the output, from the outputs of the child sequences, each run on the group's input; `torch`
        is handed in by the compiler. One sequence (a stage's blocks, run in order): its output."""
        return outs[0]


# ---------------------------------------------------------------- leaf kinds


def _stride_words(stride: int) -> str:
    return f", stride {stride}" if stride != 1 else ""


def _relu(layer: Layer | None) -> bool:
    return isinstance(layer, ReLU)


def _bn(layer: Layer | None) -> bool:
    return isinstance(layer, BatchNorm)


def _pool2(layer: Layer | None) -> bool:
    return isinstance(layer, MaxPool) and (layer.kernel, layer.stride, layer.padding, layer.ceil) == (2, 2, 0, False)


def _same_odd_conv(layer: Layer) -> bool:
    return layer.stride == 1 and layer.padding == -1 and layer.kernel % 2 == 1


def _any_conv(layer: Layer) -> bool:
    return layer.pad < layer.kernel  # the Triton conv takes any stride and padding below the kernel size


class Conv(Layer):
    """`conv<k>-<c>[/<stride>][p<pad>]`: k x k convolution, c output channels, zero padding ('same', k // 2,
    unless written), bias unless batch norm is written after it."""

    kind: Literal["conv"] = "conv"
    kernel: int = Field(ge=1, le=31)
    out_channels: int = Field(ge=1)
    stride: int = Field(default=1, ge=1)
    padding: int = Field(default=-1, ge=-1, description="-1 means 'same' (kernel // 2)")
    bias: bool = True

    token: ClassVar[str] = r"conv([0-9]+)-([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?"
    syntax: ClassVar[str] = "conv<k>-<c>[/<stride>][p<pad>]"
    example: ClassVar[str] = "conv3-64"
    weight: ClassVar[bool] = True
    fusion: ClassVar[tuple[Pattern, ...]] = (
        Pattern("conv_bias_relu_pool", (_relu, _pool2), _same_odd_conv),
        Pattern("conv_bn_add_relu", (_bn,), _any_conv, tail=True),  # batch norm folded in eval mode
        Pattern("conv_bn_relu", (_bn, _relu), _any_conv),
        Pattern("conv_bn", (_bn,), _any_conv),
        Pattern("conv_bias_relu", (_relu,), _any_conv),
        Pattern("conv_bias", (), _any_conv),
    )

    @model_validator(mode="after")
    def _odd_same(self) -> Conv:
        if self.padding == -1 and self.kernel % 2 == 0:
            raise ValueError(f"conv{self.kernel}-{self.out_channels}: 'same' padding needs an odd kernel")
        return self

    @classmethod
    def read(cls, m, num):
        k = num(1, "kernel size", 1, 31)
        c = num(2, "channel count", 1, 65536)
        stride = num(3, "stride", 1, 31) if m.group(3) else 1
        pad = num(4, "padding", 0, 31) if m.group(4) else -1
        if pad == -1 and k % 2 == 0:
            raise ShapeError(
                f"even kernel size {k} in {m.group(0)!r}",
                "an odd kernel size (1, 3, 5, ...) or written padding",
                "stride-1 'same' convolutions keep the map size only with odd kernels; pad an even one: conv4-64p1",
            )
        return cls(kernel=k, out_channels=c, stride=stride, padding=pad)

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding == -1 else self.padding

    @property
    def label(self) -> str:
        stride = f"/{self.stride}" if self.stride != 1 else ""
        pad = f"p{self.padding}" if self.padding != -1 else ""
        return f"conv{self.kernel}-{self.out_channels}{stride}{pad}"

    @property
    def resnet_label(self) -> str:
        return f"{self.kernel}×{self.kernel}, {self.out_channels}" + _stride_words(self.stride)

    def infer(self, shape, rf, jump):
        c, h, w = _map(self, shape)
        k, s, p = self.kernel, self.stride, self.pad
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self.label} on a {h}x{w} map", f"a map of at least {k - 2 * p}x{k - 2 * p}")
        weights = k * k * c * self.out_channels
        params = weights + (self.out_channels if self.bias else 0)
        return (self.out_channels, oh, ow), params, weights * oh * ow, rf + (k - 1) * jump, jump * s

    def scaled(self, scale):
        return self.model_copy(update={"out_channels": scale(self.out_channels)})

    def batch_normed(self):
        return (self, BatchNorm(src=self.src))

    def channels(self, c):
        return self.out_channels

    def reduction(self):
        return self.stride

    def before_batch_norm(self):
        return self.model_copy(update={"bias": False})  # a bias before batch norm is redundant

    def repeated(self):
        return self.model_copy(update={"stride": 1})

    def torch(self, shape, nn):
        return nn.Conv2d(shape[0], self.out_channels, self.kernel, self.stride, self.pad, bias=self.bias)


class BatchNorm(Layer):
    """`bn`: batch normalisation over channels (written in ResNet/GoogLeNet specs; `--bn` adds it after every
    conv, as torchvision's `vgg*_bn`)."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: float = Field(default=1e-5, gt=0)
    momentum: float = 0.1

    token: ClassVar[str] = r"bn|batchnorm"
    syntax: ClassVar[str] = "bn"
    example: ClassVar[str] = "bn"
    in_projection: ClassVar[bool] = True

    def infer(self, shape, rf, jump):
        return _map(self, shape), 2 * shape[0], 0, rf, jump

    def torch(self, shape, nn):
        return nn.BatchNorm2d(shape[0], eps=self.eps, momentum=self.momentum)


class ReLU(Layer):
    """Implied after every hidden weight layer (after its batch norm, if one is written)."""

    kind: Literal["relu"] = "relu"

    def torch(self, shape, nn):
        return nn.ReLU(inplace=True)


class _WindowPool(Layer):
    """What max and average pooling share: a k x k window, a stride (the window's, unless written), zero
    padding of at most half the window, torch's floor or ceil mode; written `<name><k>[/<s>][p<pad>][ceil]`."""

    kernel: int = Field(default=2, ge=1, le=31)
    stride: int = Field(default=2, ge=1, le=31)
    padding: int = Field(default=0, ge=0)
    ceil: bool = False

    @model_validator(mode="after")
    def _half_window(self) -> _WindowPool:
        if 2 * self.padding > self.kernel:
            raise ValueError(f"{self.label}: padding {self.padding} is more than half the window")
        return self

    @classmethod
    def read(cls, m, num):
        k = num(1, "pool window", 1, 31)
        s = num(2, "pool stride", 1, 31) if m.group(2) else k
        p = num(3, "pool padding", 0, k // 2) if m.group(3) else 0
        return cls(kernel=k, stride=s, padding=p, ceil=bool(m.group(4)))

    def reduction(self):
        return self.stride

    def window_label(self, name: str) -> str:
        pad = f"p{self.padding}" if self.padding else ""
        return f"{name}{self.kernel}/{self.stride}{pad}{'ceil' if self.ceil else ''}"

    def window_words(self, name: str) -> str:
        """`3×3 max pool, stride 2`, as the ResNet paper writes a pool."""
        return f"{self.kernel}×{self.kernel} {name}" + _stride_words(self.stride)

    def infer(self, shape, rf, jump):
        c, h, w = _map(self, shape)
        k, s, p = self.kernel, self.stride, self.padding
        if h + 2 * p < k or w + 2 * p < k:
            raise ShapeError(
                f"{self.label} on a {h}x{w} map, which would shrink it below 1x1",
                f"a map of at least {k}x{k} (remove a pool or use a larger input)",
            )
        out = (c, _pool_side(h, k, s, p, self.ceil), _pool_side(w, k, s, p, self.ceil))
        return out, 0, 0, rf + (k - 1) * jump, jump * s


class MaxPool(_WindowPool):
    """`maxpool`: the paper's 2x2 window, stride 2 (floor on odd sizes); `maxpool<k>[/<s>][p<pad>][ceil]`
    for other windows (stride defaults to the window), padding and torch's ceil mode."""

    kind: Literal["maxpool"] = "maxpool"

    token: ClassVar[str] = r"maxpool(?:([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?(ceil)?)?"
    syntax: ClassVar[str] = "maxpool[<k>/<s>]"
    example: ClassVar[str] = "maxpool"

    @classmethod
    def read(cls, m, num):
        return cls() if m.group(1) is None else super().read(m, num)

    @property
    def label(self) -> str:
        paper = (self.kernel, self.stride, self.padding, self.ceil) == (2, 2, 0, False)
        return "maxpool" if paper else self.window_label("maxpool")

    @property
    def resnet_label(self) -> str:
        return self.window_words("max pool")

    def torch(self, shape, nn):
        return nn.MaxPool2d(self.kernel, self.stride, self.padding, ceil_mode=self.ceil)


class WindowAvgPool(_WindowPool):
    """`avgpool<k>[/<s>][p<pad>][ceil]`: k x k average pooling (stride defaults to the window; padding counts
    as zeros, as torch's default), e.g. GoogLeNet's auxiliary heads (avgpool5/3) or DenseNet's transitions."""

    kind: Literal["avgpool_window"] = "avgpool_window"

    token: ClassVar[str] = r"avgpool([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?(ceil)?"
    syntax: ClassVar[str] = "avgpool<k>[/<s>]"
    example: ClassVar[str] = "avgpool5/3"

    @property
    def label(self) -> str:
        return self.window_label("avgpool")

    @property
    def resnet_label(self) -> str:
        return self.window_words("average pool")

    def torch(self, shape, nn):
        return nn.AvgPool2d(self.kernel, self.stride, self.padding, ceil_mode=self.ceil)


class GlobalAvgPool(Layer):
    """`avgpool`: average over the whole map, to 1x1 (ResNet, GoogLeNet)."""

    kind: Literal["avgpool_global"] = "avgpool_global"

    token: ClassVar[str] = r"avgpool"
    syntax: ClassVar[str] = "avgpool"
    example: ClassVar[str] = "avgpool"
    global_pool: ClassVar[bool] = True

    @property
    def label(self) -> str:
        return "avgpool"

    @property
    def resnet_label(self) -> str:
        return "average pool"

    def infer(self, shape, rf, jump):
        c, h, w = _map(self, shape)
        return (c, 1, 1), 0, 0, rf + (max(h, w) - 1) * jump, jump

    def torch(self, shape, nn):
        return nn.AdaptiveAvgPool2d((1, 1))


class LRN(Layer):
    """Cross-channel local response normalisation, Krizhevsky et al. 2012.

    `alpha_convention="sum"` is AlexNet's formula,
    b = a / (k + alpha * sum_{window} a^2) ** beta, with no division by `size`;
    PyTorch's `LocalResponseNorm` divides by `size` ("mean"), so a compiler must
    pass `alpha * size` to it for the "sum" convention.
    """

    kind: Literal["lrn"] = "lrn"
    size: int = Field(default=5, ge=1)
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    alpha_convention: Literal["sum", "mean"] = "sum"

    token: ClassVar[str] = r"lrn"
    syntax: ClassVar[str] = "LRN"
    example: ClassVar[str] = "LRN"
    fusion: ClassVar[tuple[Pattern, ...]] = (Pattern("lrn"),)

    @property
    def label(self) -> str:
        return "LRN"

    @property
    def torch_alpha(self) -> float:
        """The `alpha` to give `torch.nn.LocalResponseNorm` (which divides by size)."""
        return self.alpha * self.size if self.alpha_convention == "sum" else self.alpha

    def infer(self, shape, rf, jump):
        return _map(self, shape), 0, 0, rf, jump

    def torch(self, shape, nn):
        return nn.LocalResponseNorm(self.size, self.torch_alpha, self.beta, self.k)


class FC(Layer):
    """`FC-<n>`: fully connected layer with n outputs and bias; on a map it flattens C*H*W."""

    kind: Literal["fc"] = "fc"
    out_features: int = Field(ge=1)

    token: ClassVar[str] = r"fc-([0-9]+)"
    syntax: ClassVar[str] = "FC-<n>"
    example: ClassVar[str] = "FC-4096"
    on_maps: ClassVar[bool] = False
    weight: ClassVar[bool] = True
    fusion: ClassVar[tuple[Pattern, ...]] = (Pattern("linear_bias_relu", (_relu,)), Pattern("linear_bias"))

    @classmethod
    def read(cls, m, num):
        return cls(out_features=num(1, "FC width", 1, 1_000_000))

    @property
    def label(self) -> str:
        return f"FC-{self.out_features}"

    @property
    def resnet_label(self) -> str:
        return f"{self.out_features}-d fc"

    def infer(self, shape, rf, jump):
        n_in = 1
        for d in shape:
            n_in *= d
        span = max(shape[1], shape[2]) if len(shape) == 3 else 1  # the larger side of the map
        out = (self.out_features,)
        return out, n_in * self.out_features + self.out_features, n_in * self.out_features, rf + (span - 1) * jump, jump

    def scaled(self, scale):
        return self.model_copy(update={"out_features": scale(self.out_features)})

    def implied(self, dropout):
        return super().implied(dropout) + ((Dropout(p=0.5, src=self.src),) if dropout else ())

    def torch(self, shape, nn):
        n_in = 1
        for d in shape:
            n_in *= d
        return nn.Linear(n_in, self.out_features)


class Dropout(Layer):
    """Implied after the hidden FC layers; `dropout[<p>]` (e.g. `dropout0.2`) writes it where a net has it,
    and then none is implied."""

    kind: Literal["dropout"] = "dropout"
    p: float = Field(default=0.5, ge=0.0, lt=1.0)

    token: ClassVar[str] = r"dropout(0?\.[0-9]+)?"
    syntax: ClassVar[str] = "dropout"
    example: ClassVar[str] = "dropout"
    on_maps: ClassVar[bool] = False

    @classmethod
    def read(cls, m, num):
        return cls(p=float(m.group(1))) if m.group(1) else cls()

    @property
    def resnet_label(self) -> str:
        return f"dropout {self.p:g}"

    def torch(self, shape, nn):
        return nn.Dropout(self.p)


class Softmax(Layer):
    """`soft-max`: the output posterior; compiled modules return logits (the loss applies it)."""

    kind: Literal["softmax"] = "softmax"

    token: ClassVar[str] = r"soft-?max"
    syntax: ClassVar[str] = "soft-max"
    example: ClassVar[str] = "soft-max"
    on_maps: ClassVar[bool] = False
    compiled: ClassVar[bool] = False

    @property
    def label(self) -> str:
        return "soft-max"

    @property
    def resnet_label(self) -> str:
        return "softmax"


# ---------------------------------------------------------------- groups


def infer_seq(layers: tuple[Layer, ...], shape: Dims, rf: int, jump: int, emit) -> tuple[Dims, int, int]:
    """Shapes through a sequence; `emit(layer, in_shape, out)` records each node (children before groups). A
    `ShapeError` leaves with `.layer`, the innermost node that raised it."""
    for layer in layers:
        try:
            out = layer.infer_group(shape, rf, jump, emit) if layer.children() else layer.infer(shape, rf, jump)
        except ShapeError as e:
            e.layer = getattr(e, "layer", None) or layer
            raise
        if layer.kind not in BUILT_IN:
            _check_out(layer, out)
        emit(layer, shape, out)
        shape, rf, jump = out[0], out[3], out[4]
    return shape, rf, jump


class KindError(ValueError):
    """A registered kind broke its contract (what `infer` returns); `archspec.infer` names the node and kind."""


def _check_out(layer: Layer, out: Any) -> None:
    """What a registered kind's `infer` returned: (out shape, params, MACs, receptive field, jump), with a shape
    of positive sizes, counts >= 0 and rf, jump >= 1. The built-in kinds are held to it by their tests."""

    def whole(v: Any, least: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= least

    shape_ok = isinstance(out, tuple) and len(out) == 5 and isinstance(out[0], tuple) and len(out[0]) in (1, 3)
    if not (shape_ok and all(whole(d, 1) for d in out[0]) and all(map(whole, out[1:], (0, 0, 1, 1)))):
        found = f"{len(out)} values {out!r}" if isinstance(out, tuple) else repr(out)
        error = KindError(
            f"kind {layer.kind!r} ({type(layer).__name__}.infer) returned {found[:120]}; expected (out shape, "
            "params, MACs, receptive field, jump): a tuple of positive sizes, two counts >= 0 and two ints >= 1"
        )
        error.layer = layer
        raise error


def dims_text(shape: Dims) -> str:
    """(C, H, W) -> `HxWxC`, as the papers' tables (and the CLI) write a map; (N,) -> `N`."""
    return "x".join(map(str, shape[1:] + shape[:1])) if len(shape) == 3 else str(shape[0])


class Residual(Layer):
    """One residual block: `body(x) + shortcut(x)`, then ReLU. An empty shortcut is the identity."""

    kind: Literal["residual"] = "residual"
    body: tuple[AnyLayer, ...] = Field(min_length=1)
    shortcut: tuple[AnyLayer, ...] = ()

    join_op: ClassVar[str] = "add_relu"
    tail_join: ClassVar[bool] = True  # the shortcut first: the body's last kernel may add it (conv_bn_add_relu)

    @property
    def label(self) -> str:
        return "add, relu" if not self.shortcut else "add (projection), relu"

    def children(self):
        return (self.body, self.shortcut)

    def depth(self):
        return max(depth(self.body), depth(self.shortcut))

    def with_children(self, seqs):
        return self.model_copy(update={"body": seqs[0], "shortcut": seqs[1]})

    def channels(self, c):
        return channels(self.body, c)

    def join(self, outs, torch):
        return torch.relu(outs[0] + outs[1])  # body + shortcut (the identity: the input), then ReLU

    def infer_group(self, shape, rf, jump, emit) -> Out:
        _map(self, shape)
        out, rf_b, jump_b = infer_seq(self.body, shape, rf, jump, emit)
        short, _, _ = infer_seq(self.shortcut, shape, rf, jump, emit)
        if out != short:
            what = "the projection" if self.shortcut else "the identity shortcut"
            fix = "a projection with the body's channels and stride" if self.shortcut else "a projection shortcut"
            raise ShapeError(
                f"a residual add of the body's {dims_text(out)} and {what}'s {dims_text(short)}",
                f"equal shapes (write {fix}: [... + conv1-<c>/<stride> bn])",
            )
        return out, 0, 0, rf_b, jump_b


class Stage(Layer):
    """`[ ... ] ×n`: n residual blocks; the first as written, the others stride 1 with identity shortcuts
    (torchvision's `layer1` ... `layer4`)."""

    kind: Literal["stage"] = "stage"
    blocks: tuple[Residual, ...] = Field(min_length=1)

    @property
    def label(self) -> str:
        return f"[...] ×{len(self.blocks)}"

    def children(self):
        return (self.blocks,)

    def depth(self):
        return depth(self.blocks)

    def with_children(self, seqs):
        return self.model_copy(update={"blocks": seqs[0]})

    def channels(self, c):
        return channels(self.blocks, c)

    def infer_group(self, shape, rf, jump, emit) -> Out:
        out, rf, jump = infer_seq(self.blocks, shape, rf, jump, emit)
        return out, 0, 0, rf, jump


class Concat(Layer):
    """`{ a | b | ... }`: parallel branches on the same input, joined by channel concatenation (Inception)."""

    kind: Literal["concat"] = "concat"
    branches: tuple[tuple[AnyLayer, ...], ...] = Field(min_length=1)

    join_op: ClassVar[str] = "concat"

    @property
    def label(self) -> str:
        return f"concat of {len(self.branches)}"

    def children(self):
        return self.branches

    def depth(self):
        return max(depth(branch) for branch in self.branches)

    def with_children(self, seqs):
        return self.model_copy(update={"branches": seqs})

    def channels(self, c):
        return sum(channels(branch, c) for branch in self.branches)

    def join(self, outs, torch):
        return torch.cat(outs, 1)  # (N, sum of C, H, W)

    def infer_group(self, shape, rf, jump, emit) -> Out:
        _map(self, shape)
        outs = [infer_seq(b, shape, rf, jump, emit) for b in self.branches]
        first = outs[0][0]
        for j, (out, _, _) in enumerate(outs[1:], 2):
            if len(out) != 3 or out[1:] != first[1:]:
                raise ShapeError(
                    f"branch {j}'s {dims_text(out)} beside branch 1's {dims_text(first)}",
                    "every branch to keep the same map size (pad its convs and pools)",
                )
        rf_max = max(o[1] for o in outs)
        return (sum(o[0][0] for o in outs), *first[1:]), 0, 0, rf_max, max(o[2] for o in outs)


KINDS: tuple[type[Layer], ...] = (
    *(Conv, BatchNorm, ReLU, MaxPool, WindowAvgPool, GlobalAvgPool, LRN, FC, Dropout, Softmax),
    *(Residual, Stage, Concat),  # groups
)
AnyLayer = Annotated[Union[KINDS], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple)
for _kind in KINDS:
    _kind.model_rebuild()  # the groups hold AnyLayer
BUILT_IN = frozenset(k.model_fields["kind"].default for k in KINDS)


def channels(layers: tuple[Layer, ...], c: int) -> int:
    """Channels out of a sequence that takes `c` channels."""
    for layer in layers:
        c = layer.channels(c)
    return c


def depth(layers: tuple[Layer, ...]) -> int:
    return sum(layer.depth() for layer in layers)


def walk(layers: tuple[Layer, ...]) -> Iterator[Layer]:
    """Every node, children before their group (the order `archspec.infer` reports them in)."""
    for layer in layers:
        for seq in layer.children():
            yield from walk(seq)
        yield layer


Numbered = list[tuple[Layer, int, list]]  # (node, walk index, its numbered children sequences)


def numbered(layers: tuple[Layer, ...], counter: Iterator[int] | None = None) -> Numbered:
    """The tree with each node's `walk` index (children before their group): what compiled modules and the
    fusion plan name nodes by."""
    counter = counter if counter is not None else itertools.count()
    out = []
    for layer in layers:
        subs = [numbered(seq, counter) for seq in layer.children()]
        out.append((layer, next(counter), subs))
    return out


def map_layers(layers: tuple[Layer, ...], fn: Callable[[Layer], tuple[Layer, ...]]) -> tuple[Layer, ...]:
    """Rebuild a tree: `fn` maps each leaf to the nodes that replace it; groups are rebuilt around the result."""
    out: list[Layer] = []
    for layer in layers:
        if layer.children():
            out.append(layer.with_children(tuple(map_layers(seq, fn) for seq in layer.children())))
        else:
            out.extend(fn(layer))
    return tuple(out)


# ---------------------------------------------------------------- the network


class Shape(Node):
    """The input image: channels x height x width."""

    channels: int = Field(ge=1, le=64)
    height: int = Field(ge=1, le=16384)
    width: int = Field(ge=1, le=16384)

    def __str__(self) -> str:
        return f"{self.height}x{self.width}x{self.channels}"


RENAMED_KINDS = {"avgpool": "avgpool_global"}  # old kind -> its name now


def _rename_kinds(node: Any) -> Any:
    if isinstance(node, dict):
        kind = node.get("kind")
        node = {k: _rename_kinds(v) for k, v in node.items()}
        if kind in RENAMED_KINDS:
            node["kind"] = RENAMED_KINDS[kind]
        return node
    if isinstance(node, list | tuple):
        return [_rename_kinds(x) for x in node]
    return node


class Network(Node):
    """A whole network: name, input shape and the explicit layer tree."""

    name: str
    input: Shape
    layers: tuple[AnyLayer, ...]
    source: str | None = Field(default=None, description="the spec file it was read from")

    @model_validator(mode="before")
    @classmethod
    def _renamed_kinds(cls, data: Any) -> Any:
        """Networks saved before a kind was renamed (run.json of older runs) load under the new name."""
        return _rename_kinds(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _one_family(self) -> Network:
        """torchvision's layouts: stages of residual blocks (ResNet) or concatenations (Inception) at the top
        level, not both, and no group inside a block or a branch."""
        kinds = {layer.kind for layer in self.layers if layer.children()}
        if "residual" in kinds or {"stage", "concat"} <= kinds:
            raise ValueError("expected residual blocks inside stages, and stages or concatenations, not both")
        for layer in self.layers:
            seqs = [s for b in layer.blocks for s in b.children()] if isinstance(layer, Stage) else layer.children()
            if any(x.children() for seq in seqs for x in seq):
                raise ValueError(f"{layer.label}: a group inside a group; expected groups at the top level only")
        return self

    @property
    def weight_layers(self) -> int:
        """Depth in weight layers, as the papers count it: the longest path (a projection shortcut or a
        parallel branch adds none)."""
        return depth(self.layers)

    @property
    def flat(self) -> bool:
        """No groups: the VGG family (torchvision's features / avgpool / classifier layout)."""
        return not any(layer.children() for layer in self.layers)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def structure_hash(self) -> str:
        """What the network computes, without where it was written: the same for a spec whose comments or
        layout changed, different for any change of a layer, a size or the input."""
        import hashlib
        import json

        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "src"}
            return [strip(v) for v in value] if isinstance(value, list) else value

        layers = [strip(layer.model_dump()) for layer in self.layers]
        text = json.dumps({"input": self.input.model_dump(), "layers": layers}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str) -> Network:
        return cls.model_validate_json(text)


def where(layer: Layer) -> str:
    """A node as the tables and plans name it: its label and source position (`conv3-64 @3:1`)."""
    return f"{layer.label} @{layer.src.line}:{layer.src.col}" if layer.src else layer.label


def _swap(annotation: Any, old: Any, new: Any) -> Any:
    """`annotation` with the union `old` replaced by `new`, inside tuple[...] as the kinds write it."""
    if annotation == old:
        return new
    if get_origin(annotation) is tuple:
        return tuple[tuple(_swap(a, old, new) for a in get_args(annotation))]
    return annotation


def register_kind(kind: type[Layer]) -> type[Layer]:
    """Add a layer kind from outside archspec, as timm's `register_block` adds a block: a `Layer` subclass with
    a `kind: Literal["name"]` field and, to be written in specs, a `token`. It then parses, counts, compiles
    and fuses as the built-in kinds do, in Python and, loaded as a plugin (`archspec.plugins`), in every command.
    A kind is a leaf: its `torch` may build a whole block (a squeeze-excite unit, a depthwise-separable conv),
    but a group kind (one with `children`) is refused, since the compiler names modules by the built-in families'
    layouts only. Returns the class, so it also serves as a decorator; `unregister_kind` undoes it."""
    field = kind.model_fields.get("kind") if isinstance(kind, type) and issubclass(kind, Layer) else None
    if field is None or get_origin(field.annotation) is not Literal:
        raise TypeError(f"register_kind({kind!r}): expected a Layer subclass with a kind: Literal['name'] field")
    name = field.default
    if name in {k.model_fields["kind"].default for k in KINDS}:
        raise ValueError(f"register_kind({kind.__name__}): kind {name!r} is registered already")
    if kind.children is not Layer.children:
        raise TypeError(
            f"register_kind({kind.__name__}): kind {name!r} is a group (it has children); only leaf kinds can be "
            "registered: build the whole block in its `torch` method instead"
        )
    _use_kinds((*KINDS, kind))
    return kind


def unregister_kind(kind: type[Layer] | str) -> None:
    """Undo `register_kind` (a class or its kind name); archspec's own kinds cannot be removed."""
    name = kind if isinstance(kind, str) else kind.model_fields["kind"].default
    if name in BUILT_IN:
        raise ValueError(f"unregister_kind: {name!r} is one of archspec's own kinds")
    kept = tuple(k for k in KINDS if k.model_fields["kind"].default != name)
    if kept == KINDS:
        raise ValueError(f"unregister_kind: no registered kind {name!r}")
    _use_kinds(kept)


def _use_kinds(kinds: tuple[type[Layer], ...]) -> None:
    """Make `kinds` the kind table: the union of layers, and every model holding layers rebuilt around it."""
    global KINDS, AnyLayer
    old, KINDS = AnyLayer, kinds
    AnyLayer = Annotated[Union[KINDS], Field(discriminator="kind")]  # noqa: UP007
    for model in (*KINDS, Network):  # groups before the network that holds them
        for f in model.model_fields.values():
            f.annotation = _swap(f.annotation, old, AnyLayer)
        model.model_rebuild(force=True)
