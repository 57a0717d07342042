"""The ledger of looks at the scored split: `scored.jsonl` in a bench folder, one line per `bench` invocation
that wrote a report from the scored images' outcomes (time, commit, suite hash, the runs it evaluated afresh
and every entry and seed it reported). Each look at the test set is a chance to tune on it; the report states
how many there were and by which code, so a reader can tell a confirmatory report from an exploratory one.

A look is never lost: each evaluation cache carries a token of its own, and a line records the tokens of the
evaluations it reports, so an evaluation whose look could not be recorded (a full disk, a killed process) is
recorded by the next bench in the folder. A line is appended whole or not at all (a failed write is cut back
off), and a damaged line (a truncated write of older code, a hand edit) is kept and counted, never parsed as
a look nor appended to.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from archspec.errors import ArchspecError
from archspec.files import read_bytes, regular

NAME = "scored.jsonl"
WHAT = "the ledger of looks at the scored split"


class Look(BaseModel):
    """One line of the ledger."""

    time: str
    commit: str
    suite_sha256: str
    evaluated: list[str]  # "<entry id> seed <k>" of every run evaluated afresh
    entries: list[str]
    seeds: list[int]
    evaluations: list[str] = []  # the tokens of those evaluations' caches (lines of older code have none)


@dataclass
class Ledger:
    looks: list[Look] = field(default_factory=list)
    damaged: dict[int, str] = field(default_factory=dict)  # line number -> its text, for lines that are no look


def _append_fd(path: Path) -> int:
    """The ledger opened for appending (made if missing); one line where it cannot be (a folder in its place, a
    read-only file or filesystem)."""
    if path.exists() or path.is_symlink():
        regular(path, WHAT)
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        why = e.strerror
        raise ArchspecError(f"{path}: cannot be appended to ({why}); expected a writable file ({WHAT})") from None


def check(root: Path) -> None:
    """Before anything is evaluated: the ledger can take this invocation's look."""
    os.close(_append_fd(root / NAME))


def record(root: Path, commit: str, suite_sha: str, evaluated: dict[tuple[str, int], str], entries: list[str], seeds):
    """Append one line, whole or not at all (a single write on a file opened for appending: lines never
    interleave). `evaluated`: (entry id, seed) -> the token of its evaluation, for every run evaluated afresh."""
    runs = sorted(evaluated)
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit or "unknown",
        "suite_sha256": suite_sha,
        "evaluated": [f"{id_} seed {seed}" for id_, seed in runs],
        "entries": entries,
        "seeds": list(seeds),
        "evaluations": [evaluated[r] for r in runs],
    }
    path = root / NAME
    fd = _append_fd(path)
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
            pending = f"{_times(len(runs), 'evaluation')} stay unrecorded, and the next bench here records them"
            raise ArchspecError(
                f"{path}: this look could not be recorded ({e.strerror}); expected free space and write permission "
                f"({pending if runs else 'no evaluation was made'}; no report was written)"
            ) from None
    finally:
        os.close(fd)


def read(root: Path) -> Ledger:
    path, ledger = root / NAME, Ledger()
    if not (path.exists() or path.is_symlink()):
        return ledger
    text = read_bytes(path, WHAT, 64 << 20).decode("utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            ledger.looks.append(Look.model_validate_json(line))
        except ValidationError:  # not JSON, truncated, an array, an object without a look's fields
            ledger.damaged[n] = line
    return ledger


def unrecorded(root: Path, tokens: dict[tuple[str, int], str | None]) -> dict[tuple[str, int], str]:
    """The evaluations (by their cache's token) that no line of the ledger records yet; a damaged line that
    names a token counts as recording it."""
    ledger = read(root)
    seen = {t for look in ledger.looks for t in look.evaluations}
    damaged = "\n".join(ledger.damaged.values())
    return {run: t for run, t in tokens.items() if t is not None and t not in seen and t not in damaged}


def _times(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary(root: Path, suite_sha: str) -> str:
    """One sentence: how many invocations scored this suite's test split afresh, by which commits, and how many
    reports were written from its outcomes in all; damaged lines are counted, as looks of unknown version."""
    ledger = read(root)
    lines = [r for r in ledger.looks if r.suite_sha256 == suite_sha]
    scored = [r for r in lines if r.evaluated]
    by: dict[str, int] = {}
    for r in scored:
        by[r.commit] = by.get(r.commit, 0) + 1
    commits = ", ".join(f"{c} ({n}x)" if n > 1 else c for c, n in by.items()) or "none"
    others, damaged = len(ledger.looks) - len(lines), list(ledger.damaged)
    return (
        f"the scored split was evaluated {_times(len(scored), 'time')} for this version of the suite in this folder "
        f"(by commit {commits}; {sum(len(r.evaluated) for r in scored)} run evaluations in all), and "
        f"{_times(len(lines), 'report')} {'was' if len(lines) == 1 else 'were'} written from it"
        + (f"; {_times(others, 'more look')} in this folder by other versions of the suite" if others else "")
        + (
            f"; {_times(len(damaged), 'damaged line')} (line {', '.join(map(str, damaged))}), each possibly a look "
            "of unknown version"
            if damaged
            else ""
        )
        + f" (`{NAME}`)"
    )
