"""`-o FILE`: a compiled or trained net as one file that runs without archspec; the file's extension picks the
format, here and nowhere else.

`.onnx` writes ONNX (`export_onnx`: run by onnxruntime and compared with torch before it is written; needs the
`onnx` extra), any other name a torch.export program (`export_pt2`, the `.pt2` file). Both take images
(N, C, H, W) with a dynamic batch dimension, export a Triton-backend model as its eager equivalent (same weights,
same outputs), carry `metadata` (a trained run's classes, mean, crop, ...) and are written atomically under the
same no-clobber rules (`archspec.files.check_output`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from archspec.errors import ArchspecError
from archspec.files import check_output

from .eager import Net, build


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def check_export(path: str | Path, inputs=(), role: str = "the input spec", opset: int | None = None) -> Path:
    """Before any work: `check_output`'s rules for the format's output, and for ONNX its optional packages."""
    onnx = is_onnx(path)
    path = check_output(path, inputs, role, what="the .onnx output" if onnx else "the .pt2 output")
    if onnx:
        from .export_onnx import packages

        packages(path)
    elif opset is not None:
        raise ArchspecError(
            f"--opset {opset}: {path} is written as a .pt2 program, which has none; expected a .onnx output"
        )
    return path


def export(
    model: Net,
    path: str | Path,
    wrap=None,
    metadata: dict | None = None,
    opset: int | None = None,
    dynamic_size: bool = False,
) -> Path:
    """Write `model` to `path` in the format its extension names. `wrap(model)` builds what is exported around
    the eager model (preprocessing, the dense form); `dynamic_size` (ONNX only) leaves the image's height and
    width dynamic too, for the dense form's score maps of any image size."""
    path = check_export(path, opset=opset)
    eager = _eager(model)
    program = (wrap(eager) if wrap is not None else eager).eval()
    i = eager.net.input
    example = torch.rand(2, i.channels, i.height, i.width, generator=torch.Generator().manual_seed(0))  # (N, C, H, W)
    if is_onnx(path):
        from .export_onnx import write_onnx

        write_onnx(program, example, path, metadata or {}, opset, dynamic_size)
    elif dynamic_size:
        raise ValueError("dynamic_size: .pt2 programs have a dynamic batch only; write a .onnx file")
    else:
        from .export_pt2 import write_pt2

        write_pt2(program, example, path, metadata)
    return path


def _eager(model: Net) -> Net:
    """The Triton backend's kernels do not trace: its eager equivalent, with the same weights."""
    if type(model) is Net:
        return model
    eager = build(model.net)
    eager.load_state_dict(model.state_dict())
    return eager


def usage(path: str | Path) -> tuple[str, str]:
    """How to run a written file, and where its metadata is: what the CLI says after writing it."""
    if is_onnx(path):
        return "onnxruntime.InferenceSession(path)", "its metadata properties"
    return "torch.export.load(path).module()", "its archspec.json"
