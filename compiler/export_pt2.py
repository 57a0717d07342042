"""`archspec compile --output FILE.pt2`: a file loadable without archspec.

torch.export traces the module into an ExportedProgram with a dynamic batch
dimension; anyone with torch loads it with `torch.export.load(path).module()`.
The file is written to a temporary name and renamed, so an existing file is
never left half-written.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch.export import Dim

from archspec.atomic import atomic_path
from archspec.files import check_output

from .eager import Net, build


def export(model: Net, path: str | Path, wrap=None, extra_files: dict[str, str] | None = None) -> Path:
    """Write the exported program to `path` atomically (a temporary file in the same folder, then a rename);
    a failed write (a full disk) leaves any earlier file intact and is one line. `wrap(model)` builds what is
    exported around the eager model (e.g. with preprocessing); `extra_files` are stored beside the program."""
    path = check_output(path)
    i = model.net.input
    if type(model) is not Net:  # the Triton backend's kernels do not trace: export the eager equivalent
        eager = build(model.net)
        eager.load_state_dict(model.state_dict())
        model = eager
    wrap = wrap(model) if wrap is not None else None
    example = torch.zeros(2, i.channels, i.height, i.width)  # (N, C, H, W)
    program = torch.export.export((wrap or model).eval(), (example,), dynamic_shapes=({0: Dim("batch")},))
    buffer = io.BytesIO()  # serialised in memory: torch's file writer aborts the process (SIGABRT) on a full disk
    torch.export.save(program, buffer, extra_files=extra_files)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return path
