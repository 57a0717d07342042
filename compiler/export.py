"""`archspec compile --output FILE.pt2`: a file loadable without archspec.

torch.export traces the module into an ExportedProgram with a dynamic batch
dimension; anyone with torch loads it with `torch.export.load(path).module()`.
The file is written to a temporary name and renamed, so an existing file is
never left half-written.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.export import Dim

from archspec.atomic import atomic_path

from .eager import VGG


def export(model: VGG, path: str | Path) -> Path:
    path = Path(path)
    i = model.net.input
    example = torch.zeros(2, i.channels, i.height, i.width)  # (N, C, H, W)
    program = torch.export.export(model.eval(), (example,), dynamic_shapes=({0: Dim("batch")},))
    with atomic_path(path) as tmp:
        torch.export.save(program, tmp)
    return path
