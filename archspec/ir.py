"""The typed intermediate representation of a network: the kind table, `Network`, and every IR name in one place.

A `Network` is an immutable pydantic model: an input shape and a tuple of layer
nodes, one discriminated union keyed by `kind`. Groups nest: a `Stage` holds
residual blocks (`Residual`: a body and a shortcut, added, then ReLU), and a
`Concat` holds parallel branches joined along channels (an Inception module).
Every node implied by a paper but not written in its table (ReLU after each hidden
weight layer, dropout after the hidden FC layers, the projection shortcut of a block
that changes shape) is an explicit node here, carrying the source position of the
token that implied it.

The IR is four modules, and this one re-exports the names of the others, so `from archspec.ir import X` is the
one way in: `archspec.node` (the `Layer` contract and its defaults, `Src`, `ShapeError`), `archspec.kinds` (the
leaf kinds), `archspec.groups` (the group kinds and the walks over a tree) and this module (the kind table, the
network, `register_kind`).

Each layer kind is one class, and the class is the whole definition of the
kind: its written token (`token`, `read`), its shape / parameter / MAC inference
(`infer`), how the width and batch-norm overrides act on it (`scaled`,
`batch_normed`), the torch module it compiles to (`torch`, handed `torch.nn` by the
compiler, with the compiler's faster LocalResponseNorm in place of torch's, so the IR never imports
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

from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import Field, model_validator

from .groups import (
    BUILT_IN,
    GROUPS,
    Concat,
    KindError,
    Numbered,
    Residual,
    Stage,
    channels,
    depth,
    infer_seq,
    map_layers,
    numbered,
    walk,
)
from .kinds import FC, LEAVES, LRN, BatchNorm, Conv, Dropout, GlobalAvgPool, MaxPool, Softmax, WindowAvgPool, ZeroPad
from .node import Dims, Layer, Node, Out, Pattern, ReLU, ShapeError, Src, dims_text, where

__all__ = [  # the IR's names, from its four modules
    "BUILT_IN",
    "KINDS",
    "AnyLayer",
    "Network",
    "Shape",
    "register_kind",
    "unregister_kind",
    "Dims",
    "Layer",
    "Node",
    "Out",
    "Pattern",
    "ShapeError",
    "Src",
    "dims_text",
    "where",
    "FC",
    "LRN",
    "BatchNorm",
    "Conv",
    "Dropout",
    "GlobalAvgPool",
    "MaxPool",
    "ReLU",
    "Softmax",
    "WindowAvgPool",
    "ZeroPad",
    "Concat",
    "KindError",
    "Numbered",
    "Residual",
    "Stage",
    "channels",
    "depth",
    "infer_seq",
    "map_layers",
    "numbered",
    "walk",
]

KINDS: tuple[type[Layer], ...] = (*LEAVES, *GROUPS)  # in the order the parser tries their tokens
AnyLayer = Annotated[Union[KINDS], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple)
for _kind in GROUPS:
    _kind.model_rebuild(_types_namespace={"AnyLayer": AnyLayer})  # the groups hold AnyLayer


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

    @model_validator(mode="after")
    def _shortcuts_alone(self) -> Network:
        """A shortcut-only kind (zeropad) stands alone as a residual block's shortcut and nowhere else."""
        alone = [b.shortcut[0] for b in walk(self.layers) if isinstance(b, Residual) and len(b.shortcut) == 1]
        for node in walk(self.layers):
            if node.shortcut_only and not any(node is a for a in alone):
                raise ValueError(
                    f"{where(node)}: {node.label} outside a shortcut of its own; expected it alone after a block's '+'"
                )
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
