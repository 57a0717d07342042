"""Statistics for honest comparisons: intervals on error rates and paired tests between models.

- `wilson`: the Wilson score interval of one error rate (k wrong of n), the interval `archspec eval`
  reports for a single model.
- `bootstrap_counts`: resampling weights over test images (fixed seed, so a report is reproducible);
  every interval and test in one bench report uses the same resamples, so all comparisons are paired.
- `mean_interval`: an error rate averaged over seeds (each seed a 0/1 vector over the same images) with
  the 95% bootstrap interval over images.
- `paired`: the difference of two such rates on the same images (pooled over seeds) and its 95%
  bootstrap interval; `verdict` turns it into `holds`, `contradicted` or `inconclusive`.

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


def bootstrap_counts(n: int, resamples: int = RESAMPLES, seed: int = BOOT_SEED) -> np.ndarray:
    """(resamples, n) int32: how often each image is drawn in each resample of n images with replacement."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.int32)


def _boot_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of `values` (n,) under each resample: (resamples,)."""
    return counts @ values.astype(np.float64) / values.shape[0]


def mean_interval(wrong: np.ndarray, counts: np.ndarray) -> tuple[float, float, float]:
    """wrong: (seeds, n) 0/1. Mean error (%) over seeds and its 95% bootstrap interval over images."""
    per_image = wrong.mean(0)  # (n,)
    boot = _boot_means(per_image, counts)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return 100 * float(per_image.mean()), 100 * float(lo), 100 * float(hi)


@dataclass(frozen=True)
class Paired:
    """err(first) - err(second) in points, pooled over seeds, with its 95% interval."""

    diff: float
    lo: float
    hi: float


def paired(first: np.ndarray, second: np.ndarray, counts: np.ndarray) -> Paired:
    """first, second: (seeds, n) 0/1 on the same n images (seed k of one paired with seed k of the other)."""
    d = first.mean(0) - second.mean(0)  # (n,) per-image difference, averaged over seeds
    boot = _boot_means(d, counts)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Paired(100 * float(d.mean()), 100 * float(lo), 100 * float(hi))


def pooled(diffs: list[np.ndarray], counts: np.ndarray) -> Paired:
    """The mean of several per-image differences (n,) each: one claim over several configurations."""
    d = np.mean(diffs, axis=0)
    boot = _boot_means(d, counts)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Paired(100 * float(d.mean()), 100 * float(lo), 100 * float(hi))


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
