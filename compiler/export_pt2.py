"""`-o FILE.pt2`: a torch.export program, loadable without archspec.

torch.export traces the module into an ExportedProgram with a dynamic batch dimension; anyone with torch loads
it with `torch.export.load(path).module()`, and its metadata with
`torch.export.load(path, extra_files={"archspec.json": ""})`. `archspec.compiler.export` chooses this format
for any output that is not `.onnx`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim

from archspec.atomic import atomic_path


def write_pt2(program: nn.Module, example: torch.Tensor, path: Path, metadata: dict | None) -> None:
    """Export `program` traced on `example` (N, C, H, W) and write it atomically (a temporary file in the same
    folder, then a rename): a failed write (a full disk) leaves any earlier file intact and is one line.
    `metadata` is stored beside the program as `archspec.json`."""
    exported = torch.export.export(program, (example,), dynamic_shapes=({0: Dim("batch")},))
    extra = {"archspec.json": json.dumps(metadata)} if metadata else None
    buffer = io.BytesIO()  # serialised in memory: torch's file writer aborts the process (SIGABRT) on a full disk
    torch.export.save(exported, buffer, extra_files=extra)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
