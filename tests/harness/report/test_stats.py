"""Intervals and paired tests against known binomial cases and constructed examples with known answers."""

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from archspec.harness.report import stats


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


def test_one_seed_is_the_normal_interval_of_the_test_images():
    wrong = np.zeros((1, 10_000))
    wrong[0, :700] = 1  # 7% error on 10,000 images: the note's 0.26-point standard error
    iv = stats.interval(wrong)
    se = 100 * math.sqrt(0.07 * 0.93 / 9_999)  # sample variance (n - 1) over n
    assert iv.diff == pytest.approx(7.0) and iv.se_seed == 0 and iv.se_image == pytest.approx(se)
    assert (iv.hi - iv.lo) / 2 == pytest.approx(student_t.ppf(0.975, 9_999) * se)
    wlo, whi = stats.wilson(700, 10_000)
    assert iv.lo == pytest.approx(wlo, abs=0.02) and iv.hi == pytest.approx(whi, abs=0.02)


def test_seed_part_uses_students_t_with_seeds_minus_one_degrees_of_freedom():
    """Three seeds wrong on disjoint images (2, 3 and 4 points): no image is wrong twice, so the images' shared
    part is what the interaction leaves; the seed part is the t interval over the per-seed means, by hand."""
    n = 1000
    v = np.zeros((3, n))
    v[0, :20], v[1, 100:130], v[2, 200:240] = 1, 1, 1
    iv = stats.interval(v)
    se_seed = np.std([2.0, 3.0, 4.0], ddof=1) / math.sqrt(3)  # 0.577 points
    assert iv.diff == pytest.approx(3.0) and iv.se_seed == pytest.approx(se_seed)
    half = math.hypot(student_t.ppf(0.975, 2) * se_seed, student_t.ppf(0.975, n - 1) * iv.se_image)
    assert (iv.lo, iv.hi) == pytest.approx((3.0 - half, 3.0 + half))
    assert iv.hi - iv.lo > 2 * 4.30 * se_seed  # t with 2 degrees of freedom, not 1.96


def test_the_images_shared_part_does_not_average_out_over_seeds():
    """Every seed wrong on the same 70 of 1,000 images: no seed noise, and the test set's noise is that of one
    seed however many seeds there are."""
    same = np.zeros((5, 1000))
    same[:, :70] = 1
    iv, one = stats.interval(same), stats.interval(same[:1])
    assert iv.se_seed == 0 and iv.se_image == pytest.approx(one.se_image, rel=1e-3)


def test_paired_difference_has_the_known_effect_and_standard_error():
    n = 1000
    first, second = np.zeros((1, n)), np.zeros((1, n))
    first[0, :100], second[0, :50] = 1, 1  # first is wrong on 50 more images, the same 50 as second otherwise
    p = stats.paired(first, second)
    se = 100 * math.sqrt(0.05 * 0.95 / (n - 1))  # per-image difference: 1 on 50 images, 0 elsewhere
    assert p.diff == pytest.approx(5.0) and p.se_image == pytest.approx(se)
    assert stats.verdict(p, "lower") == "contradicted"  # "first has lower error" is refuted
    assert stats.verdict(stats.paired(second, first), "lower") == "holds"


def test_pairing_is_what_gives_power():
    """Two models that differ on only 12 of 2,000 images, always in the same direction: the paired test holds
    although the two error rates' own intervals overlap almost entirely."""
    n = 2000
    a, b = np.zeros((1, n)), np.zeros((1, n))
    b[0, :300] = 1
    a[0, 12:300] = 1
    assert stats.wilson(288, n)[1] > stats.wilson(300, n)[0]  # unpaired intervals overlap
    assert stats.verdict(stats.paired(a, b), "lower") == "holds"


def test_identical_models_are_inconclusive_for_lower_and_hold_for_no_worse():
    same = (np.random.default_rng(0).random((3, 500)) < 0.2).astype(float)
    p = stats.paired(same, same)
    assert (p.diff, p.lo, p.hi) == (0.0, 0.0, 0.0)
    assert stats.verdict(p, "lower") == "inconclusive"
    assert stats.verdict(p, "no_worse", margin=0.5) == "holds"


@pytest.mark.parametrize("shift", [1, 5, 9, 14])
def test_one_sided_p_values_match_the_interval(shift):
    """p below 0.025 exactly when the 95% interval lies on that side of the bound."""
    rng = np.random.default_rng(shift)
    a = (rng.random((3, 800)) < 0.1).astype(float)
    b = a.copy()
    b[:, : shift * 3] = 1 - b[:, : shift * 3]
    p = stats.paired(a, b)
    assert (stats.p_below(p, 0.0) < 0.025) == (p.hi < 0) and (stats.p_above(p, 0.0) < 0.025) == (p.lo > 0)
    assert stats.p_below(p, 0.0) + stats.p_above(p, 0.0) == pytest.approx(1.0)
    edge = stats.p_below(p, p.hi)  # at the interval's own upper end: exactly 0.025
    assert edge == pytest.approx(0.025, abs=1e-6) and stats.p_above(p, p.lo) == pytest.approx(0.025, abs=1e-6)


def interval_at(diff, se):
    return stats.Interval(diff, diff - 1.96 * se, diff + 1.96 * se, 0.0, se, 1, 10**9)  # effectively normal


def t_claim(*intervals):
    return stats.claim([stats.t_test(i, "lower") for i in intervals])


def test_a_claim_holds_only_if_every_configuration_holds_and_is_contradicted_if_any_is():
    holds, unsure, against = interval_at(-1.0, 0.2), interval_at(-0.1, 0.2), interval_at(1.0, 0.2)
    assert t_claim(holds, holds).verdict == "holds"
    assert t_claim(holds, unsure).verdict == "inconclusive"
    assert t_claim(holds, against).verdict == "contradicted"  # a large effect does not outvote it
    both = t_claim(holds, interval_at(-0.5, 0.2))
    assert both.p == pytest.approx(2 * student_t.cdf(-0.5 / 0.2, 10**9 - 1), rel=1e-3)  # the weaker one decides
    one = t_claim(against, interval_at(0.0, 0.2))
    assert one.p == pytest.approx(2 * 2 * student_t.sf(1.0 / 0.2, 10**9 - 1), rel=1e-3)  # x2: either may contradict


def test_an_error_rate_interval_stays_inside_0_and_100():
    """The quick report's B top-5 row: 3 mistakes in 1,000 images, one seed. The symmetric interval is
    0.3 -+ t_999 x 100 sqrt(0.003 x 0.997 / 999), whose lower end, -0.04, no error rate can have; clipped to 0."""
    few = np.zeros((1, 1000))
    few[0, :3] = 1
    half = student_t.ppf(0.975, 999) * 100 * math.sqrt(0.003 * 0.997 / 999)
    assert round(stats.interval(few).lo, 2) == -0.04 and round(0.3 - half, 2) == -0.04
    iv = stats.error_rate(few)
    assert (iv.diff, iv.lo) == (pytest.approx(0.3), 0.0) and iv.hi == pytest.approx(0.3 + half)
    for wrong, at in ((np.zeros((3, 500)), 0.0), (np.ones((3, 500)), 100.0)):  # all right, all wrong: no noise
        iv = stats.error_rate(wrong)
        assert (iv.diff, iv.lo, iv.hi) == (at, at, at)
    nearly = np.ones((1, 1000))
    nearly[0, :3] = 0
    assert stats.error_rate(nearly).hi == 100.0 and stats.interval(nearly).hi > 100


@pytest.mark.parametrize(
    "errors, bimodal",
    [
        ([33.40, 33.73, 22.36], True),  # the referee's plain-34: gap 11.04 against a spread of 0.46 (the floor)
        ([10.1, 10.3, 12.0], False),  # gap 1.7, spread 0.46: 3.7 times, under 6
        ([10.1, 10.3, 13.3], True),  # gap 3.0: 6.7 times the floor (the groups' own spread is 0.14)
        ([10.0, 10.2, 10.4, 10.6, 10.8], False),  # evenly spread
        ([10.0, 10.1, 10.2, 20.0, 20.1], True),
        ([10.0, 20.0], False),  # two seeds: no groups to tell apart
    ],
)
def test_bimodal_seeds_are_a_gap_many_times_the_spread_within_the_groups(errors, bimodal):
    floor = 0.45
    assert stats.bimodal(np.array(errors), floor=floor) is bimodal


def test_the_bimodal_rule_seldom_fires_on_normal_seeds():
    """Its docstring's false-alarm rates: seeds drawn from one normal, floor at half their sd."""
    rng = np.random.default_rng(0)
    for seeds, most in ((3, 0.02), (5, 0.005)):
        fired = np.mean([stats.bimodal(rng.normal(0, 1, seeds), floor=0.5) for _ in range(4000)])
        assert fired < most


def test_the_seed_test_is_the_exact_sign_flip_test():
    """5 seeds all below 0: 1 of 32 sign patterns is as low, p = 1/32, above 2.5%: it cannot decide; 6 seeds can
    (1/64). The bound moves with the margin of a no_worse claim."""
    five = stats.seed_test(np.array([-1.0, -2.0, -0.5, -3.0, -1.5]), "lower")
    assert five.p_holds == pytest.approx(1 / 32) and five.p_contra == pytest.approx(1.0)
    assert five.verdict == "inconclusive"
    six = stats.seed_test(np.array([-1.0, -2.0, -0.5, -3.0, -1.5, -0.1]), "lower")
    assert six.p_holds == pytest.approx(1 / 64) and six.verdict == "holds"
    mixed = stats.seed_test(np.array([-1.0, 2.0, -3.0, -4.0, -5.0]), "lower")
    assert mixed.p_holds == pytest.approx(3 / 32)  # sums as low as -11: this one, -13 (1 flipped too), -15
    margin = stats.seed_test(np.array([0.6, 0.7, 0.8, 0.9, 1.0, 0.55]), "no_worse", margin=0.5)
    assert margin.verdict == "contradicted" and margin.p_contra == pytest.approx(1 / 64)
    below = stats.seed_test(np.array([0.6, 0.7, 0.8, 0.9, 1.0, 0.55]), "no_worse", margin=1.5)
    assert below.verdict == "holds"
    assert stats.seed_test(np.array([-50.0]), "lower") == stats.ConfigTest("inconclusive", 1.0, 1.0)  # one seed


def test_holm_rejects_in_order_and_stops_at_the_first_failure():
    """m = 4 at 5%: sorted 0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops (0.04 is not tested)."""
    adjusted, rejected = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert rejected == [True, False, False, True]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])  # max over j <= k of (m - j + 1) p_(j)
    assert stats.holm([0.04])[1] == [True] and stats.holm([]) == ([], [])
