"""Intervals and paired tests against known binomial cases and constructed examples with known answers."""

import math

import numpy as np
import pytest

from archspec.harness import stats


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [
        (5, 10, 23.659, 76.341),  # published values (e.g. statsmodels' proportion_confint, method="wilson")
        (0, 10, 0.0, 27.753),
        (10, 10, 72.247, 100.0),
    ],
)
def test_wilson_matches_published_values(k, n, lo, hi):
    got = stats.wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-3)


@pytest.mark.parametrize("k, n", [(1, 20), (70, 1000), (300, 1000), (9999, 10000)])
def test_wilson_ends_solve_the_score_equation(k, n):
    """The Wilson interval is {p : |k - np| <= z sqrt(n p (1 - p))}: both ends make it an equality."""
    for end in stats.wilson(k, n):
        p = end / 100
        if 0 < p < 1:
            assert abs(k - n * p) == pytest.approx(stats.Z95 * math.sqrt(n * p * (1 - p)), rel=1e-9)


def test_mean_interval_of_one_seed_is_close_to_wilson():
    wrong = np.zeros((1, 10_000))
    wrong[0, :700] = 1  # 7% error on 10,000 images: the note's 0.26-point standard error
    mean, lo, hi = stats.mean_interval(wrong, stats.resamples(10_000))
    assert mean == pytest.approx(7.0)
    wlo, whi = stats.wilson(700, 10_000)
    assert lo == pytest.approx(wlo, abs=0.1) and hi == pytest.approx(whi, abs=0.1)
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.sqrt(0.07 * 0.93 / 10_000) * 100, abs=0.05)


def test_paired_difference_has_the_known_effect_and_standard_error():
    n = 1000
    first, second = np.zeros((1, n)), np.zeros((1, n))
    first[0, :100], second[0, :50] = 1, 1  # first is wrong on 50 more images, the same 50 as second otherwise
    p = stats.paired(first, second, stats.resamples(n))
    se = 100 * math.sqrt(0.05 * 0.95 / n)  # per-image difference: 1 on 50 images, 0 elsewhere
    assert p.diff == pytest.approx(5.0)
    assert p.lo == pytest.approx(5.0 - 1.96 * se, abs=0.3) and p.hi == pytest.approx(5.0 + 1.96 * se, abs=0.3)
    assert stats.verdict(p, "lower") == "contradicted"  # "first has lower error" is refuted
    assert stats.verdict(stats.paired(second, first, stats.resamples(n)), "lower") == "holds"


def test_pairing_is_what_gives_power():
    """Two models that differ on only 12 of 2,000 images, always in the same direction: the paired test holds
    although the two error rates' own intervals overlap almost entirely."""
    n = 2000
    a, b = np.zeros((1, n)), np.zeros((1, n))
    b[0, :300] = 1
    a[0, 12:300] = 1
    rs = stats.resamples(n)
    assert stats.wilson(288, n)[1] > stats.wilson(300, n)[0]  # unpaired intervals overlap
    assert stats.verdict(stats.paired(a, b, rs), "lower") == "holds"


def test_identical_models_are_inconclusive_for_lower_and_hold_for_no_worse():
    same = (np.random.default_rng(0).random((3, 500)) < 0.2).astype(float)
    p = stats.paired(same, same, stats.resamples(500, 3))
    assert (p.diff, p.lo, p.hi) == (0.0, 0.0, 0.0)
    assert stats.verdict(p, "lower") == "inconclusive"
    assert stats.verdict(p, "no_worse", margin=0.5) == "holds"


def test_seeds_are_pooled_by_their_mean_and_their_spread_widens_the_interval():
    n = 1000
    first = np.zeros((2, n))
    first[0, :20], first[1, :40] = 1, 1  # seed 0: +2 points, seed 1: +4 points over a perfect second model
    p = stats.paired(first, np.zeros((2, n)), stats.resamples(n, 2))
    assert p.diff == pytest.approx(3.0)
    alike = np.zeros((2, n))
    alike[:, :30] = 1  # both seeds +3 points: only the test images vary
    q = stats.paired(alike, np.zeros((2, n)), stats.resamples(n, 2))
    assert p.hi - p.lo > q.hi - q.lo  # seeds that disagree give a wider interval than seeds that agree
    assert p.lo < 2.5 and p.hi > 3.5  # about the seed-level range {2, 3, 4}
    pooled = stats.pooled([first, -first], stats.resamples(n, 2))
    assert pooled.diff == pytest.approx(0.0)


def test_one_seed_is_a_plain_image_bootstrap_and_resamples_are_reproducible():
    one = stats.resamples(50, 1, b=10)
    assert not one.seeds.any() and one.counts.sum(1).tolist() == [50] * 10
    assert np.array_equal(one.counts, stats.resamples(50, 1, b=10).counts)
