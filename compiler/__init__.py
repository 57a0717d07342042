"""Compilers from the archspec IR to PyTorch modules.

`build(net, backend)` is the one entry point; backends: `torch` (standard torch
layers, `eager.py`), `triton` (fused Triton kernels, `triton_backend.py`, planned
by `fusion.py`) and `auto` (triton on CUDA, torch elsewhere). `dense.to_dense` gives the fully convolutional form and
`export.export` a `.pt2` or `.onnx` file that runs without archspec. The compiler takes a
`Network`; `compile` and `compile_spec` first resolve a spec file, name or text with its overrides
(`archspec.source.network`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from archspec.choices import Backend
from archspec.errors import ArchspecError
from archspec.infer import infer
from archspec.ir import Network
from archspec.memory import check as check_memory
from archspec.source import network, spec_file

from . import eager
from .fusion import launch_rows
from .kernels import interpreted
from .summary import module_rows


def backend_reason(backend: Backend | str) -> str:
    """Why `auto` chose what it chose, in a few words (what `compile` prints)."""
    if backend != Backend.auto:
        return "asked for"
    return "auto: CUDA is available" if torch.cuda.is_available() else "auto: no CUDA"


def resolve_backend(backend: Backend | str) -> Backend:
    """`auto` -> `triton` on CUDA, else `torch`; `triton` without CUDA needs the interpreter."""
    try:
        backend = Backend(backend)
    except ValueError:
        raise ArchspecError(f"backend {backend!r}: expected one of {', '.join(b.value for b in Backend)}") from None
    if backend is Backend.auto:
        return Backend.triton if torch.cuda.is_available() else Backend.torch
    if backend is Backend.triton and not torch.cuda.is_available() and not interpreted():
        raise ArchspecError(
            "backend 'triton' needs a CUDA GPU; on a CPU set TRITON_INTERPRET=1 before starting "
            "(slow, for testing), or use --backend torch"
        )
    return backend


def build(net: Network, backend: Backend | str = Backend.torch) -> nn.Module:
    if resolve_backend(backend) is Backend.triton:
        from .triton_backend import TritonNet

        return TritonNet(net)
    return eager.build(net)


@dataclass
class Compiled:
    model: nn.Module
    rows: list[dict]
    output: Path | None = None
    launches: list[dict] | None = None  # the Triton backend's kernel launches
    backend: Backend = Backend.torch  # what was built
    reason: str = "asked for"  # why: "auto: no CUDA", ...

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def compile_network(
    net: Network,
    *,
    backend: Backend | str = Backend.torch,
    output: str | Path | None = None,
    opset: int | None = None,
) -> Compiled:
    """What `archspec compile` does with a network: build the module, summarise it, optionally export it
    (`.onnx` at `opset`, else `.pt2`)."""
    from .export import check_export, export

    if output is not None:
        check_export(output, opset=opset)
    check_memory(infer(net), what=net.name)  # before a byte of weights is allocated
    model = build(net, backend)
    if output is not None:
        output = export(model, output, opset=opset)
    triton = getattr(model, "launches", None) is not None
    return Compiled(
        model,
        module_rows(model),
        output,
        launch_rows(net) if triton else None,
        resolve_backend(backend),
        backend_reason(backend),
    )


def compile(source: str | Path | Network, *, backend: Backend | str = Backend.torch, **overrides) -> nn.Module:
    """Build the PyTorch module for a spec; `overrides` as for `archspec.source.network()`."""
    return build(network(source, **overrides), backend=backend)


def compile_spec(
    source: str | Path | Network,
    *,
    backend: Backend | str = Backend.torch,
    output: str | Path | None = None,
    opset: int | None = None,
    **overrides,
) -> Compiled:
    """What `archspec compile` does: resolve the spec, build the module, summarise it, optionally export it
    (an output that is the input spec, a folder or a device is refused before any work, and so is `.onnx`
    without its packages)."""
    from .export import check_export

    if output is not None:
        check_export(output, (spec_file(source),), opset=opset)
    return compile_network(network(source, **overrides), backend=backend, output=output, opset=opset)
