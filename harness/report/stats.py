"""Statistics for honest comparisons: intervals on error rates and paired tests between models, with few seeds.

- `wilson`: the Wilson score interval of one error rate (k wrong of n), the interval `archspec eval`
  reports for a single model.
- `interval`: the mean of a (seeds, images) table of per-image values (0/1 mistakes of one row, or the
  difference of two rows' mistakes on the same images and seeds) with its 95% interval; `paired` is the
  interval of such a difference, and `error_rate` that of one row's error, clipped to [0, 100]. `verdict` turns
  it into `holds`, `contradicted` or `inconclusive`, and `p_below` / `p_above` give the one-sided p-values the
  verdict amounts to.
- `t_test` decides a configuration by that interval; `seed_test`, the exact sign-flip test over seeds, decides it
  where a row's seeds are `bimodal` or a run failed to train, which the t interval misreads (with 3 seeds of
  two groups it covers about 68%, not 95%).
- `claim`: one claim over several configurations (holds only if every configuration holds, contradicted if
  any is), with the p-value `holm` adjusts across claims.

Why this interval. The quantity estimated is a row's mean over the population of test images and of training
runs (seeds). Each value is seed effect + image effect + their interaction. The seeds share the test images, so
the image part of the noise is common to every seed and does not average out over seeds, and the seed part
does not shrink with more images. The mean has two independent parts, and each gets the quantile its own
estimate calls for:

- the per-seed means: their sample variance over S seeds / S holds the seed effect and each seed's own
  image-by-seed noise, estimated with S - 1 degrees of freedom: Student's t with S - 1 (4.30 for 3 seeds),
  the t interval over per-seed paired differences;
- the images' shared part, estimated within seeds from the (S, n) table as (MS_images - MS_interaction) /
  (n S), truncated at 0, with n - 1 degrees of freedom (about the normal quantile).

The half-width is sqrt((t_{S-1} se_seed)^2 + (t_{n-1} se_image)^2). Where one part dominates this is that
part's own exact-in-the-limit interval; where they are comparable it is conservative (at most about 2 points
of coverage above 95%). The alternatives fail where this one holds: a bootstrap that resamples 3 seeds with
replacement shrinks the seed variance by 2/3 and uses normal-like quantiles (about 2.7x too narrow in the seed
part); one t interval on the sum with Welch-Satterthwaite degrees of freedom covers only 93% with 3 seeds,
because its degrees of freedom grow exactly when the seed variance is underestimated. With one seed only the
image part exists, and the interval says nothing about training noise. tests/harness/report/test_stats_coverage.py
simulates reports with a known truth (seed noise dominating, image noise dominating; 3 and 5 seeds) and
checks 93-97% coverage.

Vectors are `wrong` indicators: 1 where a model's top-1 (or top-5) guess is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq
from scipy.special import stdtrit
from scipy.stats import permutation_test

LEVEL = 0.95
Z95 = 1.959963984540054
ALPHA = 1 - LEVEL  # the family-wise error rate Holm's method keeps across claims
BIMODAL_GAP = 6.0  # `bimodal`: a gap between seeds' errors this many times the spread within their groups


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (in %) for k successes of n."""
    if n <= 0:
        return (0.0, 100.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


@dataclass(frozen=True)
class Interval:
    """A mean in points (per-image values x 100) with its 95% interval and the standard errors of its two parts
    (fields are arrays for a batch of tables)."""

    diff: float  # the mean: an error rate, or first minus second for a paired difference
    lo: float
    hi: float
    se_seed: float  # per-seed means' part (0 with one seed)
    se_image: float  # the images' shared part (with one seed: all of the image noise)
    seeds: int
    images: int


def _half(q, seeds: int, images: int, se_seed, se_image):
    """Half-width at upper quantile q (0.975 for 95%): each part at its own t quantile."""
    t_seed = stdtrit(seeds - 1, q) if seeds > 1 else 0.0
    return np.sqrt((t_seed * se_seed) ** 2 + (stdtrit(images - 1, q) * se_image) ** 2)


def interval(values: np.ndarray, level: float = LEVEL) -> Interval:
    """values (seeds, n): per-image values of one row (0/1 mistakes) or of a paired difference, the same images
    for every seed. The mean over both in points, with its interval (see the module docstring). Leading axes
    (..., seeds, n) give arrays of independent intervals."""
    v = np.asarray(values, dtype=np.float64)
    s, n = v.shape[-2:]
    mean = v.mean((-2, -1))
    if s == 1:  # image noise only
        var_seed, var_image = np.zeros_like(mean), v.var(-1, ddof=1)[..., 0] / n
    else:
        per_seed, per_image = v.mean(-1), v.mean(-2)
        var_seed = per_seed.var(-1, ddof=1) / s
        ms_image = s * per_image.var(-1, ddof=1)
        ms_res = ((v - per_seed[..., None] - per_image[..., None, :] + mean[..., None, None]) ** 2).sum((-2, -1))
        ms_res = ms_res / ((s - 1) * (n - 1))
        var_image = np.maximum(0.0, ms_image - ms_res) / (n * s)
    se_seed, se_image = 100 * np.sqrt(var_seed), 100 * np.sqrt(var_image)
    half = _half(0.5 + level / 2, s, n, se_seed, se_image)
    mean = 100 * mean
    if v.ndim == 2:
        mean, half, se_seed, se_image = float(mean), float(half), float(se_seed), float(se_image)
    return Interval(mean, mean - half, mean + half, se_seed, se_image, s, n)


def error_rate(wrong: np.ndarray, level: float = LEVEL) -> Interval:
    """wrong (seeds, n): one row's 0/1 mistakes. Its error in % with `interval`'s interval clipped to [0, 100]:
    the interval is symmetric, so near 0% or 100% (few or no mistakes) it would reach past what an error rate can
    be (3 mistakes in 1,000 images with one seed: [-0.04, 0.64]). Clipping removes only impossible values, so
    the interval's coverage is unchanged."""
    iv = interval(wrong, level)
    return replace(iv, lo=float(np.clip(iv.lo, 0.0, 100.0)), hi=float(np.clip(iv.hi, 0.0, 100.0)))


def paired(first: np.ndarray, second: np.ndarray) -> Interval:
    """first, second: (seeds, n) 0/1 on the same n images; seed k of one is paired with seed k of the other
    (a chain's runs share their starting point). err(first) - err(second) in points."""
    return interval(np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64))


def _p_two_sided(p: Interval, bound: float) -> float:
    """1 - the level of the widest interval of this kind that excludes `bound` (the interval inverted)."""
    gap = abs(p.diff - bound)
    if gap == 0:
        return 1.0
    if p.se_seed == 0 and p.se_image == 0:
        return 0.0
    half = lambda q: float(_half(q, p.seeds, p.images, p.se_seed, p.se_image)) - gap  # noqa: E731
    if half(1 - 1e-15) < 0:
        return 0.0
    return 2 * (1 - brentq(half, 0.5, 1 - 1e-15, xtol=1e-14))


def p_below(p: Interval, bound: float) -> float:
    """One-sided p-value of 'the true value is below `bound`': below 0.025 exactly when the 95% interval lies
    below it."""
    two = _p_two_sided(p, bound)
    return two / 2 if p.diff < bound else 1 - two / 2


def p_above(p: Interval, bound: float) -> float:
    """One-sided p-value of 'the true value is above `bound`'."""
    two = _p_two_sided(p, bound)
    return two / 2 if p.diff > bound else 1 - two / 2


def bound(kind: str, margin: float = 0.0) -> float:
    """`lower`: first has lower error than second (bound 0); `no_worse`: at most `margin` points above it."""
    return 0.0 if kind == "lower" else margin


def verdict(p: Interval, kind: str, margin: float = 0.0) -> str:
    """`holds` when the whole interval is below the bound, `contradicted` when it is above, else `inconclusive`."""
    b = bound(kind, margin)
    if p.hi < b:
        return "holds"
    if p.lo > b:
        return "contradicted"
    return "inconclusive"


@dataclass(frozen=True)
class ConfigTest:
    """One configuration decided: its verdict and its one-sided p-values for holding and for contradicting."""

    verdict: str
    p_holds: float
    p_contra: float


def t_test(p: Interval, kind: str, margin: float = 0.0) -> ConfigTest:
    """A configuration decided by its 95% interval (`interval`): the test for seeds whose outcomes are alike."""
    b = bound(kind, margin)
    return ConfigTest(verdict(p, kind, margin), p_below(p, b), p_above(p, b))


def seed_test(per_seed: np.ndarray, kind: str, margin: float = 0.0) -> ConfigTest:
    """A configuration decided by the exact sign-flip permutation test over seeds, for outcomes the t interval
    misreads (`bimodal` seeds, a run that failed to train): per_seed (seeds,) is each seed's mean difference in
    points, and under the null hypothesis (centred on the bound) each one's sign is as likely flipped, whatever
    its distribution. Its level holds for any number of seeds, and so does its bluntness: with S seeds the
    smallest one-sided p-value is 1 / 2^S (3 seeds: 0.125; 5 seeds: 0.031), so with 5 seeds or fewer it never
    decides at 2.5% a side and the configuration stays inconclusive (with one seed: p = 1)."""
    d = np.asarray(per_seed, dtype=np.float64) - bound(kind, margin)
    if len(d) < 2:  # one seed: nothing over seeds to test
        return ConfigTest("inconclusive", 1.0, 1.0)

    def p(alternative: str) -> float:
        return float(permutation_test((d,), np.mean, permutation_type="samples", alternative=alternative).pvalue)

    p_holds, p_contra = p("less"), p("greater")
    v = "holds" if p_holds <= ALPHA / 2 else "contradicted" if p_contra <= ALPHA / 2 else "inconclusive"
    return ConfigTest(v, p_holds, p_contra)


def bimodal(per_seed: np.ndarray, floor: float, gap: float = BIMODAL_GAP) -> bool:
    """Whether a row's per-seed errors (points) fall in two separate groups: sorted, split at their largest gap,
    that gap is more than `gap` times the spread within the two groups (their pooled standard deviation, never
    taken below `floor`, one seed's image noise: a run cannot be told from another closer than that). Needs 3
    seeds. Sure of normal seeds: with 3 or 5 of them (floor at half their sd) the rule fires for 1.4% or 0.2% of
    rows (simulated); plain-34's 33.40, 33.73, 22.36 (gap 11.0, spread 0.46) is 24 times over."""
    e = np.sort(np.asarray(per_seed, dtype=np.float64))
    if len(e) < 3:
        return False
    k = int(np.argmax(np.diff(e))) + 1
    low, high = e[:k], e[k:]
    within = ((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum()
    spread = max(math.sqrt(within / (len(e) - 2)), floor)
    return bool(e[k] - e[k - 1] > gap * spread)


@dataclass(frozen=True)
class ClaimTest:
    """A claim decided over its configurations: the verdict from each configuration's own test, and the claim's
    two-sided p-value for the family-wise adjustment."""

    verdict: str
    p: float


def claim(configs: list[ConfigTest]) -> ClaimTest:
    """Holds only if every configuration holds; contradicted if any is; otherwise inconclusive.

    p-value: 'holds' is an intersection-union test (every configuration must hold), so its p-value is the
    largest of theirs; 'contradicted' is a union (any one may contradict), so the smallest of theirs times the
    number of configurations (Bonferroni within the claim). The claim's p is twice the smaller of the two
    (two-sided, as the 95% intervals are), capped at 1: p <= 0.05 exactly when the claim's verdict stands at
    that level with every configuration's multiplicity accounted for."""
    each = [c.verdict for c in configs]
    if "contradicted" in each:
        v = "contradicted"
    elif all(e == "holds" for e in each):
        v = "holds"
    else:
        v = "inconclusive"
    p_holds = max(c.p_holds for c in configs)
    p_contra = min(1.0, len(configs) * min(c.p_contra for c in configs))
    return ClaimTest(v, min(1.0, 2 * min(p_holds, p_contra)))


def holm(pvalues: list[float], alpha: float = ALPHA) -> tuple[list[float], list[bool]]:
    """Holm's step-down method: (adjusted p-values, rejected) in the given order. Sort the m p-values; the k-th
    smallest is rejected while p_(k) <= alpha / (m - k + 1), stopping at the first that is not; its adjusted
    p-value is max over j <= k of min(1, (m - j + 1) p_(j))."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [1.0] * m, 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        adjusted[i] = running
    return adjusted, [a <= alpha for a in adjusted]
