"""The tables and the paper's claims from each row's outcomes: its per-image mistakes over seeds on the same images,
its error with a t interval, and each claim decided by paired tests on every configuration, with Holm's method
across claims (`stats.py`). Pure statistics: no torch, no evaluation code (`bench/outcomes.py` turns evaluations
into outcomes; `record.py` saves and loads them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archspec.views import GRID, MULTI

from ..suite import Claim, Row, Suite, safe
from . import stats

MIN_DENSE_MAP = 2  # a dense evaluation needs a class score map of at least 2x2 at the largest scale
MIN_CROP_VIEWS = 2 * GRID**2  # the grid's crops and their flips, all distinct
FAILED = 0.9  # a run whose top-1 error is at least this share of chance's (90% of 90% with 10 classes) failed


@dataclass
class Outcome:
    """One table row over all seeds: per-seed top-1 / top-5 mistakes on the same images, and its views."""

    row: Row
    model: str
    wrong1: np.ndarray  # (seeds, N) 0/1
    wrong5: np.ndarray
    dense_map: int | None
    crop_views: int | None
    dense_cover: float | None = None  # share of the image the dense windows cover (min over scales and seeds)
    classes: int | None = None  # of the posteriors: chance's error is 100 (1 - 1 / classes); None: unknown

    @property
    def seed_outcomes(self) -> str:
        """'' where the seeds' top-1 errors are alike; else what the t interval would misread: runs that failed to
        train (error at least `FAILED` of chance's) or two groups of seeds (`stats.bimodal`), with the errors."""
        errors = 100 * self.wrong1.mean(1)  # (seeds,)
        listed = ", ".join(f"{e:.2f}" for e in errors)
        if self.classes:
            chance = 100 * (1 - 1 / self.classes)
            if failed := int((errors >= FAILED * chance).sum()):
                return f"{failed} of {len(errors)} runs failed to train (chance {chance:.0f}%): {listed}"
        p = float(self.wrong1.mean())
        if stats.bimodal(errors, floor=100 * np.sqrt(p * (1 - p) / self.wrong1.shape[1])):
            return f"bimodal seeds: {listed}"
        return ""

    @property
    def comparable(self) -> str:
        """'yes', or why this row cannot stand for the paper's method at this scale."""
        why = []
        if self.row.protocol == MULTI.name and self.dense_map is not None and self.dense_map < MIN_DENSE_MAP:
            why.append(f"dense map {self.dense_map}x{self.dense_map} at the largest Q")
        if self.dense_cover is not None and self.dense_cover < 1:
            why.append(f"dense windows cover {100 * self.dense_cover:.0f}% of the image")
        if self.crop_views is not None and self.crop_views < MIN_CROP_VIEWS:
            why.append(f"{self.crop_views} distinct crops, not {MIN_CROP_VIEWS}")
        return "not comparable: " + ", ".join(why) if why else "yes"


def table_row(row: Row, o: Outcome | None) -> dict:
    """A report row: mean error over seeds with its 95% interval (`stats.error_rate`: inside [0, 100]), the spread
    between seeds, and each seed's own error."""
    r = {"row": row.label, "ours": o.model if o else "missing", "protocol": row.protocol, "method": row.method}
    r["nets"] = len(row.train)  # several: an ensemble
    for k in ("1", "5"):
        if o is None:
            r |= {f"top{k}_err": None, f"top{k}_lo": None, f"top{k}_hi": None, f"top{k}_seed_sd": None}
            r[f"top{k}_per_seed"] = []
            continue
        w = o.wrong1 if k == "1" else o.wrong5
        iv = stats.error_rate(w)
        per_seed = 100 * w.mean(1)
        r |= {
            f"top{k}_err": round(iv.diff, 2),
            f"top{k}_lo": round(iv.lo, 2),
            f"top{k}_hi": round(iv.hi, 2),
            f"top{k}_seed_sd": round(float(np.std(per_seed, ddof=1)), 2) if len(w) > 1 else None,
            f"top{k}_per_seed": [round(float(e), 2) for e in per_seed],
        }
    r |= {
        "seeds": len(o.wrong1) if o else 0,
        "images": o.wrong1.shape[1] if o else 0,
        "paper_top1": row.paper_top1,
        "paper_top5": row.paper_top5,
        "diff_top1": round(r["top1_err"] - row.paper_top1, 2) if o and row.paper_top1 is not None else None,
        "dense_map": o.dense_map if o else None,
        "dense_cover": o.dense_cover if o else None,
        "crop_views": o.crop_views if o else None,
        "comparable": o.comparable if o else "missing",
        "seed outcomes": o.seed_outcomes if o else "",
    }
    return r


def claim_rule(seeds: int) -> str:
    """The report's paragraph on how claims are decided, for its number of seeds: with one seed its intervals hold
    the test images' noise only."""
    noise = (
        "that holds the test images' noise only: with 1 seed nothing of training noise is measured, so a verdict "
        "says how these runs compare on these images, not how another training run would"
        if seeds == 1
        else "that holds both the test images' noise and training noise between seeds (`stats.interval`: Student's "
        "t over the per-seed differences, plus the images' shared part estimated within seeds)"
    )
    return (
        "Each configuration is one pair of rows compared on the same test images and seeds: the per-image difference "
        f"in top-1 mistakes (first minus second), averaged over images and seeds, with a 95% interval {noise}. "
        "A configuration of a `lower` claim holds when its interval lies below 0 and is contradicted when it lies "
        "above 0; of a `no_worse` claim, the same against +margin. Where a row's seeds are bimodal (two groups of "
        f"errors, a gap more than {stats.BIMODAL_GAP:g} times the spread within them: `stats.bimodal`) or one of its "
        f"runs failed to train (top-1 error at least {FAILED:.0%} of chance's), the table says so in `seed outcomes`, "
        "and the configurations using that row are decided by the exact sign-flip test over the seeds' mean "
        "differences instead (`stats.seed_test`; with 5 seeds or fewer it cannot decide at 2.5% a side, so they "
        "stay inconclusive); the `test` column says which test decided. A claim holds only if every usable "
        "configuration holds, is contradicted if any is, and is otherwise inconclusive (raw verdict). Holm's method "
        "then keeps the family-wise error rate over all claims at 5%: each claim's p-value (the largest of its "
        "configurations' p-values for holding, or their number times the smallest for contradicting it, two-sided) "
        "is compared with 0.05 / (m - k + 1) in increasing order, and a raw verdict that does not survive becomes "
        "inconclusive; both are shown where they differ. Rows that are missing or not comparable at this scale are "
        "left out of every verdict."
    )


ONE_SEED = " (1 seed: image noise only)"
T_TEST = "t interval"
SEED_TEST = "exact sign-flip test over seeds"


def decide(claim: Claim, outcomes: dict[str, Outcome], rows: dict[str, dict]) -> tuple[dict, list[dict]]:
    """(overall row with its raw verdict and p-value, per-configuration rows) for one claim."""
    per, tests, seeds = [], [], []
    for first, second in claim.pairs:
        a, b = outcomes.get(first), outcomes.get(second)
        paper = None
        pa, pb = rows[first]["paper_top1"], rows[second]["paper_top1"]
        if pa is not None and pb is not None:
            paper = round(pa - pb, 2)
        entry = {"claim": claim.text, "configuration": f"{first} vs {second}", "paper_diff": paper}
        empty = {"diff": None, "lo": None, "hi": None, "test": None, "images": None}
        if a is None or b is None:
            per.append(entry | empty | {"verdict": "not measured"})
            continue
        if "not" in a.comparable or "not" in b.comparable:
            per.append(entry | empty | {"verdict": "not comparable"})
            continue
        if rows[first].get("crop") != rows[second].get("crop"):
            crops = f"crop {rows[first]['crop']} vs {rows[second]['crop']}"
            per.append(entry | empty | {"verdict": f"not comparable ({crops})"})
            continue
        if len(a.wrong1) != len(b.wrong1):
            per.append(entry | empty | {"verdict": "not measured (seeds differ)"})
            continue
        n = min(a.wrong1.shape[1], b.wrong1.shape[1])  # the images both scored: a prefix (multi_crop_images)
        wa, wb = a.wrong1[:, :n], b.wrong1[:, :n]
        p = stats.paired(wa, wb)
        odd = "; ".join(f"{label}: {o.seed_outcomes}" for label, o in ((first, a), (second, b)) if o.seed_outcomes)
        if odd:  # the t interval misreads these seeds: the exact test over seeds keeps its level
            test = stats.seed_test(100 * (wa - wb).mean(1), claim.kind, claim.margin)
        else:
            test = stats.t_test(p, claim.kind, claim.margin)
        tests.append(test)
        seeds.append(p.seeds)
        verdict = test.verdict + (ONE_SEED if p.seeds == 1 else "")
        per.append(
            entry
            | {"diff": _points(p.diff), "lo": _points(p.lo), "hi": _points(p.hi), "verdict": verdict, "images": n}
            | {"test": f"{SEED_TEST} ({odd})" if odd else T_TEST}
        )
    side = "below 0" if claim.kind == "lower" else f"below +{claim.margin}"
    overall = {
        "claim": claim.text,
        "kind": f"{claim.kind} ({side})",
        "bound": stats.bound(claim.kind, claim.margin),
        "configurations": len(claim.pairs),
        "used": len(tests),
    }
    if not tests:
        verdicts = {r["verdict"] for r in per}
        comparable = all(v.startswith("not comparable") for v in verdicts)
        return overall | {"verdict": "not comparable" if comparable else "not measured"}, per
    test = stats.claim(tests)
    tally = ", ".join(
        f"{sum(r['verdict'].startswith(v) for r in per)} {v}" for v in ("holds", "contradicted", "inconclusive")
    )
    return overall | {
        "raw verdict": test.verdict,
        "p": test.p,  # unrounded: Holm's method runs on it, and `adjust` rounds it for display
        "per configuration": tally,
        "seeds": min(seeds),
    }, per


def _points(x: float) -> float:
    """Rounded to 2 decimals for the report, never -0.0."""
    return round(x, 2) + 0.0


def adjust(claims: list[dict]) -> list[dict]:
    """Holm's method across the claims that were decided, on their unrounded p-values: the final `verdict` is the
    raw one where it survives the family-wise adjustment and inconclusive where it does not (the raw verdict is
    kept beside it). Both p-values are rounded to 4 decimals only afterwards, for display."""
    decided = [c for c in claims if "p" in c]
    adjusted, kept = stats.holm([c["p"] for c in decided])
    for c, p_holm, keep in zip(decided, adjusted, kept, strict=True):
        raw = c.pop("raw verdict")
        final = raw if keep or raw == "inconclusive" else "inconclusive"
        one = ONE_SEED if c.pop("seeds") == 1 else ""
        c |= {
            "p": round(c["p"], 4),
            "holm p": round(p_holm, 4),
            "verdict": final + one,
            "raw verdict": raw + one if final != raw else "",
        }
    return claims


def score(suite: Suite, outcomes: dict[str, Outcome]) -> tuple[list[dict], list[dict], list[dict]]:
    """(tables, claims with Holm's adjustment across them, per-configuration rows) from the rows' outcomes."""
    tables, rows_by_label = [], {}
    for table in suite.table:
        rows = []
        for row in table.rows:
            crop = suite.crop_of(next(e for e in suite.train if e.id == row.train[0]))
            rows_by_label[row.label] = table_row(row, outcomes.get(row.label)) | {"crop": crop}
            rows.append(rows_by_label[row.label])
        tables.append({"name": table.name, "title": table.title, "rows": rows, "plot": f"{safe(table.name)}.png"})
    claims, per_config = [], []
    for claim in suite.claim:
        overall, per = decide(claim, outcomes, rows_by_label)
        claims.append(overall)
        per_config += per
    return tables, adjust(claims), per_config
