"""Compilers from the archspec IR to PyTorch modules.

`build(net, backend)` is the one entry point; backends: `torch` (standard torch
layers, `eager.py`). `dense.to_dense` gives the fully convolutional form and
`export.export` a `.pt2` file loadable without archspec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from archspec import network
from archspec.errors import ArchspecError
from archspec.ir import Network

from . import eager
from .summary import module_rows

BACKENDS = ("torch",)


def build(net: Network, backend: str = "torch") -> nn.Module:
    if backend not in BACKENDS:
        raise ArchspecError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    return eager.build(net)


@dataclass
class Compiled:
    model: nn.Module
    rows: list[dict]
    output: Path | None = None

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def compile_spec(source, *, backend: str = "torch", output: str | Path | None = None, **overrides) -> Compiled:
    """What `archspec compile` does: build the module, summarise it, optionally export it."""
    model = build(network(source, **overrides), backend)
    if output is not None:
        from .export import export

        output = export(model, output)
    return Compiled(model, module_rows(model), output)
