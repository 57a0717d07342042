"""The group kinds (residual blocks, stages, concatenations) and the walks over a layer tree."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from .kinds import LEAVES
from .node import Dims, Layer, Out, ShapeError, dims_text, map_shape


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


class Residual(Layer):
    """One residual block: `body(x) + shortcut(x)`, then ReLU. An empty shortcut is the identity."""

    kind: Literal["residual"] = "residual"
    body: tuple[AnyLayer, ...] = Field(min_length=1)  # noqa: F821 (the union of kinds, made by archspec.ir)
    shortcut: tuple[AnyLayer, ...] = ()  # noqa: F821

    join_op: ClassVar[str] = "add_relu"
    tail_join: ClassVar[bool] = True  # the shortcut first: the body's last kernel may add it (conv_bn_add_relu)

    @property
    def label(self) -> str:
        if self.shortcut and self.shortcut[0].shortcut_only:
            return f"add ({self.shortcut[0].label}), relu"
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
        map_shape(self, shape)
        out, rf_b, jump_b = infer_seq(self.body, shape, rf, jump, emit)
        short, _, _ = infer_seq(self.shortcut, shape, rf, jump, emit)
        if out != short and self.shortcut and self.shortcut[0].shortcut_only:
            stride = math.prod(n.reduction() for n in self.body)
            error = ShapeError(
                f"a residual add of the body's {dims_text(out)} and {self.shortcut[0].label}'s {dims_text(short)}",
                f"equal shapes (the body's {out[0]} channels and stride {stride} on {type(self.shortcut[0]).syntax})",
            )
            error.layer = self.shortcut[0]  # the written shortcut, where the fix goes
            raise error
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
    branches: tuple[tuple[AnyLayer, ...], ...] = Field(min_length=1)  # noqa: F821

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
        map_shape(self, shape)
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


GROUPS: tuple[type[Layer], ...] = (Residual, Stage, Concat)
BUILT_IN = frozenset(k.model_fields["kind"].default for k in (*LEAVES, *GROUPS))  # archspec's own kinds


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
    fusion schedule name nodes by."""
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
