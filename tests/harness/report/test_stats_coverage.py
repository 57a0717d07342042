"""The 95% interval keeps its coverage with few seeds: simulated reports with a known true value.

Each simulated report is a (seeds, images) table drawn from a population whose mean is known exactly; the
interval of `stats.interval` must contain it in 93-97% of reports, with 3 and 5 seeds, both where training
noise between seeds dominates (a paired difference of two models whose seeds disagree) and where the test
images' noise dominates (one model's error rate, as the report's rows).
"""

import numpy as np
import pytest

from archspec.harness.report import stats

REPORTS = 2000
IMAGES = 600


def paired_reports(rng, seeds: int) -> tuple[np.ndarray, float]:
    """Two models on the same images, drawn from a population: 70% of images are right (or wrong) for both on
    every seed; on the other 30% each model is wrong with probability u_i +- (effect / 2 + h_i) plus its seed's
    shift (sd 0.025: about 1 point of seed sd in the difference, against about 0.8 points of image noise per
    seed). True difference: 0.3 x effect."""
    effect = 0.02
    ambiguous = rng.random((REPORTS, 1, IMAGES)) < 0.3
    u = rng.uniform(0.25, 0.75, (REPORTS, 1, IMAGES))
    h = rng.uniform(-0.1, 0.1, (REPORTS, 1, IMAGES))
    p1 = u + effect / 2 + h + rng.normal(0, 0.025, (REPORTS, seeds, 1))
    p2 = u - effect / 2 - h + rng.normal(0, 0.025, (REPORTS, seeds, 1))
    d = (rng.random(p1.shape) < p1).astype(np.int8) - (rng.random(p2.shape) < p2)
    return d * ambiguous, 100 * 0.3 * effect


def error_reports(rng, seeds: int) -> tuple[np.ndarray, float]:
    """One model's mistakes on images drawn from a population, shaped like the report's row A (8.7% error,
    seed sd 0.12 against 0.28 points of image noise at 10,000 images): 6.2% of images always wrong, 5% wrong
    with probability u_i in [0.1, 0.9] plus a seed shift (sd 0.01), the rest always right. True error: 8.7%."""
    kind = rng.random((REPORTS, 1, IMAGES))
    p = rng.uniform(0.1, 0.9, (REPORTS, 1, IMAGES)) + rng.normal(0, 0.01, (REPORTS, seeds, 1))
    p = np.where(kind < 0.062, 1.0, np.where(kind < 0.112, p, 0.0))
    return (rng.random(p.shape) < p).astype(np.int8), 100 * (0.062 + 0.05 * 0.5)


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("regime", [paired_reports, error_reports], ids=["seed-noise", "image-noise"])
def test_the_95_interval_covers_the_truth_in_93_to_97_percent_of_reports(regime, seeds):
    rng = np.random.default_rng(seeds)
    table, truth = regime(rng, seeds)
    iv = stats.interval(table)
    seed_share = np.median(iv.se_seed**2 / (iv.se_seed**2 + iv.se_image**2))
    assert (seed_share > 0.8) if regime is paired_reports else (seed_share < 0.2)  # the regime it claims to be
    coverage = np.mean((iv.lo <= truth) & (truth <= iv.hi))
    print(f"{regime.__name__}, {seeds} seeds: coverage {coverage:.3f}")
    assert 0.93 <= coverage <= 0.97
