"""`archspec bench`: suite validation, a whole tiny suite, resuming, and honest incomplete reports."""

import pytest

from archspec.errors import ArchspecError
from archspec.harness import bench
from archspec.harness.bench import load_suite, run_suite

SUITE = """
[suite]
name = "tiny"
data = "synthetic"
crop = 16
epochs = 1
batch = 16
init = "glorot"

[[train]]
id = "T/16"
spec = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"
scale = "16:20"

[[train]]
id = "U/16"
spec = "input 16x16x3 conv3-4 maxpool conv3-6 maxpool FC-16 FC-4 soft-max"
scale = "16:20"
finetune = "T/16"

[[table]]
name = "Table X"
title = "tiny"
rows = [
  { label = "T single", train = ["T/16"], protocol = "single", paper_top1 = 30.0, paper_top5 = 10.0 },
  { label = "T multi", train = ["T/16"], protocol = "multi", method = "multi-crop & dense" },
  { label = "T+U", train = ["T/16", "U/16"], protocol = "multi", method = "dense" },
]

[[claim]]
text = "multi-scale helps"
better = ["T multi"]
worse = ["T single"]
"""


def write(tmp_path, text):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return str(path)


def test_shipped_suites_load():
    quick, paper = load_suite("quick"), load_suite("paper")
    assert len(paper.train) == 12 and [t.name for t in paper.table] == ["Table 3", "Table 4", "Table 5", "Table 6"]
    assert sum(len(t.rows) for t in quick.table) >= 20 and len(quick.claim) == 7
    row = next(r for r in paper.table[0].rows if r.label == "D [256;512] 384")
    assert (row.paper_top1, row.paper_top5) == (25.6, 8.1)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("epochs = 1", "epoch = 1"), r"suite\.epoch: unknown key"),
        (
            lambda s: s.replace('scale = "16:20"\n\n[[train]]', 'scale = "16:20"\nspeed = 2\n\n[[train]]'),
            r"train\.0\.speed: unknown key",
        ),
        (
            lambda s: s.replace('train = ["T/16"], protocol = "single"', 'train = ["Z/1"], protocol = "single"'),
            "unknown train id 'Z/1'",
        ),
        (lambda s: s.replace('finetune = "T/16"', 'finetune = "U/16"'), "refers to 'U/16'; expected an id trained"),
        (lambda s: s.replace("[suite]", "[suite"), "expected a TOML suite"),
    ],
)
def test_bad_suites_are_clear_errors(tmp_path, edit, message):
    with pytest.raises(ArchspecError, match=message):
        load_suite(write(tmp_path, edit(SUITE)))


def test_missing_data_fails_before_training(tmp_path):
    with pytest.raises(ArchspecError, match="imagenet: no such folder; expected the suite's data"):
        run_suite("paper", str(tmp_path / "out"), data=str(tmp_path / "imagenet"))
    assert not (tmp_path / "out").exists()


def test_missing_suite():
    with pytest.raises(ArchspecError, match="no such suite file"):
        load_suite("nonexistent")


def test_tiny_suite_end_to_end_then_reuse(tmp_path):
    suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', ""))
    result = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)
    assert result["complete"] and result["trained"] == {"T/16": "trained", "U/16": "trained"}
    rows = result["tables"][0]["rows"]
    assert rows[0]["diff_top1"] == pytest.approx(rows[0]["top1_err"] - 30.0, abs=0.01)
    assert rows[2]["ours"] == "T/16/16,18,20 + U/16/16,18,20" and rows[2]["top1_err"] is not None
    assert result["claims"][0]["holds"] in ("holds", "does not hold")
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith("# archspec bench: tiny\n\nComplete") and "Table X" in report
    assert (tmp_path / "out" / "Table_X.png").stat().st_size > 5_000
    again = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)
    assert again["trained"] == {"T/16": "reused", "U/16": "reused"}
    assert again["tables"][0]["rows"] == rows  # evaluations come from the cache, unchanged


def test_a_failed_entry_makes_the_report_say_incomplete(tmp_path, monkeypatch):
    suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', ""))
    real = bench.train

    def fail_u(cfg):
        if cfg.out.endswith("U_16"):
            raise ArchspecError("loss became nan")
        return real(cfg)

    monkeypatch.setattr(bench, "train", fail_u)
    result = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)
    assert not result["complete"] and result["status"].startswith("INCOMPLETE: 1 of 3 table rows have no result")
    assert (tmp_path / "out" / "report.md").read_text().split("\n")[2].startswith("INCOMPLETE")
    monkeypatch.setattr(bench, "train", real)
    resumed = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)  # rerun: only U is trained
    assert resumed["complete"] and resumed["trained"] == {"T/16": "reused", "U/16": "trained"}


def test_scaling_measures_one_and_two_processes(tmp_path):
    suite = load_suite(write(tmp_path, SUITE.replace('finetune = "T/16"\n', "")))
    rows = bench.scaling(suite, tmp_path / "out", devices=2, data=None)
    assert [r["processes"] for r in rows] == [1, 2] and rows[0]["speedup"] == 1.0
    assert rows[1]["efficiency_%"] == pytest.approx(100 * rows[1]["speedup"] / 2, abs=0.1)
