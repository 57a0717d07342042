"""Files a user names: every problem with one is one `ArchspecError` line, and nothing reads without a bound.

- `regular(path, what)`: the path is a regular file, checked with `stat` before anything opens it, so a FIFO
  never blocks a reader and `/dev/zero` never streams into memory; each problem is named as it is (no such
  file, a broken symlink, a symlink loop, permission denied, a folder, a device or FIFO).
- `read_bytes` / `read_text` / `read_json`: a regular file of at most `limit` bytes; text is UTF-8 (else the
  error names path:line:col of the first bad byte), JSON parses (else path:line:col of the problem).
- `read_record`: JSON of the shape a pydantic model describes (a list where an object belongs, or a field of
  another type, is one line naming the file and the field).
- `folder`: a folder that can be listed, each problem named as it is (no such folder, a file, permission denied).
- `check_output`: a path that `-o` may replace: a regular file or a new name in an existing folder, never one
  of the command's inputs.
- `make_folder`: `mkdir -p` with one line when it cannot be (a file in the way, a read-only filesystem).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ArchspecError, SpecError

Model = TypeVar("Model", bound=BaseModel)


def regular(path: str | Path, what: str) -> os.stat_result:
    """`stat` of a regular file; anything else is one line ending in `expected {what}`."""
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        problem = "a broken symlink" if p.is_symlink() else "no such file"
        raise ArchspecError(f"{p}: {problem}; expected {what}") from None
    except OSError as e:
        problem = "a symlink loop" if e.errno == errno.ELOOP else e.strerror
        raise ArchspecError(f"{p}: cannot read ({problem}); expected {what}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ArchspecError(f"{p}: is a directory; expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise ArchspecError(f"{p}: is not a regular file (a device, FIFO or socket); expected {what}")
    return info


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    p = Path(path)
    size = regular(p, what).st_size
    if size > limit:
        raise ArchspecError(f"{p}: {size:,} bytes; expected {what} of at most {limit:,} bytes")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ArchspecError(f"{p}: cannot read ({e.strerror or os.strerror(e.errno)}); expected {what}") from None
    if len(data) > limit:
        raise ArchspecError(f"{p}: more than {limit:,} bytes; expected {what} of at most that")
    return data


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def read_text(path: str | Path, what: str, limit: int) -> str:
    """A regular file of at most `limit` bytes as UTF-8 text."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        good = data[: e.start].decode("utf-8")
        line, col = line_col(good, len(good))
        found = f"byte 0x{data[e.start]:02x} that is not UTF-8"
        raise SpecError(found, f"UTF-8 text ({what})", path=str(path), line=line, col=col) from None


def read_json(path: str | Path, what: str, limit: int):
    """A regular UTF-8 file of at most `limit` bytes parsed as JSON."""
    text = read_text(path, what, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON ({e.msg})", what, path=str(path), line=e.lineno, col=e.colno) from None
    except RecursionError:
        raise SpecError("JSON nested too deeply", what, path=str(path), line=1, col=1) from None


def read_record(path: str | Path, model: type[Model], what: str, limit: int) -> Model:
    """A JSON file of the shape `model` describes; anything else is one line naming the file and the first field
    that is wrong."""
    data = read_json(path, what, limit)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"])) or "its top level"
        expected = first["msg"].removeprefix("Input should be ")
        found = repr(first["input"])[:60]
        raise ArchspecError(f"{path}: {where}: found {found}; expected {expected} ({what})") from None


def folder(path: str | Path, what: str) -> Path:
    """A folder this process may list; anything else is one line ending in `expected {what}`."""
    p = Path(path)
    try:
        info = p.stat()
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(p) as entries:  # listing needs read permission, which stat does not,
                for entry in entries:  # and looking at what is listed needs search permission
                    entry.stat(follow_symlinks=False)
                    break
    except FileNotFoundError:
        raise ArchspecError(f"{p}: no such folder; expected {what}") from None
    except OSError as e:
        raise ArchspecError(f"{p}: cannot read ({e.strerror}); expected {what} that this user may read") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ArchspecError(f"{p}: not a folder; expected {what}")
    return p


def check_output(path: str | Path, inputs=(), role: str = "the input spec", what: str = "the .pt2 output") -> Path:
    """Refuse, before any work, an output that is one of `inputs` (`role` says what they are) or is not a
    regular file (a folder, a device such as /dev/full, a FIFO): `-o` replaces a file, never anything else.
    `what` names the output in the messages."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        try:
            mode = path.stat().st_mode
        except OSError as e:
            raise ArchspecError(f"{path}: cannot use as output ({e.strerror}); expected a file path") from None
        if stat.S_ISDIR(mode):
            raise ArchspecError(f"{path}: is a directory; expected a file path for {what}")
        if not stat.S_ISREG(mode):
            raise ArchspecError(f"{path}: is not a regular file; expected a file path for {what}")
        for source in inputs:
            if source is not None and Path(source).is_file() and path.samefile(source):
                raise ArchspecError(f"{path}: is {role}; expected another path for {what}")
    if not path.parent.is_dir():
        raise ArchspecError(f"{path.parent}: no such folder; expected an existing folder for {what}")
    return path


def make_folder(path: str | Path, what: str) -> Path:
    """Create `path` (and its parents) unless it is a folder already."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ArchspecError(f"{p}: is a file, or under one; expected a folder for {what}") from None
    except OSError as e:
        raise ArchspecError(f"{p}: cannot create ({e.strerror}); expected a writable folder for {what}") from None
    return p
