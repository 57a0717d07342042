"""Atomic file writes: write a temporary file beside the target, then rename.

A reader never sees a half-written file, and an existing file is replaced only
once the new one is complete (a crash, Ctrl-C or a full disk leaves the old one
intact; a failed write is one `ArchspecError` line).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder and suffix); rename it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a read-only folder: one line, and the previous file is untouched
        from .errors import ArchspecError

        raise ArchspecError(
            f"{path}: could not be written ({e.strerror or e}); expected free space and write "
            "permission (the previous version of the file, if any, is unchanged)"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
