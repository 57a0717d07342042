"""Looks at a data set's scored split, kept per data set in the user's state directory
(`$XDG_STATE_HOME/archspec/looks/`, by default `~/.local/state/archspec/looks/`): every evaluation on the scored
split appends one line as soon as it ends, whether `archspec bench` made it (in any `--out` folder) or
`archspec eval`. A bench report counts its data set's looks from here, so a new folder does not start from zero.

A line is appended whole or not at all (`append_line`, which the bench folder's own ledger, `bench/ledger.py`,
writes with too); a damaged line is kept and counted, never parsed as a look.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from archspec import provenance
from archspec.errors import ArchspecError
from archspec.files import read_bytes, regular

from ..training.config import SMALL_SOURCES

WHAT = "the ledger of looks at a data set's scored split"


class DataLook(BaseModel):
    """One line of a data set's ledger: one evaluation on its scored split."""

    time: str
    commit: str
    by: str  # "bench" or "eval"
    folder: str  # the bench folder, or the run folders evaluated
    runs: list[str]  # "<entry id> seed <k>" (bench) or the checkpoints (eval)
    evaluations: list[str] = []  # bench: the tokens of the evaluations' caches
    images: int | None = None  # eval: how many scored images


def state_dir() -> Path:
    """$XDG_STATE_HOME/archspec/looks, or ~/.local/state/archspec/looks where it is unset or empty (XDG)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "archspec" / "looks"


def data_key(source: str) -> str:
    """A data set's name: a small set's own, or an image folder's resolved path."""
    return source if source in SMALL_SOURCES else str(Path(source).expanduser().resolve())


def path_of(source: str) -> Path:
    """The data set's ledger: a readable name and a hash of the full key, so two folders never share one."""
    key = data_key(source)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")[-60:]
    return state_dir() / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.jsonl"


def open_append(path: Path, what: str) -> int:
    """The file opened for appending (made if missing); one line where it cannot be (a folder in its place, a
    read-only file or filesystem)."""
    if path.exists() or path.is_symlink():
        regular(path, what)
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise ArchspecError(
            f"{path}: cannot be appended to ({e.strerror}); expected a writable file ({what})"
        ) from None


def append_line(path: Path, line: dict, what: str, pending: str) -> None:
    """Append one JSON line, whole or not at all (a single write on a file opened for appending: lines never
    interleave; after a failed write the file is cut back). `pending`: what the error says stays unrecorded."""
    fd = open_append(path, what)
    try:
        size = os.fstat(fd).st_size
        cut = size and os.pread(fd, 1, size - 1) != b"\n"  # a damaged last line stays a line of its own
        data = (b"\n" if cut else b"") + (json.dumps(line) + "\n").encode()
        try:
            rest = memoryview(data)
            while rest:  # after a short write (the disk filled up), the next one says why
                rest = rest[os.write(fd, rest) :]
            os.fsync(fd)
        except OSError as e:
            os.ftruncate(fd, size)  # never half a line
            raise ArchspecError(
                f"{path}: this look could not be recorded ({e.strerror}); expected free space and write permission "
                f"({pending})"
            ) from None
    finally:
        os.close(fd)


def record(source: str, by: str, folder: str, runs: list[str], commit: str, **more) -> None:
    """Append one evaluation on `source`'s scored split to its ledger in the state directory."""
    path = path_of(source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArchspecError(
            f"{path.parent}: cannot be made ({e.strerror}); expected a writable state directory"
        ) from None
    line = DataLook(
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), commit=commit or "unknown", by=by, folder=folder, runs=runs, **more
    )
    append_line(path, line.model_dump(exclude_none=True), WHAT, f"this evaluation of {data_key(source)}")


def record_eval(sources: list[str], data: str | None, images: int) -> None:
    """`archspec eval`'s look at the scored split: on --data, else the first run's own data set (a weights file's
    is ImageNet's, as the evaluation takes it)."""
    from ..training.checkpoint import read_run

    first = Path(sources[0])
    source = data or (read_run(first)[0].data.source if first.is_dir() else "imagenet")
    where = [str(Path(s).resolve()) for s in sources]
    record(source, "eval", ", ".join(where), where, provenance.commit(), images=images)


def read(source: str) -> tuple[list[DataLook], int]:
    """(the looks at `source`'s scored split on record, how many damaged lines)."""
    path = path_of(source)
    if not (path.exists() or path.is_symlink()):
        return [], 0
    looks, damaged = [], 0
    for line in read_bytes(path, WHAT, 64 << 20).decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            looks.append(DataLook.model_validate_json(line))
        except ValidationError:
            damaged += 1
    return looks, damaged


def summary(source: str) -> str:
    """One clause: the looks at this data set's scored split on this machine's record, in all folders."""
    looks, damaged = read(source)
    folders = {look.folder for look in looks if look.by == "bench"}
    evals = sum(look.by == "eval" for look in looks)
    return (
        f"this machine's record of {data_key(source)}'s scored split (`{path_of(source)}`) holds "
        f"{len(looks)} evaluation{'' if len(looks) == 1 else 's'} of it in all: {len(looks) - evals} run "
        f"evaluation{'' if len(looks) - evals == 1 else 's'} by bench in {len(folders)} "
        f"folder{'' if len(folders) == 1 else 's'} and {evals} by archspec eval"
        + (f", and {damaged} damaged line{'' if damaged == 1 else 's'}, each possibly a look" if damaged else "")
    )
