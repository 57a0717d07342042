"""Statistics for honest comparisons: intervals on error rates and paired tests between models.

- `wilson`: the Wilson score interval of one error rate (k wrong of n), the interval `archspec eval`
  reports for a single model.
- `resamples`: a two-level bootstrap drawn once (fixed seed, so a report is reproducible): the test
  images and the training seeds, each resampled with replacement. Intervals therefore hold both the test
  set's sampling error and the variation between training runs; every interval and test of one report
  uses the same draws, so all comparisons are paired.
- `mean_interval`: an error rate averaged over seeds (each seed a 0/1 vector over the same images) with
  its 95% interval.
- `paired`: the difference of two such rates on the same images and seeds, with its 95% interval;
  `verdict` turns it into `holds`, `contradicted` or `inconclusive`.

Vectors are `wrong` indicators: 1 where a model's top-1 (or top-5) guess is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
RESAMPLES = 2000
BOOT_SEED = 20150410  # the paper's ICLR date: any fixed seed makes reports reproducible


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (in %) for k successes of n."""
    if n <= 0:
        return (0.0, 100.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


@dataclass(frozen=True)
class Resamples:
    """A two-level bootstrap, fixed in advance so every interval and test of one report uses the same draws:
    `counts` (B, n) says how often each test image is drawn, `seeds` (B, S) which seeds (with replacement)."""

    counts: np.ndarray
    seeds: np.ndarray


def resamples(n: int, seeds: int = 1, b: int = RESAMPLES, seed: int = BOOT_SEED) -> Resamples:
    """B resamples of n test images and of the S training seeds, each with replacement."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.int32)
    return Resamples(counts, rng.integers(0, seeds, size=(b, seeds)))


def _boot(values: np.ndarray, rs: Resamples) -> np.ndarray:
    """values (S, n), one row per seed: the mean over seeds and images under each resample, (B,)."""
    per_seed = rs.counts @ values.T.astype(np.float64) / values.shape[1]  # (B, S): each seed's resampled mean
    return np.take_along_axis(per_seed, rs.seeds, axis=1).mean(1)  # (B,): over resampled seeds


def _interval(values: np.ndarray, rs: Resamples) -> tuple[float, float, float]:
    lo, hi = np.percentile(_boot(values, rs), [2.5, 97.5])
    return 100 * float(values.mean()), 100 * float(lo), 100 * float(hi)


def mean_interval(wrong: np.ndarray, rs: Resamples) -> tuple[float, float, float]:
    """wrong: (seeds, n) 0/1. Mean error (%) over seeds and its 95% interval over images and seeds."""
    return _interval(wrong, rs)


@dataclass(frozen=True)
class Paired:
    """err(first) - err(second) in points, pooled over seeds, with its 95% interval."""

    diff: float
    lo: float
    hi: float


def paired(first: np.ndarray, second: np.ndarray, rs: Resamples) -> Paired:
    """first, second: (seeds, n) 0/1 on the same n images; seed k of one is paired with seed k of the other
    (a chain's runs share their starting point), and images and seeds are resampled together."""
    return Paired(*_interval(first - second, rs))


def pooled(diffs: list[np.ndarray], rs: Resamples) -> Paired:
    """The mean of several per-seed, per-image differences (seeds, n) each: one claim over several
    configurations."""
    return Paired(*_interval(np.mean(diffs, axis=0), rs))


def verdict(p: Paired, kind: str, margin: float = 0.0) -> str:
    """`lower`: first has lower error (holds when the whole interval is below 0, contradicted when above).
    `no_worse`: first's error is at most `margin` points above second's (holds when the interval's upper end
    is below the margin, contradicted when its lower end is above it)."""
    bound = 0.0 if kind == "lower" else margin
    if p.hi < bound:
        return "holds"
    if p.lo > bound:
        return "contradicted"
    return "inconclusive"
