"""The report's statistics and verdicts are pure: numpy and scipy over outcomes, no torch, no evaluation code."""

import subprocess
import sys

import numpy as np
import pytest

from archspec.harness.report import stats
from archspec.harness.report.claims import Outcome, adjust, decide, table_row
from archspec.harness.suite import Claim, Row

from ...test_imports import ROOT

CODE = """
import sys
from pathlib import Path
from archspec.harness.suite import load_suite
from archspec.harness.report import claims, record, writer
suite = load_suite("quick")
outcomes, seeds = record.load_outcomes(Path(sys.argv[1]) / "outcomes.npz", suite)
tables, verdicts, per_configuration = claims.score(suite, outcomes)
assert verdicts and all(v["verdict"] for v in verdicts), verdicts
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "archspec.harness.evaluation",
                                                                         "archspec.harness.training.train")))
print(len(tables), len(verdicts), loaded)
"""


def test_statistics_and_verdicts_import_neither_torch_nor_the_evaluation_code():
    """The committed quick report's outcomes, scored in a fresh interpreter: tables and verdicts come out, and
    neither torch nor any evaluation module was imported on the way."""
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(ROOT / "docs" / "bench-quick")], capture_output=True, text=True, check=True
    )
    tables, verdicts, loaded = done.stdout.split(" ", 2)
    assert int(tables) >= 1 and int(verdicts) >= 1
    assert loaded.strip() == "[]"


def outcome_of(label, wrong, classes=10):
    return Outcome(Row(label=label, train=["x"], protocol="single"), label, wrong, wrong, None, None, None, classes)


def seeds_at(errors, n=1000, rng=None):
    """(seeds, n) mistakes with exactly these per-seed error rates (%), on shuffled images."""
    rng = rng or np.random.default_rng(0)
    wrong = np.zeros((len(errors), n))
    for s, e in enumerate(errors):
        wrong[s, rng.permutation(n)[: round(e * n / 100)]] = 1
    return wrong


def test_holm_runs_on_unrounded_p_values():
    """One claim at p = 0.050004 fails Holm at 5%; rounded to 4 decimals first (0.05) it would pass."""
    (claim,) = adjust([{"claim": "t", "raw verdict": "holds", "p": 0.050004, "seeds": 5}])
    assert claim["verdict"] == "inconclusive" and claim["raw verdict"] == "holds"
    assert claim["p"] == 0.05 and claim["holm p"] == 0.05  # rounded for display only, after deciding


def test_a_claims_p_value_reaches_holm_unrounded():
    a, b = outcome_of("a", seeds_at([10.0, 10.5, 10.2])), outcome_of("b", seeds_at([11.0, 11.4, 11.3]))
    rows = {"a": {"paper_top1": None}, "b": {"paper_top1": None}}
    overall, _ = decide(Claim(text="t", pairs=[("a", "b")]), {"a": a, "b": b}, rows)
    expected = stats.claim([stats.t_test(stats.paired(a.wrong1, b.wrong1), "lower")]).p
    assert overall["p"] == expected and overall["p"] != round(expected, 4)


def test_a_rows_error_interval_is_clipped_to_possible_rates():
    """All right on every image and seed: [0, 0]; 3 mistakes in 1,000 with one seed: the lower end is 0, not -0.04."""
    perfect = table_row(Row(label="p", train=["x"], protocol="single"), outcome_of("p", np.zeros((3, 1000))))
    assert (perfect["top1_err"], perfect["top1_lo"], perfect["top1_hi"]) == (0.0, 0.0, 0.0)
    few = np.zeros((1, 1000))
    few[0, :3] = 1
    r = table_row(Row(label="f", train=["x"], protocol="single"), outcome_of("f", few))
    assert (r["top1_err"], r["top1_lo"], r["top1_hi"]) == (0.3, 0.0, 0.64)


def test_bimodal_seeds_and_failed_runs_are_said_and_alike_seeds_are_not():
    assert outcome_of("alike", seeds_at([10.0, 10.3, 10.1])).seed_outcomes == ""
    bimodal = outcome_of("plain-34", seeds_at([33.4, 33.7, 22.4]))
    assert bimodal.seed_outcomes == "bimodal seeds: 33.40, 33.70, 22.40"
    failed = outcome_of("dead", seeds_at([10.0, 89.9, 10.2]))  # chance is 90% with 10 classes
    assert failed.seed_outcomes == "1 of 3 runs failed to train (chance 90%): 10.00, 89.90, 10.20"
    assert outcome_of("unknown", seeds_at([10.0, 10.3, 10.1]), classes=None).seed_outcomes == ""
    row = table_row(bimodal.row, bimodal)
    assert row["seed outcomes"].startswith("bimodal") and row["top1_per_seed"] == [33.4, 33.7, 22.4]


def test_a_configuration_with_bimodal_seeds_is_decided_by_the_exact_test_over_seeds():
    """plain-18 at 22.0 with every seed, plain-34 at 33.5 but for one seed at 22.4: the t interval over 5 seeds
    would call plain-34 worse; the sign-flip test over 5 seeds cannot go below p = 1/32, so it stays inconclusive
    and says why."""
    rng = np.random.default_rng(1)
    plain18 = outcome_of("plain-18", seeds_at([22.0, 22.1, 21.9, 22.0, 22.1], n=10_000, rng=rng))
    plain34 = outcome_of("plain-34", seeds_at([33.4, 33.7, 33.5, 33.6, 22.4], n=10_000, rng=rng))
    rows = {k: {"paper_top1": None} for k in ("plain-18", "plain-34")}
    outcomes = {"plain-18": plain18, "plain-34": plain34}
    overall, (per,) = decide(Claim(text="degradation", pairs=[("plain-18", "plain-34")]), outcomes, rows)
    t = stats.t_test(stats.paired(plain18.wrong1, plain34.wrong1), "lower")
    assert t.verdict == "holds"  # what the t interval alone would have said
    assert per["verdict"] == "inconclusive" and per["test"].startswith("exact sign-flip test over seeds (plain-34: ")
    assert overall["raw verdict"] == "inconclusive" and overall["p"] == pytest.approx(2 / 32)
    alike = outcome_of("x", seeds_at([30.0, 30.2, 30.1, 30.0, 30.1], n=10_000, rng=rng))
    _, (plain,) = decide(
        Claim(text="c", pairs=[("plain-18", "x")]), outcomes | {"x": alike}, rows | {"x": rows["plain-18"]}
    )
    assert plain["test"] == "t interval" and plain["verdict"] == "holds"


def test_a_row_scored_on_fewer_images_is_paired_on_the_images_both_scored():
    """A multi-crop row scored on the first 600 of 1,000 images (`multi_crop_images`) against a dense row on all
    1,000: the configuration is the paired difference over the first 600, as if both had scored only those."""
    rng = np.random.default_rng(2)
    dense = seeds_at([12.0, 12.5, 11.8], n=1000, rng=rng)
    crops = seeds_at([10.0, 10.4, 10.1], n=1000, rng=rng)[:, :600]
    outcomes = {"crops": outcome_of("crops", crops), "dense": outcome_of("dense", dense)}
    rows = {k: {"paper_top1": None} for k in outcomes}
    _, (per,) = decide(Claim(text="c", pairs=[("crops", "dense")]), outcomes, rows)
    expected = stats.paired(crops, dense[:, :600])
    assert per["images"] == 600
    assert (per["diff"], per["lo"], per["hi"]) == tuple(
        round(x, 2) + 0.0 for x in (expected.diff, expected.lo, expected.hi)
    )
    assert table_row(outcomes["crops"].row, outcomes["crops"])["images"] == 600
