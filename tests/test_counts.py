"""Table 2 rows, the paper's rounding, and the golden-file check."""

import os

import pytest

from archspec.counts import check, millions, params, write_golden
from archspec.errors import ArchspecError


def test_millions_round_as_the_paper():
    assert [millions(n) for n in (132_863_336, 133_638_952, 143_667_240, 500_000, 499_999)] == [133, 134, 144, 1, 0]


def test_rows_in_argument_order_with_integer_keys():
    rows = params(["E", "A"]).rows
    assert [r["name"] for r in rows] == ["E", "A"]
    expected = {"weight_layers": 11, "params": 132_863_336, "params_m": 133, "macs": 7_609_090_048}
    assert {k: rows[1][k] for k in expected} == expected


def test_check_reports_every_difference(tmp_path):
    golden = tmp_path / "g.csv"
    golden.write_text("name,weight_layers,params,macs\nA,11,132863337,7609090048\nZ,1,1,1\n")
    diffs = check(params(["A", "B"]).rows, golden)
    assert diffs == [
        "A: params is 132,863,336, golden says 132,863,337",
        f"Z: in {golden} but not counted (pass its spec)",
        f"B: counted but not in {golden}",
    ]


def test_written_golden_checks_clean(tmp_path):
    rows = params().rows
    write_golden(rows, tmp_path / "g.csv")
    assert check(rows, tmp_path / "g.csv") == []


def test_small_nets_keep_three_significant_figures():
    """Below 10 M the paper's integer millions say nothing: 445,626 parameters is 0.446 M, not 0."""
    row = params(["A"], num_classes=10, input="32x32x3", width=0.125).rows[0]
    assert row["params"] == 445_626 and row["params_m"] == 0.446
    assert row["macs"] == 2_880_512 and row["gflops"] == 0.00576  # 5.76 MFLOPs


def test_a_golden_file_that_is_no_regular_bounded_file_is_refused_before_it_is_read(tmp_path):
    """A FIFO would block the reader forever and /dev/zero would fill memory: both are one line at once."""
    os.mkfifo(tmp_path / "g.csv")
    with pytest.raises(ArchspecError, match="g.csv: is not a regular file .*; expected a golden CSV"):
        check([], tmp_path / "g.csv")
    with pytest.raises(ArchspecError, match="/dev/zero: is not a regular file"):
        check([], "/dev/zero")
