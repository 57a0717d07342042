"""Evaluations to outcomes: each table row's per-image mistakes per seed, from the evaluations of its entries
(several entries: their ensemble), which the report's statistics are computed from."""

from __future__ import annotations

import numpy as np

from archspec.views import METHODS

from ..evaluation.evaluate import Evaluation, Part, ensemble
from ..evaluation.protocol import wrong
from ..report.claims import Outcome
from ..suite import Row, Suite


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
    pairs = zip(parts, per_seed, strict=True)  # a part may score a prefix of the labels (multi_crop_images)
    w1, w5 = zip(*(wrong(p.posterior, evs[0].labels[: len(p.posterior)]) for p, evs in pairs), strict=True)
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
        first.posterior.shape[-1],  # (N, classes)
    )


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
