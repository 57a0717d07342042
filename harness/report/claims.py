"""The tables and the paper's claims from a suite's evaluations: each row's mistakes over seeds on the same
images, its error with a t interval, and each claim decided by paired tests on every configuration, with Holm's
method across claims (`stats.py`).

`outcomes_of` turns evaluations per (entry id, seed) into each row's per-image mistakes (saved as outcomes.npz,
from which `score` recomputes everything without the runs); `score` gives the report tables and verdicts.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.files import regular
from archspec.views import METHODS

from ..bench.suite import Claim, Row, Suite, safe
from ..evaluation.evaluate import Evaluation, Part, ensemble
from ..evaluation.protocol import wrong
from . import stats

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
    dense_cover: float | None = None  # share of the image the dense windows cover (min over scales and seeds)

    @property
    def comparable(self) -> str:
        """'yes', or why this row cannot stand for the paper's method at this scale."""
        why = []
        if self.row.protocol == "multi" and self.dense_map is not None and self.dense_map < MIN_DENSE_MAP:
            why.append(f"dense map {self.dense_map}x{self.dense_map} at the largest Q")
        if self.dense_cover is not None and self.dense_cover < 1:
            why.append(f"dense windows cover {100 * self.dense_cover:.0f}% of the image")
        if self.crop_views is not None and self.crop_views < MIN_CROP_VIEWS:
            why.append(f"{self.crop_views} distinct crops, not {MIN_CROP_VIEWS}")
        return "not comparable: " + ", ".join(why) if why else "yes"


def _part(evs: list[Evaluation], row: Row) -> Part | None:
    """The row's part of one seed's evaluations (one per id of the row; several: an ensemble)."""
    parts = [next((p for p in ev.parts if p.protocol == row.protocol and p.method == row.method), None) for ev in evs]
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else ensemble(parts)[0]


def outcome(row: Row, per_seed: list[list[Evaluation]]) -> Outcome | None:
    """per_seed: for every seed, the evaluations of the row's ids (in row order)."""
    parts = [_part(evs, row) for evs in per_seed]
    if not parts or any(p is None for p in parts):
        return None
    w1, w5 = zip(*(wrong(p.posterior, evs[0].labels) for p, evs in zip(parts, per_seed, strict=True)), strict=True)
    first = parts[0]
    model = first.label if len(row.train) > 1 else METHODS[row.method].row(first.label, first.test_scales)
    maps = [p.dense_map for p in parts if p.dense_map is not None]
    views = [p.crop_views for p in parts if p.crop_views is not None]
    covers = [p.dense_cover for p in parts if p.dense_cover is not None]
    return Outcome(
        row,
        model,
        np.stack(w1).astype(np.float64),
        np.stack(w5).astype(np.float64),
        min(maps) if maps else None,
        min(views) if views else None,
        min(covers) if covers else None,
    )


def table_row(row: Row, o: Outcome | None) -> dict:
    """A report row: mean error over seeds with its 95% interval (`stats.interval`), the spread between seeds, and
    each seed's own error."""
    r = {"row": row.label, "ours": o.model if o else "missing", "protocol": row.protocol, "method": row.method}
    r["nets"] = len(row.train)  # several: an ensemble
    for k in ("1", "5"):
        if o is None:
            r |= {f"top{k}_err": None, f"top{k}_lo": None, f"top{k}_hi": None, f"top{k}_seed_sd": None}
            r[f"top{k}_per_seed"] = []
            continue
        w = o.wrong1 if k == "1" else o.wrong5
        iv = stats.interval(w)
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
    }
    return r


CLAIM_RULE = (
    "Each configuration is one pair of rows compared on the same test images and seeds: the per-image difference "
    "in top-1 mistakes (first minus second), averaged over images and seeds, with a 95% interval that holds both "
    "the test images' noise and training noise between seeds (`stats.interval`: Student's t over the per-seed "
    "differences, plus the images' shared part estimated within seeds). A configuration of a `lower` claim holds "
    "when its interval lies below 0 and is contradicted when it lies above 0; of a `no_worse` claim, the same "
    "against +margin. A claim holds only if every usable configuration holds, is contradicted if any is, and is "
    "otherwise inconclusive (raw verdict). Holm's method then keeps the family-wise error rate over all claims at "
    "5%: each claim's p-value (the largest of its configurations' p-values for holding, or their number times the "
    "smallest for contradicting it, two-sided) is compared with 0.05 / (m - k + 1) in increasing order, and a raw "
    "verdict that does not survive becomes inconclusive; both are shown where they differ. Rows that are missing "
    "or not comparable at this scale are left out of every verdict."
)
ONE_SEED = " (1 seed: image noise only)"


def decide(claim: Claim, outcomes: dict[str, Outcome], rows: dict[str, dict]) -> tuple[dict, list[dict]]:
    """(overall row with its raw verdict and p-value, per-configuration rows) for one claim."""
    per, tests = [], []
    for first, second in claim.pairs:
        a, b = outcomes.get(first), outcomes.get(second)
        paper = None
        pa, pb = rows[first]["paper_top1"], rows[second]["paper_top1"]
        if pa is not None and pb is not None:
            paper = round(pa - pb, 2)
        entry = {"claim": claim.text, "configuration": f"{first} vs {second}", "paper_diff": paper}
        empty = {"diff": None, "lo": None, "hi": None}
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
        if a.wrong1.shape != b.wrong1.shape:
            per.append(entry | empty | {"verdict": "not measured (seeds differ)"})
            continue
        p = stats.paired(a.wrong1, b.wrong1)
        tests.append(p)
        verdict = stats.verdict(p, claim.kind, claim.margin) + (ONE_SEED if p.seeds == 1 else "")
        per.append(entry | {"diff": round(p.diff, 2), "lo": round(p.lo, 2), "hi": round(p.hi, 2), "verdict": verdict})
    side = "below 0" if claim.kind == "lower" else f"below +{claim.margin}"
    overall = {
        "claim": claim.text,
        "kind": f"{claim.kind} ({side})",
        "configurations": len(claim.pairs),
        "used": len(tests),
    }
    if not tests:
        verdicts = {r["verdict"] for r in per}
        comparable = all(v.startswith("not comparable") for v in verdicts)
        return overall | {"verdict": "not comparable" if comparable else "not measured"}, per
    test = stats.claim(tests, claim.kind, claim.margin)
    tally = ", ".join(
        f"{sum(r['verdict'].startswith(v) for r in per)} {v}" for v in ("holds", "contradicted", "inconclusive")
    )
    return overall | {
        "raw verdict": test.verdict,
        "p": round(test.p, 4),
        "per configuration": tally,
        "seeds": min(t.seeds for t in tests),
    }, per


def adjust(claims: list[dict]) -> list[dict]:
    """Holm's method across the claims that were decided: the final `verdict` is the raw one where it survives
    the family-wise adjustment and inconclusive where it does not (the raw verdict is kept beside it)."""
    decided = [c for c in claims if "p" in c]
    adjusted, kept = stats.holm([c["p"] for c in decided])
    for c, p_holm, keep in zip(decided, adjusted, kept, strict=True):
        raw = c.pop("raw verdict")
        final = raw if keep or raw == "inconclusive" else "inconclusive"
        one = ONE_SEED if c.pop("seeds") == 1 else ""
        c |= {"holm p": round(p_holm, 4), "verdict": final + one, "raw verdict": raw + one if final != raw else ""}
    return claims


def outcomes_of(suite: Suite, evals: dict[tuple[str, int], Evaluation], seeds: list[int]) -> dict[str, Outcome]:
    """Every table row measured for every seed on the same images: {row label: its outcome}."""
    if len({len(ev.labels) for ev in evals.values()}) != 1:
        return {}
    out = {}
    for row in (r for t in suite.table for r in t.rows):
        per_seed = [[evals[i, s] for i in row.train] for s in seeds if all((i, s) in evals for i in row.train)]
        o = outcome(row, per_seed) if len(per_seed) == len(seeds) else None
        if o is not None:
            out[row.label] = o
    return out


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


OUTCOMES = "outcomes.npz"


def save_outcomes(path: Path, outcomes: dict[str, Outcome], seeds: list[int]) -> None:
    """Every row's per-image mistakes, one byte per image, row and seed (compressed): what every interval and
    test of the report is computed from, so `bench --report-only` recomputes them without the runs."""
    outs = list(outcomes.values())
    arrays = {
        "rows": np.array(list(outcomes)),
        "models": np.array([o.model for o in outs]),
        "seeds": np.array(seeds),
        "top1": np.stack([o.wrong1 for o in outs]).astype(np.uint8),  # (rows, seeds, images)
        "top5": np.stack([o.wrong5 for o in outs]).astype(np.uint8),
        "dense_map": np.array([-1 if o.dense_map is None else o.dense_map for o in outs]),
        "crop_views": np.array([-1 if o.crop_views is None else o.crop_views for o in outs]),
        "dense_cover": np.array([np.nan if o.dense_cover is None else o.dense_cover for o in outs]),
    }
    with atomic_path(path) as tmp:  # its name ends in .npz, so numpy keeps it
        np.savez_compressed(tmp, **arrays)


# what save_outcomes writes: each array's dtype kinds and shape, in rows (R), seeds (S) and scored images (N)
OUTCOME_ARRAYS = {
    "rows": ("U", "R"),
    "models": ("U", "R"),
    "seeds": ("iu", "S"),
    "top1": ("iub", "RSN"),
    "top5": ("iub", "RSN"),
    "dense_map": ("iu", "R"),
    "crop_views": ("iu", "R"),
    "dense_cover": ("f", "R"),
}
OUTCOMES_WHAT = "the per-image outcomes a bench report writes"


def _read_outcome_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an outcomes.npz, loaded without pickle and checked against `OUTCOME_ARRAYS`; one line
    naming the file and what is wrong (not a zip, a missing array, an object array, a shape or value)."""
    regular(path, OUTCOMES_WHAT)
    try:
        with np.load(path, allow_pickle=False) as z:
            if missing := [name for name in OUTCOME_ARRAYS if name not in z.files]:
                raise ArchspecError(f"{path}: no array {missing[0]!r}; expected {OUTCOMES_WHAT}")
            arrays = {name: z[name] for name in OUTCOME_ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ArchspecError(f"{path}: not a readable .npz file ({str(e)[:80]}); expected {OUTCOMES_WHAT}") from None
    sizes: dict[str, int] = {}
    for name, (kinds, dims) in OUTCOME_ARRAYS.items():
        a = arrays[name]
        want = tuple(sizes.setdefault(d, a.shape[i]) if i < a.ndim else -1 for i, d in enumerate(dims))
        if a.dtype.kind not in kinds or a.shape != want:
            raise ArchspecError(
                f"{path}: array {name!r} of {a.dtype} {a.shape}; expected {OUTCOMES_WHAT}, shaped "
                f"({', '.join({'R': 'rows', 'S': 'seeds', 'N': 'images'}[d] for d in dims)})"
            )
    for name in ("top1", "top5"):
        if ((arrays[name] != 0) & (arrays[name] != 1)).any():
            raise ArchspecError(f"{path}: array {name!r} holds values other than 0 and 1; expected mistakes as 0/1")
    return arrays


def load_outcomes(path: Path, suite: Suite) -> tuple[dict[str, Outcome], list[int]]:
    """The outcomes `save_outcomes` wrote, for the suite's rows of the same labels, and their seeds."""
    rows, z = {r.label: r for t in suite.table for r in t.rows}, _read_outcome_arrays(path)
    out = {}
    for i, label in enumerate(z["rows"].tolist()):
        if label not in rows:
            raise ArchspecError(f"{path}: row {label!r} is not in the suite; expected the suite that wrote it")
        dm, cv, dc = int(z["dense_map"][i]), int(z["crop_views"][i]), float(z["dense_cover"][i])
        out[label] = Outcome(
            rows[label],
            str(z["models"][i]),
            z["top1"][i].astype(np.float64),
            z["top5"][i].astype(np.float64),
            None if dm < 0 else dm,
            None if cv < 0 else cv,
            None if np.isnan(dc) else dc,
        )
    return out, z["seeds"].tolist()
