"""The ledger of looks at the scored split: `scored.jsonl` in a bench folder, one line appended as each run is
evaluated on the scored split (when it happens: a bench killed after its evaluations has them on record) and one
when a report is written from the outcomes (time, commit, suite hash, the invocation, the runs evaluated afresh,
every entry and seed). Each look at the test set is a chance to tune on it; the report states how many there
were and by which code, so a reader can tell a confirmatory report from an exploratory one. Each evaluation is
also appended to its data set's ledger in the user's state directory (`evaluation/looks.py`), which counts the
looks of every folder and of `archspec eval`.

A look is never lost: each evaluation cache carries a token of its own, and a line records the tokens of the
evaluations it reports, so an evaluation whose look could not be recorded (a full disk, a killed process) is
recorded by the next bench in the folder. A line is appended whole or not at all (a failed write is cut back
off), and a damaged line (a truncated write of older code, a hand edit) is kept and counted, never parsed as
a look nor appended to.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from archspec.files import read_bytes

from ..evaluation import looks

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
    invocation: str = ""  # the bench invocation that wrote it (lines of older code: each line its own)
    report: bool = True  # written with a report; False: an evaluation's line, appended when it ended


@dataclass
class Ledger:
    looks: list[Look] = field(default_factory=list)
    damaged: dict[int, str] = field(default_factory=dict)  # line number -> its text, for lines that are no look


def check(root: Path) -> None:
    """Before anything is evaluated: the ledger can take this invocation's looks."""
    os.close(looks.open_append(root / NAME, WHAT))


def record(
    root: Path,
    commit: str,
    suite_sha: str,
    evaluated: dict[tuple[str, int], str],
    entries: list[str],
    seeds,
    invocation: str = "",
    data: str | None = None,
    report: bool = True,
):
    """Append one line, whole or not at all (`looks.append_line`). `evaluated`: (entry id, seed) -> the token of
    its evaluation, for every run evaluated afresh; with `data`, they are appended to its data set's ledger too.
    `report`: the line of a report written (False: of an evaluation as it ends)."""
    runs = sorted(evaluated)
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit or "unknown",
        "suite_sha256": suite_sha,
        "evaluated": [f"{id_} seed {seed}" for id_, seed in runs],
        "entries": entries,
        "seeds": list(seeds),
        "evaluations": [evaluated[r] for r in runs],
        "invocation": invocation,
        "report": report,
    }
    pending = f"{_times(len(runs), 'evaluation')} stay unrecorded, and the next bench here records them"
    pending = f"{pending if runs else 'no evaluation was made'}; no report was written"
    looks.append_line(root / NAME, line, WHAT, pending)
    if runs and data is not None:
        looks.record(data, "bench", str(root.resolve()), line["evaluated"], commit, evaluations=line["evaluations"])


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
    scored = _invocations([r for r in lines if r.evaluated])
    by: dict[str, int] = {}
    for commit in scored.values():
        by[commit] = by.get(commit, 0) + 1
    commits = ", ".join(f"{c} ({n}x)" if n > 1 else c for c, n in by.items()) or "none"
    other = [r for r in ledger.looks if r.suite_sha256 != suite_sha]
    others, looked = len(_invocations(other)), _invocations([r for r in other if r.evaluated])
    earlier = (
        f", {len(looked)} of which evaluated the scored split ({sum(len(r.evaluated) for r in other)} run evaluations)"
    )
    reports, damaged = sum(r.report for r in lines), list(ledger.damaged)
    return (
        f"the scored split was evaluated {_times(len(scored), 'time')} for this version of the suite in this folder "
        f"(by commit {commits}; {sum(len(r.evaluated) for r in lines)} run evaluations in all), and "
        f"{_times(reports, 'report')} {'was' if reports == 1 else 'were'} written from it"
        + (
            f"; {_times(others, 'more invocation')} in this folder by other versions of the suite{earlier}"
            if others
            else ""
        )
        + (
            f"; {_times(len(damaged), 'damaged line')} (line {', '.join(map(str, damaged))}), each possibly a look "
            "of unknown version"
            if damaged
            else ""
        )
        + f" (`{NAME}`)"
    )


def _invocations(lines: list[Look]) -> dict[str, str]:
    """The invocations these lines come from, with the commit of each (a line of older code is one of its own)."""
    return {r.invocation or f"line {n}": r.commit for n, r in enumerate(lines)}
