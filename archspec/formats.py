"""Rendering results: rich tables on screen, CSV / JSON / Markdown via pandas on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import Enum

from rich.console import Console
from rich.table import Table


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def _cell(value) -> str:
    if value is None:
        return ""  # not applicable (e.g. a method without crops has no crop views)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def rich_table(rows: Sequence[dict], title: str | None = None, headers: dict[str, str] | None = None) -> Table:
    headers = headers or {}
    table = Table(title=title, title_justify="left")
    cells = [[_cell(v) for v in row.values()] for row in rows]
    for j, key in enumerate(rows[0] if rows else []):
        numeric = isinstance(rows[0][key], (int, float)) and not isinstance(rows[0][key], bool)
        widest = max(len(r[j]) for r in cells)
        table.add_column(
            headers.get(key, key.replace("_", " ")),
            justify="right" if numeric else "left",
            min_width=widest,
            no_wrap=True,
        )
    for row in cells:
        table.add_row(*row)
    return table


def dumps(rows: Sequence[dict], fmt: str) -> str:
    """Rows as CSV, JSON (a list of objects) or Markdown text."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2)
    import pandas as pd  # only when asked: keeps `archspec params` quick

    frame = pd.DataFrame(list(rows))
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "markdown":  # a missing value reads "–", not "nan"
        return frame.astype(object).where(frame.notna(), None).to_markdown(index=False, missingval="–")
    raise ValueError(f"format {fmt!r}: expected one of {', '.join(f.value for f in Format)}")


def console(stderr: bool = False) -> Console:
    """A console that never truncates tables when output goes to a file or pipe."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 200)


def show(console: Console, rows: Sequence[dict], fmt: str, title: str | None = None, headers=None) -> None:
    if fmt == "table":
        console.print(rich_table(rows, title, headers))
    else:
        console.print(dumps(rows, fmt), end="" if fmt == "csv" else "\n", markup=False, highlight=False, soft_wrap=True)
