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
from archspec.errors import ArchspecError

from .eager import Net, build


def check_output(path: str | Path, inputs: tuple[str | Path | None, ...] = ()) -> Path:
    """Refuse, before any work, an output that is one of the inputs or is not a regular file (a folder, a
    device such as /dev/full, a FIFO): `-o` replaces a file, never anything else."""
    import stat

    path = Path(path)
    if path.exists() or path.is_symlink():
        try:
            mode = path.stat().st_mode
        except OSError as e:
            raise ArchspecError(f"{path}: cannot use as output ({e.strerror}); expected a file path") from None
        if stat.S_ISDIR(mode):
            raise ArchspecError(f"{path}: is a directory; expected a file path for the .pt2 output")
        if not stat.S_ISREG(mode):
            raise ArchspecError(f"{path}: is not a regular file; expected a file path for the .pt2 output")
        for source in inputs:
            if source is not None and Path(source).is_file() and path.samefile(source):
                raise ArchspecError(f"{path}: is the input spec; expected another path for the .pt2 output")
    if not path.parent.is_dir():
        raise ArchspecError(f"{path.parent}: no such folder; expected an existing folder for the .pt2 output")
    return path


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
    try:
        with atomic_path(path) as tmp:
            torch.export.save(program, tmp, extra_files=extra_files)
    except OSError as e:
        raise ArchspecError(
            f"{path}: could not be written ({e.strerror or e}); expected a writable file with "
            "free space (any earlier file there is unchanged)"
        ) from None
    return path
