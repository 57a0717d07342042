"""Compilers from the archspec IR to PyTorch modules.

`build(net, backend)` is the one entry point; backends: `torch` (standard torch
layers, `eager.py`), `triton` (fused Triton kernels, `triton_backend.py`, planned
by `fusion.py`) and `auto` (triton on CUDA, torch elsewhere). `dense.to_dense` gives the fully convolutional form and
`export.export` a `.pt2` file loadable without archspec. The compiler takes a
`Network`; resolving spec files, names and overrides is the facade's
(`archspec.compile`, `archspec.compile_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from archspec.errors import ArchspecError
from archspec.infer import infer
from archspec.ir import Network
from archspec.memory import check as check_memory

from . import eager
from .fusion import plan_rows
from .kernels import interpreted
from .summary import module_rows

BACKENDS = ("torch", "triton", "auto")


def backend_reason(backend: str) -> str:
    """Why `auto` chose what it chose, in a few words (what `compile` prints)."""
    if backend != "auto":
        return "asked for"
    return "auto: CUDA is available" if torch.cuda.is_available() else "auto: no CUDA"


def resolve_backend(backend: str) -> str:
    """`auto` -> `triton` on CUDA, else `torch`; `triton` without CUDA needs the interpreter."""
    if backend not in BACKENDS:
        raise ArchspecError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "triton" if torch.cuda.is_available() else "torch"
    if backend == "triton" and not torch.cuda.is_available() and not interpreted():
        raise ArchspecError(
            "backend 'triton' needs a CUDA GPU; on a CPU set TRITON_INTERPRET=1 before starting "
            "(slow, for testing), or use --backend torch"
        )
    return backend


def build(net: Network, backend: str = "torch") -> nn.Module:
    if resolve_backend(backend) == "triton":
        from .triton_backend import TritonGraph, TritonVGG

        return TritonVGG(net) if net.flat else TritonGraph(net)
    return eager.build(net)


@dataclass
class Compiled:
    model: nn.Module
    rows: list[dict]
    output: Path | None = None
    plan: list[dict] | None = None  # the Triton backend's kernel launches
    backend: str = "torch"  # what was built
    reason: str = "asked for"  # why: "auto: no CUDA", ...

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def compile_network(net: Network, *, backend: str = "torch", output: str | Path | None = None) -> Compiled:
    """What `archspec compile` does with a network: build the module, summarise it, optionally export it."""
    from .export import check_output, export

    if output is not None:
        check_output(output)
    check_memory(infer(net), what=net.name)  # before a byte of weights is allocated
    model = build(net, backend)
    if output is not None:
        output = export(model, output)
    triton = getattr(model, "plan", None) is not None
    return Compiled(
        model,
        module_rows(model),
        output,
        plan_rows(net) if triton else None,
        resolve_backend(backend),
        backend_reason(backend),
    )
