"""Atomic file writes: write a temporary file beside the target, then rename.

A reader never sees a half-written file, and an existing file is replaced only
once the new one is complete (a crash, Ctrl-C or a full disk leaves the old one
intact; a failed write is one `ArchspecError` line). A write fails not only with
`OSError`: torch's zip writer raises `RuntimeError` and safetensors its
`SafetensorError` on a full disk or past `ulimit -f`; those are caught too.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ArchspecError
from .files import make_folder


def _write_error(e: Exception) -> bool:
    """Whether `e` is a failed write (rather than a bug in what was being written)."""
    safetensors = sys.modules.get("safetensors")
    if isinstance(e, getattr(safetensors, "SafetensorError", ())):
        return "I/O error" in str(e)
    return isinstance(e, OSError) or (isinstance(e, RuntimeError) and "inline_container" in str(e))


def _why(e: Exception, folder: Path) -> str:
    """The cause of a failed write in words: the OS's, else what the disk and the file size limit say."""
    if isinstance(e, OSError):
        return e.strerror or str(e)
    if m := re.search(r"os error (\d+)", str(e)):
        return os.strerror(int(m[1]))
    try:
        disk = os.statvfs(folder)
        if disk.f_bavail * disk.f_frsize < 1 << 20:
            return os.strerror(28)  # ENOSPC
    except OSError:
        pass
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        return f"the file size limit (ulimit -f) is {limit:,} bytes"
    return str(e).splitlines()[0][:120]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder and suffix); rename it onto `path` on success."""
    path = Path(path)
    tmp = None
    try:
        make_folder(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield Path(tmp)
        os.replace(tmp, path)
    except Exception as e:  # a full disk, a read-only folder: one line, and the previous file is untouched
        if not _write_error(e):
            raise
        raise ArchspecError(
            f"{path}: could not be written ({_why(e, path.parent)}); expected free space and write "
            "permission (the previous version of the file, if any, is unchanged)"
        ) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
