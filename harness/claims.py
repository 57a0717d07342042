"""The tables and the paper's claims from a suite's evaluations: each row's mistakes over seeds on the same
images, its error with a bootstrap interval, and each claim decided by paired tests (`stats.py`).

`score` is the whole step: evaluations per (entry id, seed) in, report tables and claim verdicts out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import stats
from .evaluation import Evaluation, Part, fuse
from .protocol import wrong
from .suite import Claim, Row, Suite, safe

MIN_DENSE_MAP = 2  # a dense evaluation needs a class score map of at least 2x2 at the largest scale
MIN_CROP_VIEWS = 50  # 5x5 grid x 2 flips, all distinct


@dataclass
class Outcome:
    """One table row over all seeds: per-seed top-1 / top-5 mistakes on the same images, and its views."""

    row: Row
    model: str
    wrong1: np.ndarray  # (seeds, N) 0/1
    wrong5: np.ndarray
    dense_map: int | None
    crop_views: int | None

    @property
    def comparable(self) -> str:
        """'yes', or why this row cannot stand for the paper's method at this scale."""
        why = []
        if self.row.protocol == "multi" and self.dense_map is not None and self.dense_map < MIN_DENSE_MAP:
            why.append(f"dense map {self.dense_map}x{self.dense_map} at the largest Q")
        if self.crop_views is not None and self.crop_views < MIN_CROP_VIEWS:
            why.append(f"{self.crop_views} distinct crops, not {MIN_CROP_VIEWS}")
        return "not comparable: " + ", ".join(why) if why else "yes"


def _part(evs: list[Evaluation], row: Row) -> Part | None:
    """The row's part of one seed's evaluations (one per id of the row; several: fusion)."""
    parts = [next((p for p in ev.parts if p.protocol == row.protocol and p.method == row.method), None) for ev in evs]
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else fuse(parts)[0]


def outcome(row: Row, per_seed: list[list[Evaluation]]) -> Outcome | None:
    """per_seed: for every seed, the evaluations of the row's ids (in row order)."""
    parts = [_part(evs, row) for evs in per_seed]
    if not parts or any(p is None for p in parts):
        return None
    w1, w5 = zip(*(wrong(p.posterior, evs[0].labels) for p, evs in zip(parts, per_seed, strict=True)), strict=True)
    first = parts[0]
    model = first.label if row.method == "centre" or len(row.train) > 1 else f"{first.label}/{first.test_scales}"
    maps = [p.dense_map for p in parts if p.dense_map is not None]
    views = [p.crop_views for p in parts if p.crop_views is not None]
    return Outcome(
        row,
        model,
        np.stack(w1).astype(np.float64),
        np.stack(w5).astype(np.float64),
        min(maps) if maps else None,
        min(views) if views else None,
    )


def table_row(row: Row, o: Outcome | None, rs: stats.Resamples | None) -> dict:
    """A report row: mean error over seeds, its 95% bootstrap interval over images, the spread between seeds."""
    r = {"row": row.label, "ours": o.model if o else "missing", "protocol": row.protocol, "method": row.method}
    r["nets"] = len(row.train)  # several: fusion
    for k in ("1", "5"):
        if o is None:
            r |= {f"top{k}_err": None, f"top{k}_lo": None, f"top{k}_hi": None, f"top{k}_seed_sd": None}
            continue
        w = o.wrong1 if k == "1" else o.wrong5
        mean, lo, hi = stats.mean_interval(w, rs)
        sd = float(np.std(100 * w.mean(1), ddof=1)) if len(w) > 1 else None
        r |= {
            f"top{k}_err": round(mean, 2),
            f"top{k}_lo": round(lo, 2),
            f"top{k}_hi": round(hi, 2),
            f"top{k}_seed_sd": None if sd is None else round(sd, 2),
        }
    r |= {
        "seeds": len(o.wrong1) if o else 0,
        "images": o.wrong1.shape[1] if o else 0,
        "paper_top1": row.paper_top1,
        "paper_top5": row.paper_top5,
        "diff_top1": round(r["top1_err"] - row.paper_top1, 2) if o and row.paper_top1 is not None else None,
        "dense_map": o.dense_map if o else None,
        "crop_views": o.crop_views if o else None,
        "comparable": o.comparable if o else "missing",
    }
    return r


CLAIM_RULE = (
    "Each configuration is one pair of rows compared on the same test images and seeds: the per-image difference "
    "in top-1 mistakes (first minus second), averaged over seeds, with a 95% interval from a two-level bootstrap "
    f"that resamples both the test images and the seeds ({stats.RESAMPLES} resamples, fixed seed), so that "
    "training noise between seeds widens it as the test set's size does. `lower` claims hold when the interval "
    "lies below 0 and are contradicted when it lies above 0; `no_worse` claims hold when it lies below +margin "
    "and are contradicted when it lies above it; otherwise inconclusive. Overall: the same test on the mean of "
    "the per-image differences over every usable configuration of the claim, except that it is inconclusive when "
    "configurations disagree (the pooled test holds but a configuration contradicts the claim, or the reverse): "
    "a large effect in one configuration does not outvote another. Rows that are missing or not "
    "comparable at this scale are left out of every verdict."
)


def decide(claim: Claim, outcomes: dict[str, Outcome], rows: dict[str, dict], rs) -> tuple[dict, list[dict]]:
    """(overall row, per-configuration rows) for one claim."""
    per, diffs = [], []
    for first, second in claim.pairs:
        a, b = outcomes.get(first), outcomes.get(second)
        paper = None
        pa, pb = rows[first]["paper_top1"], rows[second]["paper_top1"]
        if pa is not None and pb is not None:
            paper = round(pa - pb, 2)
        entry = {"claim": claim.text, "configuration": f"{first} vs {second}", "paper_diff": paper}
        if a is None or b is None:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not measured"})
            continue
        if "not" in a.comparable or "not" in b.comparable:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not comparable"})
            continue
        if a.wrong1.shape != b.wrong1.shape:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not measured (seeds differ)"})
            continue
        p = stats.paired(a.wrong1, b.wrong1, rs)
        diffs.append(a.wrong1 - b.wrong1)
        per.append(
            entry
            | {
                "diff": round(p.diff, 2),
                "lo": round(p.lo, 2),
                "hi": round(p.hi, 2),
                "verdict": stats.verdict(p, claim.kind, claim.margin),
            }
        )
    side = "below 0" if claim.kind == "lower" else f"below +{claim.margin}"
    overall = {
        "claim": claim.text,
        "kind": f"{claim.kind} ({side})",
        "configurations": len(claim.pairs),
        "used": len(diffs),
    }
    if not diffs:
        verdicts = {r["verdict"] for r in per}
        return overall | {
            "diff": None,
            "lo": None,
            "hi": None,
            "verdict": "not comparable" if verdicts == {"not comparable"} else "not measured",
        }, per
    p = stats.pooled(diffs, rs)
    tally = ", ".join(f"{sum(r['verdict'] == v for r in per)} {v}" for v in ("holds", "contradicted", "inconclusive"))
    verdict = stats.verdict(p, claim.kind, claim.margin)
    against = {"holds": "contradicted", "contradicted": "holds"}.get(verdict)
    if any(r["verdict"] == against for r in per):  # configurations disagree: no overall verdict
        verdict = "inconclusive"
    return overall | {
        "diff": round(p.diff, 2),
        "lo": round(p.lo, 2),
        "hi": round(p.hi, 2),
        "verdict": verdict,
        "per configuration": tally,
    }, per


def score(suite: Suite, evals: dict[tuple[str, int], Evaluation], seeds: list[int]) -> tuple[list, list, list]:
    """(tables, overall claim rows, per-configuration claim rows) from the evaluations of every (id, seed); a row
    is scored only when every seed of all its ids was evaluated."""
    n = {len(ev.labels) for ev in evals.values()}
    rs = stats.resamples(n.pop(), len(seeds)) if len(n) == 1 else None
    tables, outcomes, rows_by_label = [], {}, {}
    for table in suite.table:
        rows = []
        for row in table.rows:
            per_seed = [[evals[i, s] for i in row.train] for s in seeds if all((i, s) in evals for i in row.train)]
            o = outcome(row, per_seed) if rs is not None and len(per_seed) == len(seeds) else None
            if o is not None:
                outcomes[row.label] = o
            rows_by_label[row.label] = table_row(row, o, rs)
            rows.append(rows_by_label[row.label])
        tables.append({"name": table.name, "title": table.title, "rows": rows, "plot": f"{safe(table.name)}.png"})
    claims, per_config = [], []
    for claim in suite.claim:
        overall, per = decide(claim, outcomes, rows_by_label, rs)
        claims.append(overall)
        per_config += per
    return tables, claims, per_config
