"""Table 2 as data: parameter and compute rows for specs, and the golden-file check.

`params(sources)` returns plain rows (dicts) that `archspec.formats` shows as a
rich table, CSV, JSON or Markdown; `check(rows, golden)` compares them with a
golden CSV (the CI guard against parameter-count regressions). Nothing here
imports torch or allocates weights.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from . import registry
from .errors import ArchspecError
from .files import read_text
from .infer import NetworkStats, infer
from .ir import dims_text
from .source import network

GOLDEN_KEYS = ("name", "weight_layers", "params", "macs")


def millions(n: int) -> int:
    """Round to whole millions as Table 2 does (132.86M -> 133, 133.64M -> 134)."""
    return int((Decimal(n) / Decimal(10**6)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def significant(x: float, digits: int = 3) -> float:
    """Three significant figures, for figures too small for Table 2's integer millions (0.446 M, 0.00576 G)."""
    return float(f"{x:.{digits}g}")


def summary_row(s: NetworkStats) -> dict:
    return {
        "name": s.name,
        "input": dims_text(s.input),
        "weight_layers": s.weight_layers,
        "params": s.params,
        "params_m": millions(s.params) if s.params >= 10**7 else significant(s.params / 1e6),
        "macs": s.macs,
        "gflops": round(s.flops / 1e9, 2) if s.flops >= 10**10 else significant(s.flops / 1e9),
    }


def layer_rows(s: NetworkStats) -> list[dict]:
    return [
        {
            "index": r.index,
            "layer": r.label,
            "src": f"{r.layer.src.line}:{r.layer.src.col}" if r.layer.src else "",
            "out_shape": dims_text(r.out_shape),
            "params": r.params,
            "macs": r.macs,
            "activations": r.activations,
            "rf": r.rf,
            "jump": r.jump,
        }
        for r in s.layers
    ]


@dataclass
class ParamsReport:
    rows: list[dict]
    layers: dict[str, list[dict]] = field(default_factory=dict)


def params(sources: list[str] | None = None, *, layers: bool = False, **overrides) -> ParamsReport:
    """Table 2 for the given specs (default: every registered spec), in argument order."""
    stats = [infer(network(src, **overrides)) for src in (sources or list(registry.names()))]
    return ParamsReport(
        rows=[summary_row(s) for s in stats],
        layers={s.name: layer_rows(s) for s in stats} if layers else {},
    )


GOLDEN_BYTES = 1 << 20  # a row per spec: thousands of specs fit


def read_golden(path: str | Path) -> dict[str, dict[str, str]]:
    """A golden CSV: a regular UTF-8 file of bounded size (a FIFO or /dev/zero is refused before it is read)."""
    p = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(p, "a golden CSV", GOLDEN_BYTES), newline=""))
    missing = [k for k in ("name", "params") if k not in (reader.fieldnames or [])]
    if missing:
        raise ArchspecError(f"{p}:1:1: found no column {missing[0]!r}; expected a header with {', '.join(GOLDEN_KEYS)}")
    return {row["name"]: row for row in reader}


def check(rows: list[dict], golden: str | Path) -> list[str]:
    """Differences between rows and a golden CSV, one readable line each (empty: all match)."""
    want = read_golden(golden)
    got = {r["name"]: r for r in rows}
    diffs = []
    for name, g in want.items():
        if name not in got:
            diffs.append(f"{name}: in {golden} but not counted (pass its spec)")
            continue
        for key, value in g.items():
            if key != "name" and key in got[name] and str(got[name][key]) != value:
                diffs.append(
                    f"{name}: {key} is {got[name][key]:,}, golden says {int(value):,}"
                    if value.isdigit()
                    else f"{name}: {key} is {got[name][key]}, golden says {value}"
                )
    diffs += [f"{name}: counted but not in {golden}" for name in got if name not in want]
    return diffs


def write_golden(rows: list[dict], path: str | Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, GOLDEN_KEYS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
