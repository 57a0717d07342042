"""The ledger of looks at the scored split: `scored.jsonl` in a bench folder, one line per `bench` invocation
that wrote a report from the scored images' outcomes (time, commit, suite hash, the runs it evaluated afresh
and every entry and seed it reported). Each look at the test set is a chance to tune on it; the report states
how many there were and by which code, so a reader can tell a confirmatory report from an exploratory one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from archspec.errors import SpecError
from archspec.files import read_text

NAME = "scored.jsonl"


def record(root: Path, commit: str, suite_sha: str, evaluated: list[tuple[str, int]], entries: list[str], seeds):
    """Append one line (a single write on a file opened for appending: lines never interleave)."""
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit or "unknown",
        "suite_sha256": suite_sha,
        "evaluated": [f"{id_} seed {seed}" for id_, seed in evaluated],
        "entries": entries,
        "seeds": list(seeds),
    }
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(root: Path) -> list[dict]:
    path = root / NAME
    if not path.is_file():
        return []
    text, looks = read_text(path, "the ledger of looks at the scored split", 64 << 20), []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            looks += [json.loads(line)] if line.strip() else []
        except json.JSONDecodeError as e:
            found = f"invalid JSON ({e.msg})"
            raise SpecError(found, "one JSON object per line", path=str(path), line=n, col=e.colno) from None
    return looks


def _times(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary(root: Path, suite_sha: str) -> str:
    """One sentence: how many invocations scored this suite's test split afresh, by which commits, and how many
    reports were written from its outcomes in all."""
    lines = [r for r in read(root) if r["suite_sha256"] == suite_sha]
    scored = [r for r in lines if r["evaluated"]]
    by: dict[str, int] = {}
    for r in scored:
        by[r["commit"]] = by.get(r["commit"], 0) + 1
    commits = ", ".join(f"{c} ({n}x)" if n > 1 else c for c, n in by.items()) or "none"
    others = len(read(root)) - len(lines)
    return (
        f"the scored split was evaluated {_times(len(scored), 'time')} for this version of the suite in this folder "
        f"(by commit {commits}; {sum(len(r['evaluated']) for r in scored)} run evaluations in all), and "
        f"{_times(len(lines), 'report')} {'was' if len(lines) == 1 else 'were'} written from it"
        + (f"; {_times(others, 'more look')} in this folder by other versions of the suite" if others else "")
        + f" (`{NAME}`)"
    )
