"""The forest plot of a report's claims: written with every report, and plotting exactly claims.csv's numbers."""

import csv
import shutil

import pytest
from PIL import Image

from archspec.harness.bench.run import run_suite
from archspec.harness.report import forest

from ...test_imports import ROOT


def number(text: str) -> float | None:
    return float(text) if text else None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The committed quick report, recomputed from its outcomes in a copy: (its record, its folder)."""
    out = shutil.copytree(ROOT / "docs" / "bench-quick", tmp_path_factory.mktemp("forest") / "bench-quick")
    return run_suite("quick", str(out), log=lambda line: None, report_only=True), out


def test_the_forest_plot_is_written_with_the_report_and_linked_from_it(quick):
    _, out = quick
    with Image.open(out / forest.NAME) as png:
        assert png.format == "PNG" and png.height > png.width  # one line per configuration: a tall picture
    assert f"]({forest.NAME})" in (out / "report.md").read_text()


def test_the_forest_plot_draws_claims_csvs_numbers_coloured_by_the_verdict_after_holm(quick):
    record, out = quick
    with open(out / "claims.csv", newline="") as f:
        table = [r for r in csv.DictReader(f) if r["diff"]]
    rows = forest.forest_rows(record.claims, record.per_configuration)
    assert [(r["claim"], r["configuration"]) for r in rows] == [(t["claim"], t["configuration"]) for t in table]
    for r, t in zip(rows, table, strict=True):
        assert (r["diff"], r["lo"], r["hi"], r["paper_diff"]) == tuple(
            map(number, (t[k] for k in ("diff", "lo", "hi", "paper_diff")))
        )
    verdicts = {c["claim"]: c["verdict"].split(" (")[0] for c in record.claims}
    drawn = forest.figure(rows, "t").axes[0].containers  # one error bar per configuration, in order
    assert len(drawn) == len(table)
    for bar, t in zip(drawn, table, strict=True):
        (x,), (segment,) = bar.lines[0].get_xdata(), bar.lines[2][0].get_segments()
        assert x == number(t["diff"]) and [segment[0][0], segment[1][0]] == pytest.approx(
            [number(t["lo"]), number(t["hi"])]
        )
        assert bar.lines[0].get_color() == forest.COLOURS[verdicts[t["claim"]]]
