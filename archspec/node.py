"""The IR's base: `Node`, source positions, the `Layer` contract every kind fills in, and the ReLU it implies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

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


def map_shape(layer: Layer, shape: Dims) -> Dims:
    """`shape`, which must be a feature map's (C, H, W): a map layer's check on its input."""
    if len(shape) != 3:
        raise ShapeError(f"{layer.written!r} on a flat vector of {shape[0]}", "a feature map (put FC layers last)")
    return shape


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
    shortcut_only: ClassVar[bool] = False  # written only as a residual block's whole shortcut, after its '+'
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


class ReLU(Layer):
    """Implied after every hidden weight layer (after its batch norm, if one is written)."""

    kind: Literal["relu"] = "relu"

    def torch(self, shape, nn):
        return nn.ReLU(inplace=True)


def dims_text(shape: Dims) -> str:
    """(C, H, W) -> `HxWxC`, as the papers' tables (and the CLI) write a map; (N,) -> `N`."""
    return "x".join(map(str, shape[1:] + shape[:1])) if len(shape) == 3 else str(shape[0])


def where(layer: Layer) -> str:
    """A node as the tables and plans name it: its label and source position (`conv3-64 @3:1`)."""
    return f"{layer.label} @{layer.src.line}:{layer.src.col}" if layer.src else layer.label
