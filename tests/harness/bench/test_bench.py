"""`archspec bench`: suite validation, a whole tiny suite over two seeds, resuming, reuse only of identical
runs, "not comparable" rows kept out of verdicts, and honest incomplete reports."""

import json
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.harness.bench import run as bench
from archspec.harness.bench.run import run_suite
from archspec.harness.planning import cost as cost_model
from archspec.harness.report import writer as bench_report
from archspec.harness.report.claims import Outcome, adjust, decide
from archspec.harness.report.record import Compute
from archspec.harness.suite import Claim, Row, ScaleMap, load_suite
from archspec.harness.training import peak

SUITE = """
[suite]
name = "tiny"
data = "synthetic"
crop = 16
epochs = 1
batch = 16
init = "glorot"
seeds = 2
eval_limit = 60

[[train]]
id = "T/16"
spec = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"
scale = "[280;448]"

[[train]]
id = "U/16"
spec = "input 16x16x3 conv3-4 maxpool conv3-6 maxpool FC-16 FC-4 soft-max"
scale = "[280;448]"
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
pairs = [["T multi", "T single"]]
"""


def write(tmp_path, text):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return str(path)


def test_shipped_suites_load():
    quick, small, paper = load_suite("quick"), load_suite("small"), load_suite("paper")
    assert [t.name for t in paper.table][:4] == ["Table 3", "Table 4", "Table 5", "Table 6"]
    assert [t.name for t in paper.paper_table] == ["Table 7"]
    row = next(r for r in paper.table[0].rows if r.label == "D [256;512] 384")
    assert (row.paper_top1, row.paper_top5) == (25.6, 8.1)
    assert (small.suite.seeds, small.suite.seed, small.suite.data) == (5, 110, "fashion-mnist")  # confirmatory
    for suite in (quick, paper, small):  # every claim of the paper, in each (depth as the paper states it: two)
        assert len(suite.claim) == 12


def test_the_suites_lr_steps_apply_only_inside_an_entrys_epochs(tmp_path):
    quick = load_suite("quick")
    by_id = {e.id: e for e in quick.train}
    main = bench.entry_config(quick, by_id["D/256"], tmp_path, 0, 1, None).recipe
    tuned = bench.entry_config(quick, by_id["D/384"], tmp_path, 0, 1, None).recipe
    assert (main.epochs, main.lr, main.schedule, main.lr_steps) == (6, 0.05, "steps", (4,))  # the last 2 at lr / 10
    assert (tuned.epochs, tuned.schedule, tuned.lr_steps) == (2, "plateau", ())


def test_only_nets_that_are_not_fine_tuned_warm_up(tmp_path):
    small = load_suite("small")
    by_id = {e.id: e for e in small.train}
    main = bench.entry_config(small, by_id["D/256"], tmp_path, 0, 1, None).recipe
    tuned = bench.entry_config(small, by_id["D/384"], tmp_path, 0, 1, None).recipe
    assert (main.epochs, main.lr, main.schedule, main.warmup, main.dropout) == (6, 0.1, "linear", 0.5, 0.0)
    assert (main.precision, main.label_smoothing, bench.eval_precision(small)) == ("auto", 0.1, "auto")
    assert (tuned.epochs, tuned.lr, tuned.schedule, tuned.warmup) == (1, 0.01, "linear", 0.0)


def header_of(suite, root, report_only=False):
    """What the report's header is written from, for a folder with no runs: bench gathers it on this machine."""
    return SimpleNamespace(facts=bench.facts(root, suite, None, 1, report_only))


def test_a_suites_precision_and_label_smoothing_reach_training_evaluation_and_the_header(tmp_path, bf16_units):
    suite = load_suite(
        write(tmp_path, SUITE.replace("seeds = 2", 'seeds = 2\nprecision = "fp32"\nlabel_smoothing = 0.1'))
    )
    recipe = bench.entry_config(suite, suite.train[1], tmp_path, 0, 1, None).recipe
    assert (recipe.precision, recipe.label_smoothing) == (Precision.fp32, 0.1)
    assert bench.eval_precision(suite) is Precision.fp32
    assert "label_smoothing 0.1 (paper: 0.0)" in bench_report._recipe_lines(suite)
    assert bench_report._precision_line(header_of(suite, tmp_path)) == (
        "fp32 (asked for), in training and evaluation (paper: fp32)"
    )
    plain = load_suite(write(tmp_path, SUITE))  # auto, resolved where it runs, in training and evaluation alike
    assert bench.entry_config(plain, plain.train[0], tmp_path, 0, 1, None).recipe.precision is Precision.auto
    assert bench.eval_precision(plain) is Precision.auto
    bf16_units(amx=True)
    line = bench_report._precision_line(header_of(plain, tmp_path))
    assert line.startswith("bf16 (auto: this CPU has AMX); autocast: convs and matmuls in bfloat16;")
    bf16_units()
    assert bench_report._precision_line(header_of(plain, tmp_path)).startswith(
        "fp32 (auto: this CPU has no bf16 units, AMX or AVX512-BF16), in training and evaluation"
    )
    recomputed = header_of(plain, tmp_path, report_only=True)  # no runs here, and no earlier line
    assert bench_report._precision_line(recomputed).startswith("auto, resolved on the machine that trained the runs")
    bench._save_record(tmp_path, str(tmp_path / "suite.toml"), 60.0, 2, peak.measure(), "fp32 (auto: as recorded)")
    bf16_units(amx=True)  # recomputed where auto would now choose bf16: the line is the one the runs ran under
    assert header_of(plain, tmp_path, report_only=True).facts.precision == "fp32 (auto: as recorded)"
    assert header_of(plain, tmp_path).facts.precision.startswith("bf16 (auto: this CPU has AMX)")  # a bench run here


def test_a_suite_that_insists_on_bf16_on_a_cpu_without_bf16_units_stops_before_training(tmp_path, bf16_units):
    bf16_units()
    path = write(tmp_path, SUITE.replace("seeds = 2", 'seeds = 2\nprecision = "bf16"'))
    with pytest.raises(ArchspecError, match=r"suite\.toml: suite\.precision: found bf16 on a CPU without bf16 units"):
        run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    assert not (tmp_path / "out").exists()  # nothing trained, no folder made


def test_scale_mapping_keeps_the_papers_ratios():
    m = ScaleMap(32)
    assert m.train("256") == (37, 37) and m.train("[256;512]") == (37, 73)  # 256/224 x 32, 512/224 x 32
    assert m.test_scales("256") == ([224, 256, 288], [32, 37, 42])  # what `eval` of the run uses too
    assert m.test_scales("[256;512]") == ([256, 384, 512], [37, 55, 73])
    assert ScaleMap(224).train("384") == (384, 384)
    with pytest.raises(ArchspecError, match="maps to 27 at crop 32, smaller than the crop"):
        m.train("192")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("epochs = 1", "epoch = 1"), r"suite\.epoch: unknown key"),
        (
            lambda s: s.replace('scale = "[280;448]"\n\n[[train]]', 'scale = "[224;280]"\nspeed = 2\n\n[[train]]'),
            r"train\.0\.speed: unknown key",
        ),
        (
            lambda s: s.replace('train = ["T/16"], protocol = "single"', 'train = ["Z/1"], protocol = "single"'),
            "unknown train id 'Z/1'",
        ),
        (
            lambda s: s.replace('finetune = "T/16"', 'finetune = "U/16"'),
            "refers to 'U/16'; expected an id trained.*it$",
        ),
        (lambda s: s.replace("[suite]", "[suite"), r"suite.toml:2:7: found expected '\]' .*; expected a TOML suite"),
        (lambda s: s.replace("crop = 16", "crop = -32"), r"suite\.crop: found -32; expected greater than or equal"),
        (lambda s: s.replace("crop = 16", "crop = 0"), r"suite\.crop: found 0; expected greater than or equal to 1"),
        (
            lambda s: s.replace('"input 16x16x3 conv3-4 maxpool conv3-6 maxpool FC-16 FC-4 soft-max"', '"none.txt"'),
            "U/16': none.txt: no such",
        ),
        (lambda s: s.replace("seeds = 2", "seeds = " + "[" * 5000 + "]" * 5000), "found TOML nested too deeply"),
        (lambda s: s.replace('id = "U/16"', 'id = "T_16"'), "'T/16' and 'T_16' share the run folder"),
        (lambda s: s.replace('id = "U/16"', 'id = "T/16"'), "train id 'T/16' appears twice"),
        (lambda s: s.replace('["T multi", "T single"]', '["T multi", "T nope"]'), "no table row 'T nope'"),
        (lambda s: s.replace("eval_limit = 60", "eval_limit = 0"), r"suite\.eval_limit: found 0; expected greater"),
        (
            lambda s: s.replace("eval_limit = 60", 'eval_limit = 60\nschedule = "steps"'),
            "schedule 'steps' with no lr_steps in \\[suite\\] or any entry",
        ),
        (
            lambda s: s.replace("eval_limit = 60", "eval_limit = 60\nwarmup = 0.5"),
            "warmup 0.5 with schedule 'plateau'; expected schedule 'linear'",
        ),
    ],
)
def test_bad_suites_are_clear_errors(tmp_path, edit, message):
    with pytest.raises(ArchspecError, match=message):
        load_suite(write(tmp_path, edit(SUITE)))


def test_missing_data_fails_before_training(tmp_path):
    with pytest.raises(ArchspecError, match="imagenet: no such folder; expected the suite's data"):
        run_suite("paper", str(tmp_path / "out"), data=str(tmp_path / "imagenet"))
    assert not (tmp_path / "out").exists()


def test_the_suite_hash_ignores_comments_and_layout(tmp_path):
    from archspec.harness.suite import suite_hash

    a = suite_hash(write(tmp_path, SUITE))
    assert suite_hash(write(tmp_path, "# a comment fixed\n" + SUITE.replace("epochs = 1", "epochs   =  1  # one"))) == a
    assert suite_hash(write(tmp_path, SUITE.replace("epochs = 1", "epochs = 2"))) != a
    noted = SUITE.replace('title = "tiny"\n', 'title = "tiny"\nfootnote = "paper columns: Table 3"\n')
    assert load_suite(write(tmp_path, noted)).table[0].footnote == "paper columns: Table 3"
    assert suite_hash(write(tmp_path, noted)) == a  # a footnote changes no number


def test_missing_suite():
    with pytest.raises(ArchspecError, match="no such suite file"):
        load_suite("nonexistent")


def test_tiny_suite_end_to_end_then_reuse(tmp_path, monkeypatch):
    suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', ""))
    result = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)
    assert result.complete
    assert result.trained == {f"{i} seed {s}": "trained" for s in (0, 1) for i in ("T/16", "U/16")}
    rows = result.tables[0]["rows"]
    single = rows[0]
    assert single["seeds"] == 2 and single["images"] == 60  # eval_limit
    assert single["top1_lo"] <= single["top1_err"] <= single["top1_hi"] and single["top1_seed_sd"] is not None
    assert single["diff_top1"] == pytest.approx(single["top1_err"] - 30.0, abs=0.01)
    assert rows[2]["ours"].startswith("T/16/") and rows[2]["top1_err"] is not None  # an ensemble, per seed
    claim = result.claims[0]
    assert claim["verdict"] in ("holds", "contradicted", "inconclusive") and 0 <= claim["p"] <= claim["holm p"] <= 1
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    assert report.startswith("# archspec bench: tiny") and "\nComplete" in report and "Table X" in report
    threads = json.loads((out / "runs" / "T_16" / "seed0" / "run.json").read_text())["threads"]
    facts = ("sha256", "Scale mapping:** crop 224 -> 16", "Seeds:** 0, 1", f"{threads} torch thread", "Wall time")
    for fact in facts + ("the scored split was evaluated 1 time",):
        assert fact in report
    assert (out / "runs" / "T_16" / "seed1" / "holdout.json").is_file()
    assert (out / "Table_X.png").stat().st_size > 5_000 and (out / "claims.csv").is_file()
    cache = out / "evals" / "T_16" / "seed0.safetensors"
    made = cache.stat().st_mtime_ns
    again = run_suite(suite, str(out), log=lambda line: None)
    assert set(again.trained.values()) == {"reused"}
    assert again.tables[0]["rows"] == rows and cache.stat().st_mtime_ns == made  # from the cache, unchanged
    monkeypatch.setattr(bench, "code_hash", lambda: "other code")  # the evaluation path's source changed
    third = run_suite(suite, str(out), log=lambda line: None)
    assert cache.stat().st_mtime_ns != made and third.tables[0]["rows"] == rows  # recomputed, never reused
    per_seed = (out / "per_seed.csv").read_text().splitlines()
    assert per_seed[0] == "table,row,seed,top1_err,top5_err" and len(per_seed) == 1 + 3 * 2  # 3 rows x 2 seeds
    recomputed = run_suite(suite, str(out), log=lambda line: None, report_only=True)  # from outcomes.npz alone
    assert recomputed.tables == third.tables and recomputed.claims == third.claims
    assert recomputed.trained == {} and "**Recomputed:** every interval" in (out / "report.md").read_text()
    looks = [json.loads(line) for line in (out / "scored.jsonl").read_text().splitlines()]
    # a line per evaluation as it ends (2 entries x 2 seeds), then the report's: evaluated, cached, redone, read
    assert [len(look["evaluated"]) for look in looks] == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0]
    assert [look["report"] for look in looks] == [False] * 4 + [True, True] + [False] * 4 + [True, True]
    assert looks[0]["seeds"] == [0, 1] and looks[0]["entries"] == ["T/16", "U/16"] and "commit" in looks[0]
    precision = next(line for line in (out / "report.md").read_text().splitlines() if line.startswith("- **Precision"))
    shutil.rmtree(out / "runs")  # a committed report's folder: its cost table is the one its runs were timed for
    committed = run_suite(suite, str(out), log=lambda line: None, report_only=True)
    assert committed.throughput == third.throughput
    assert precision in (out / "report.md").read_text().splitlines()  # what the runs trained in, not this machine
    assert "## Cost and throughput" in (out / "report.md").read_text()


def test_an_edited_suite_is_noted_and_a_changed_entry_is_never_silently_reused(tmp_path):
    path = write(tmp_path, SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1"))
    run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    write(
        tmp_path,
        SUITE.replace('finetune = "T/16"\n', "")
        .replace("seeds = 2", "seeds = 1")
        .replace("conv3-6 maxpool FC-16", "conv3-7 maxpool FC-16"),
    )
    lines = []
    result = run_suite(path, str(tmp_path / "out"), log=lines.append)
    assert any("the suite file changed" in line for line in lines)
    assert not result.complete and "U_16/seed0: holds a run of another network (the spec" in result.status
    assert "changed since this folder's runs were made" in (tmp_path / "out" / "report.md").read_text()


def outcome_of(label, wrong, protocol="multi", dense_map=None, crop_views=None):
    return Outcome(Row(label=label, train=["x"], protocol=protocol), label, wrong, wrong, dense_map, crop_views)


def test_rows_that_cannot_stand_for_the_method_are_not_comparable_and_left_out_of_verdicts():
    n = 400
    worse, better = np.zeros((1, n)), np.zeros((1, n))
    worse[0, :80], better[0, :40] = 1, 1
    collapsed = outcome_of("D dense", better, dense_map=1)  # a 1x1 score map is one whole-image view
    few_crops = outcome_of("D multi-crop", better, crop_views=18)
    fine = outcome_of("D single", worse, protocol="single", dense_map=1)  # single scale: no 2x2 requirement
    assert collapsed.comparable.startswith("not comparable: dense map 1x1")
    trimmed = Outcome(Row(label="t", train=["x"], protocol="single"), "t", worse, worse, 1, None, 32**2 / 55**2)
    assert trimmed.comparable == "not comparable: dense windows cover 34% of the image"  # the old centre trim
    assert few_crops.comparable == "not comparable: 18 distinct crops, not 50"
    assert fine.comparable == "yes"
    outcomes = {o.row.label: o for o in (collapsed, few_crops, fine)}
    rows = {label: {"paper_top1": None} for label in outcomes}
    claim = Claim(text="t", pairs=[("D dense", "D single"), ("D multi-crop", "D single")])
    overall, per = decide(claim, outcomes, rows)
    assert [p["verdict"] for p in per] == ["not comparable", "not comparable"]
    assert overall["verdict"] == "not comparable" and overall["used"] == 0
    usable = outcome_of("D multi-crop", better, crop_views=50)
    overall, per = decide(claim, outcomes | {"D multi-crop": usable}, rows)
    assert overall["used"] == 1 and overall["raw verdict"] == "holds" and per[1]["diff"] == pytest.approx(-10.0)
    assert adjust([overall])[0]["verdict"] == "holds (1 seed: image noise only)"


def test_a_failed_entry_makes_the_report_say_incomplete(tmp_path, monkeypatch):
    suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', ""))
    real = bench.train

    def fail_u(cfg):
        if "U_16" in cfg.out:
            raise ArchspecError("loss became nan")
        return real(cfg)

    monkeypatch.setattr(bench, "train", fail_u)
    result = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)
    assert not result.complete and result.status.startswith("INCOMPLETE: 1 of 3 table rows have no result")
    assert (tmp_path / "out" / "report.md").read_text().split("\n")[2].startswith("INCOMPLETE")
    monkeypatch.setattr(bench, "train", real)
    resumed = run_suite(suite, str(tmp_path / "out"), log=lambda line: None)  # rerun: only U is trained
    assert resumed.complete
    assert resumed.trained == {
        "T/16 seed 0": "reused",
        "U/16 seed 0": "trained",
        "T/16 seed 1": "reused",
        "U/16 seed 1": "trained",
    }


def test_an_interrupted_invocation_keeps_its_wall_time(tmp_path, monkeypatch):
    suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1"))
    out, real = tmp_path / "out", bench.evaluate_run

    def interrupted(*args):
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM as the harness raises it, once both nets have trained

    monkeypatch.setattr(bench, "evaluate_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, str(out), log=lambda line: None)
    cut_off = json.loads((out / "bench.json").read_text())
    assert cut_off["wall_s_total"] > 0 and cut_off["jobs"] == 1
    monkeypatch.setattr(bench, "evaluate_run", real)
    result = run_suite(suite, str(out), log=lambda line: None)
    assert result.wall_s_total == pytest.approx(cut_off["wall_s_total"] + result.wall_s, abs=0.1)


def test_the_wall_time_line_says_when_the_runs_took_longer_than_was_recorded():
    result = SimpleNamespace(wall_s_total=600.0, wall_s=600.0, jobs_most=2, report_only=False)
    result.throughput = [{"train_s_all_seeds": 900.0}, {"train_s_all_seeds": 300.0}]
    assert "unrecorded" not in bench_report._wall_line(result)  # 1200 s of training in 600 s, 2 side by side
    result.throughput[0]["train_s_all_seeds"] = 2100.0
    assert "and the wall time was at least 20.0 min" in bench_report._wall_line(result)
    result.report_only = True
    assert "s for the last" not in bench_report._wall_line(result)  # it ran nothing


def test_the_compute_line_states_the_useful_flops_the_peak_and_the_share_of_it():
    compute = Compute(train_flops=3e12, eval_flops=1e12, peak_gflops={"fp32": 50.0, "bf16": 1.0}, peak_by="t", cores=2)
    result = SimpleNamespace(wall_s_total=100.0, facts=SimpleNamespace(compute=compute, precision="fp32 (asked for)"))
    line = bench_report._compute_line(result)
    assert "4.0 TFLOP useful" in line and "held-out passes 3.0, evaluation 1.0" in line
    assert "40% of 2 cores' fp32 peak" in line  # 4e12 FLOPs / (100 s x 2 cores x 50e9 FLOP/s)
    result.facts.precision = "bf16 (auto: this CPU has AMX)"
    assert "2000% of 2 cores' bf16 peak" in bench_report._compute_line(result)  # the peak of what it trained in
    result.facts.compute = compute.model_copy(update={"peak_gflops": None})
    assert "peak was not recorded" in bench_report._compute_line(result)


def test_a_bench_records_the_machines_peak_and_the_suites_flops_from_the_planner(tmp_path):
    suite = load_suite("quick")
    bench._save_record(tmp_path, "quick", 0.0, 1, peak.measure(sizes=(64,), repeats=1))
    got = bench.compute(tmp_path, suite, None)
    plans = cost_model.entry_plans(suite)
    assert got.peak_gflops["fp32"] > 0 and "torch" in got.peak_by
    assert got.eval_flops == suite.suite.seeds * sum(e.eval_flops for e in plans)
    assert got.train_flops > suite.suite.seeds * sum(e.train_flops for e in plans)  # and the held-out passes
    bench._save_record(tmp_path, "quick", 10.0, 1)  # a later save without a measurement keeps the peak
    assert bench.compute(tmp_path, suite, None).peak_gflops == got.peak_gflops


def test_the_recipe_line_names_patience_only_where_the_plateau_rule_reads_it(tmp_path):
    assert not any(line.startswith("patience") for line in bench_report._recipe_lines(load_suite("small")))
    plateau = load_suite(write(tmp_path, SUITE.replace("epochs = 1", "epochs = 1\npatience = 1")))
    assert "patience 1 (paper: 2)" in bench_report._recipe_lines(plateau)


def test_scaling_measures_one_and_two_processes(tmp_path):
    suite = load_suite(write(tmp_path, SUITE.replace('finetune = "T/16"\n', "")))
    rows = bench.scaling(suite, tmp_path / "out", devices=2, data=None)
    assert [r["processes"] for r in rows] == [1, 2] and rows[0]["speedup"] == 1.0
    assert rows[1]["efficiency_%"] == pytest.approx(100 * rows[1]["speedup"] / 2, abs=0.1)


FOLDER_SUITE = """
[suite]
name = "folder"
data = "DATA"
crop = 16
epochs = 1
batch = 4
init = "glorot"
holdout = 0.2

[[train]]
id = "T/256"
spec = "input 16x16x3 conv3-4 maxpool FC-8 FC-3 soft-max"
scale = "256"

[[table]]
name = "Table F"
title = "folder"
rows = [{ label = "T", train = ["T/256"], protocol = "single" }]
"""


def test_an_imagenet_layout_folder_trains_evaluates_and_benches(tmp_path, image_folder):
    """JPEG/PNG class folders end to end: the colour statistics pass, training, the protocol and a bench."""
    from archspec.harness import DataConfig, Recipe, TrainConfig, train
    from archspec.harness.evaluation.evaluate import EvalJob, evaluate_checkpoints

    data = DataConfig(source=str(image_folder), crop=16, scale=(18, 22), workers=0)
    cfg = TrainConfig(
        spec="input 16x16x3 conv3-4 maxpool FC-8 FC-3 soft-max",
        data=data,
        out=str(tmp_path / "run"),
        recipe=Recipe(epochs=1, batch=6, init="glorot"),
        backend="torch",
        progress=True,
    )
    assert len(train(cfg).metrics) == 1
    rows = evaluate_checkpoints(EvalJob([str(tmp_path / "run")], progress=False))
    assert {r["images"] for r in rows} == {6}  # the folder's val/ images
    result = run_suite(
        write(tmp_path, FOLDER_SUITE.replace("DATA", str(image_folder))), str(tmp_path / "bench"), log=lambda line: None
    )
    assert result.complete and result.tables[0]["rows"][0]["images"] == 6


def test_an_edited_spec_file_under_the_same_id_is_never_reused(tmp_path):
    spec = tmp_path / "t.txt"
    spec.write_text("input 16x16x3 conv3-4 maxpool conv3-6 maxpool FC-16 FC-4 soft-max")
    text = SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1")
    text = text.replace(
        'spec = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"', f'spec = "{spec}"'
    )
    path = write(tmp_path, text)
    assert run_suite(path, str(tmp_path / "out"), log=lambda line: None).complete
    spec.write_text(
        "# a comment moves every position\ninput 16x16x3 conv3-4 maxpool conv3-6 maxpool FC-16 FC-4 soft-max"
    )
    assert set(run_suite(path, str(tmp_path / "out"), log=lambda line: None).trained.values()) == {"reused"}
    spec.write_text("input 16x16x3 conv3-4 maxpool conv3-5 maxpool FC-16 FC-4 soft-max")
    result = run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    assert "T_16/seed0: holds a run of another network (the spec" in result.status


def test_side_by_side_jobs_give_the_same_report_as_one_at_a_time(tmp_path):
    """Two worker processes of one thread each, the finetune waiting for its start: the same numbers as one run
    at a time with one thread (a run is a function of its seed and thread count, not of its neighbours)."""
    suite = write(tmp_path, SUITE.replace("conv3-6", "conv3-8"))  # U fine-tunes T
    one = run_suite(suite, str(tmp_path / "one"), log=lambda line: None, threads=1)
    lines = []
    two = run_suite(suite, str(tmp_path / "two"), log=lines.append, jobs=2)
    assert two.complete and two.trained == one.trained
    assert two.tables == one.tables and two.claims == one.claims
    started = [line for line in lines if line.startswith("training ")]
    assert len(started) == 4 and all(line.endswith(("seed 0", "seed 1")) for line in started)
    assert lines.index("training U/16 seed 0") > lines.index(
        "trained T/16 seed 0: " + str(tmp_path / "two/runs/T_16/seed0")
    )
    assert "2 runs side by side (--jobs 2), 1 torch thread each" in (tmp_path / "two" / "report.md").read_text()


SIZES = """
[suite]
name = "sizes"
data = "synthetic"
crop = 16
epochs = 1
batch = 16
init = "glorot"
seeds = 1
eval_limit = 30

[[train]]
id = "Big"
spec = "input 16x16x3 conv3-64 conv3-64 conv3-64 maxpool FC-64 FC-4 soft-max"
scale = "256"

[[train]]
id = "Small"
spec = "input 16x16x3 conv3-2 maxpool FC-4 soft-max"
scale = "256"

[[table]]
name = "Table X"
title = "sizes"
rows = [
  { label = "Big", train = ["Big"], protocol = "single" },
  { label = "Small", train = ["Small"], protocol = "single" },
]
"""


def test_bench_orders_tasks_by_the_longest_path_of_flops_to_the_end(tmp_path):
    """The larger net trains first; each evaluation follows its training; a fine-tune follows its start."""
    suite = load_suite(write(tmp_path, SIZES.replace("seeds = 1", "seeds = 2")))
    deps = lambda t: [("train", t[1], t[2])] if t[0] == "eval" else []  # noqa: E731
    order = bench._order(suite, None, deps)
    assert order[:2] == [("train", "Big", 0), ("train", "Big", 1)]
    assert len(order) == 8 and all(order.index(("train", t[1], t[2])) <= order.index(t) for t in order)
    tiny = load_suite(write(tmp_path, SUITE))
    finetune = lambda t: [("train", "T/16", t[2])] if t[1] == "U/16" else []  # noqa: E731
    order = bench._order(tiny, None, lambda t: deps(t) + finetune(t))
    assert order.index(("train", "T/16", 1)) < order.index(("train", "U/16", 1))


def test_an_evaluation_starts_on_a_core_that_a_short_training_left_idle(tmp_path):
    """With two jobs, Small's evaluation runs while Big still trains: evaluations do not wait for every
    training to end (the planner's schedule assumes the same)."""
    lines = []
    run = run_suite(write(tmp_path, SIZES), str(tmp_path / "out"), log=lines.append, jobs=2)
    assert run.complete
    trained_big = next(i for i, line in enumerate(lines) if line.startswith("trained Big seed 0"))
    assert lines.index("training Big seed 0") < lines.index("training Small seed 0")
    assert lines.index("evaluating Small seed 0") < trained_big


def test_jobs_and_data_parallel_processes_are_refused_together(tmp_path):
    with pytest.raises(ArchspecError, match="--jobs 2 with 2 processes per run"):
        run_suite(write(tmp_path, SUITE), str(tmp_path / "out"), devices=2, jobs=2)


def test_a_claim_is_decided_by_every_configuration_and_holm_adjusts_across_claims():
    """A pooled effect of -4 points (one pair -10, the other +2) would 'hold'; the +2 pair contradicts the claim.
    Across claims, Holm's method turns a raw verdict that does not survive into inconclusive, keeping both."""
    n = 1000
    base, much_better, worse, slightly = np.zeros((1, n)), np.zeros((1, n)), np.zeros((1, n)), np.zeros((1, n))
    base[0, :200], much_better[0, :100], worse[0, :220], slightly[0, 4:200] = 1, 1, 1, 1
    labels = ("a", "b", "c", "d")
    outcomes = {o.row.label: o for o in map(outcome_of, labels, (much_better, worse, base, slightly))}
    rows = {label: {"paper_top1": None} for label in outcomes}
    overall, per = decide(Claim(text="t", pairs=[("a", "c"), ("b", "c")]), outcomes, rows)
    assert [p["verdict"].split(" (")[0] for p in per] == ["holds", "contradicted"]
    assert overall["raw verdict"] == "contradicted"
    strong, _ = decide(Claim(text="strong", pairs=[("a", "c")]), outcomes, rows)
    weak, _ = decide(Claim(text="weak", pairs=[("d", "c")]), outcomes, rows)  # 0.4 points, on 4 images
    null, _ = decide(Claim(text="null", pairs=[("c", "c")]), outcomes, rows)
    assert weak["raw verdict"] == "holds" and 0.025 < weak["p"] < 0.05 and null["p"] == 1.0
    strong, weak, both, null = adjust([strong, weak, overall, null])  # weak is 3rd of 4: 0.05 / 2 to beat
    assert strong["verdict"].startswith("holds") and strong["raw verdict"] == ""
    assert weak["verdict"].startswith("inconclusive") and weak["raw verdict"].startswith("holds")
    assert weak["holm p"] == pytest.approx(2 * weak["p"], abs=1e-4) and both["verdict"].startswith("contradicted")


def test_the_lowest_single_net_row_skips_ensembles_and_rows_that_are_not_comparable():
    """...and rows scored on fewer images (multi_crop_images): they saw other images."""

    def row(label, err, comparable="yes", nets=1, images=100):
        lo, hi = (None, None) if err is None else (err - 1, err + 1)
        return {"row": label, "ours": label, "top1_err": err, "top1_lo": lo, "top1_hi": hi} | {
            "comparable": comparable,
            "nets": nets,
            "images": images,
        }

    tables = [
        {"name": "Table 3", "rows": [row("A", 9.0), row("B", 8.5), row("missing", None, "missing")]},
        {"name": "Table 4", "rows": [row("B multi", 7.0, "not comparable: dense map 1x1 at the largest Q")]},
        {"name": "Table 5", "rows": [row("B multi-crop", 5.0, images=20)]},
        {"name": "Table 6", "rows": [row("D+E", 6.0, nets=2)]},
    ]
    [best] = bench_report.lowest_single_nets(tables)
    assert (best["table"], best["row"], best["top1_err"]) == ("Table 3", "B", 8.5)
    text = "\n".join(bench_report._lowest_lines(tables))
    assert "Table 3, B (B): top-1 error 8.50% [7.50, 9.50], the lowest of 2 comparable single-net rows\n" in text
    assert "biased downwards" in text and "each crop has its own" not in text
    assert bench_report.lowest_single_nets([{"name": "T", "rows": [row("D+E", 6.0, nets=2)]}]) == []


def test_the_lowest_single_net_row_is_named_per_crop():
    """A net at crop 64 sees four times the pixels of one at 32: each crop gets its own lowest row."""
    rows = [
        {"row": r, "ours": r, "top1_err": e, "top1_lo": e - 1, "top1_hi": e + 1, "comparable": "yes", "nets": 1}
        | {"crop": c}
        for r, e, c in [("D", 10.4, 32), ("ResNet-18", 12.9, 32), ("A, crop 64", 8.7, 64), ("AlexNet", 16.9, 64)]
    ]
    tables = [{"name": "Table 7", "rows": rows}]
    assert [r["row"] for r in bench_report.lowest_single_nets(tables)] == ["D", "A, crop 64"]
    text = "\n".join(bench_report._lowest_lines(tables))
    assert "the lowest of 2 comparable single-net rows at crop 32" in text and "each crop has its own" in text


def test_the_report_names_the_commit_the_bench_process_started_from(tmp_path, monkeypatch):
    """A commit made while a suite runs is not the code that ran it."""
    import subprocess
    import types

    from archspec import provenance

    head = {"sha": "aaaaaaa"}

    def git(args, **kwargs):
        out = head["sha"] if "rev-parse" in args else ""
        return types.SimpleNamespace(stdout=out)

    def log(line):
        head["sha"] = "bbbbbbb"  # HEAD moves once the suite is under way

    monkeypatch.setattr(subprocess, "run", git)
    provenance.commit.cache_clear()
    try:
        suite = write(tmp_path, SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1"))
        run_suite(suite, str(tmp_path / "out"), log=log, jobs=2)  # trained in workers: nothing else asks git
    finally:
        provenance.commit.cache_clear()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "this report by archspec" in report and "commit aaaaaaa" in report and "bbbbbbb" not in report


def test_an_entry_with_its_own_crop_is_costed_plotted_and_paired_only_with_its_crop(tmp_path):
    """AlexNet needs 63 pixels, so a suite may give a net its own crop (and batch norm): it trains and is tested
    there, a claim pairing rows of different crops is not comparable, and the cost table counts each net as
    trained (checked against torch's own parameter count) and as written."""

    import archspec
    from archspec.harness.suite import entry_config, run_dir
    from archspec.harness.training.checkpoint import read_run

    text = (
        SUITE.replace('finetune = "T/16"\n', "crop = 24\nbatch_norm = true\n")
        .replace("seeds = 2", "seeds = 1")
        .replace('name = "Table X"', 'name = "Table X"\ncost_plot = true\nfootnote = "paper columns: none"')
        .replace('  { label = "T+U", train = ["T/16", "U/16"], protocol = "multi", method = "dense" },\n', "")
        .replace(
            'method = "multi-crop & dense" },',
            'method = "multi-crop & dense" },\n  { label = "U single", train = ["U/16"], protocol = "single" },',
        )
        + '\n[[claim]]\ntext = "T beats U"\npairs = [["T single", "U single"]]\n'
    )
    path = write(tmp_path, text)
    suite = load_suite(path)
    u = entry_config(suite, suite.train[1], tmp_path / "out", 0, 1, None)
    assert (
        u.data.crop == 24
        and u.model.batch_norm
        and entry_config(suite, suite.train[0], tmp_path, 0, 1, None).data.crop == 16
    )
    result = run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    assert result.complete
    rows = {r["row"]: r for r in result.tables[0]["rows"]}
    assert rows["T single"]["crop"] == 16 and rows["U single"]["crop"] == 24
    assert result.claims[1]["verdict"] == "not comparable"
    assert result.per_configuration[1]["verdict"] == "not comparable (crop 16 vs 24)"
    for cost in result.throughput:
        net = read_run(run_dir(tmp_path / "out", cost["entry"], 0))[1]
        assert cost["params_trained"] == sum(p.numel() for p in archspec.compile(net).parameters())
    t, u_cost = result.throughput
    assert u_cost["macs_trained"] > t["macs_trained"] and any(n.kind == "batchnorm" for n in net.layers)
    assert t["params_full"] == 112 + 296 + 2064 + 68  # as written: 16x16x3, FC-4 (hand-computed)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| row      |   crop |" in report and "## Cost and throughput" in report
    assert "\n*paper columns: none*\n" in report and not re.search(r"\bnan\b", report)
    assert (tmp_path / "out" / "Table_X-cost.png").stat().st_size > 5_000


def test_out_refuses_a_folder_that_a_bench_did_not_write(tmp_path):
    """A report would replace a user's report.md: a folder with files and no bench record is refused, untouched."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    with pytest.raises(ArchspecError, match=r"mine: holds report.md, which archspec bench did not write"):
        run_suite(write(tmp_path, SUITE), str(mine), log=lambda line: None)
    assert (mine / "report.md").read_text() == "my notes" and sorted(p.name for p in mine.iterdir()) == ["report.md"]


def test_damaged_bench_folder_files_are_one_line_naming_the_file(tmp_path):
    """The bench record is read bounded and parsed with its place named, and checked for its shape (the ledger
    survives damage instead: test_ledger.py)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "bench.json").write_text("{not json")
    with pytest.raises(ArchspecError, match=r"bench.json:1:2: found invalid JSON"):
        run_suite(write(tmp_path, SUITE), str(out), log=lambda line: None)
    (out / "bench.json").write_text('{"jobs": [2]}')
    with pytest.raises(ArchspecError, match=r"bench.json: jobs: found \[2\]; expected a valid integer"):
        run_suite(write(tmp_path, SUITE), str(out), log=lambda line: None)


def test_a_cost_point_names_its_crop_once():
    from archspec.harness.report.writer import cost_label

    table = {"rows": [{"row": "A, crop 64", "crop": 64}, {"row": "D", "crop": 32}]}
    assert [cost_label(r, table) for r in table["rows"]] == ["A, crop 64", "D (crop 32)"]
    assert cost_label({"row": "D", "crop": 32}, {"rows": [{"row": "D", "crop": 32}]}) == "D"


def test_the_scale_mapping_names_the_crop_that_trains_when_the_suite_sets_none(tmp_path):
    """No crop in the suite: a small set trains at 32, an ImageNet folder (`--data`) at 224, and the header's
    mapping says so (it once assumed 224 for every suite without a crop)."""
    suite = load_suite(write(tmp_path, SUITE.replace("crop = 16\n", "").replace('"synthetic"', '"fashion-mnist"')))
    assert bench_report.scale_mapping(suite, suite.train).startswith("crop 224 -> 32 ")
    assert "-> 32" not in bench_report.scale_mapping(suite, suite.train, "/data/imagenet")


@pytest.fixture
def recomputed(tmp_path):
    """A committed report's folder: outcomes.npz and the report.json that a report-only bench wrote from it."""
    from ..report.test_record import saved

    suite, _, path = saved(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    path.rename(out / "outcomes.npz")
    (out / "bench.json").write_text("{}")  # what marks a bench folder
    run_suite(str(tmp_path / "suite.toml"), str(out), log=lambda line: None, report_only=True)
    return out


def edit_report(out, change):
    doc = json.loads((out / "report.json").read_text())
    (out / "report.json").write_text(json.dumps(change(doc)))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda out: edit_report(out, lambda doc: [doc]),
            r"report.json: its top level: found \[.*; expected a valid dict",
        ),
        (lambda out: edit_report(out, lambda doc: doc | {"header": [1, 2]}), r"report.json: header.0: found 1"),
        (lambda out: edit_report(out, lambda doc: doc | {"header": "x"}), r"report.json: header: found 'x'"),
        (
            lambda out: edit_report(out, lambda doc: doc | {"throughput": [{"entry": "T/16", "epochs": "three"}]}),
            r"report.json: throughput.0.params_full: found",
        ),
        (lambda out: (out / "outcomes.npz").write_bytes(b"PK\x03\x04" + bytes(40)), r"outcomes.npz: not a readable"),
    ],
    ids=["report-a-list", "header-of-numbers", "header-a-string", "throughput-row", "truncated-outcomes"],
)
def test_a_damaged_report_only_input_is_one_line_and_records_no_look(tmp_path, recomputed, damage, message):
    damage(recomputed)
    ledger_before = (recomputed / "scored.jsonl").read_bytes()
    with pytest.raises(ArchspecError, match=message):
        run_suite(str(tmp_path / "suite.toml"), str(recomputed), log=lambda line: None, report_only=True)
    assert (recomputed / "scored.jsonl").read_bytes() == ledger_before


def test_a_damaged_evaluation_cache_is_a_miss_said_once(tmp_path):
    """A truncated cache file reads as no cache (one warning naming it), never as an error or as posteriors."""
    import torch

    from archspec.harness.evaluation.evaluate import Evaluation, Part

    ev = Evaluation(torch.tensor([0, 1, 1]), [Part("T", "single", "dense", "37", torch.rand(3, 4))])
    path, key = tmp_path / "evals" / "T" / "seed0.safetensors", {"code": "x"}
    bench._write_eval(path, key, ev, 12.5)
    back = bench._read_eval(path, key)
    assert torch.equal(back.labels, ev.labels) and torch.equal(back.parts[0].posterior, ev.parts[0].posterior)
    assert bench._read_eval(path, {"code": "y"}) is None  # another key: a miss, nothing to say
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.warns(UserWarning, match=r"seed0.safetensors: a damaged evaluation cache .*evaluating the run again"):
        assert bench._read_eval(path, key) is None
    assert bench.eval_rate(tmp_path, "T", 0) is None


def test_multi_crop_rows_score_the_first_images_and_claims_pair_on_those(tmp_path):
    """`multi_crop_images = 40` of 60: the multi-crop & dense row scores the first 40 images, as a whole evaluation
    of every image would have scored them; the dense rows score all 60; the claim pairs them on the 40."""
    text = SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1")
    path = write(tmp_path, text.replace("eval_limit = 60", "eval_limit = 60\nmulti_crop_images = 40"))
    result = run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    images = {r["row"]: r["images"] for r in result.tables[0]["rows"]}
    assert images == {"T single": 60, "T multi": 40, "T+U": 60}
    assert [c["images"] for c in result.per_configuration] == [40]
    split = bench.evaluate_run(tmp_path / "out", load_suite(path), load_suite(path).train[0], 0, 1, None)
    run = tmp_path / "out" / "runs" / "T_16" / "seed0"
    whole = bench.evaluate_sources(bench.EvalJob([str(run)], scales=None, limit=60, progress=False))
    for method in ("multi-crop & dense", "dense"):
        (got,) = [p for p in split.parts if p.protocol == "multi" and p.method == method]
        (want,) = [p for p in whole.parts if p.protocol == "multi" and p.method == method]
        assert len(got.posterior) == (40 if method != "dense" else 60)
        # the same images in other batches: oneDNN may block the sums differently (1.7e-5 seen on AVX-512)
        torch.testing.assert_close(got.posterior, want.posterior[: len(got.posterior)], rtol=1e-3, atol=1e-4)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "the first 40 of them" in report
    cells = [
        line.split("|")[1:3] for line in report.splitlines() if line.startswith(("| T single", "| T multi", "| T+U"))
    ]
    assert [(r.strip(), int(n)) for r, n in cells] == [("T single", 60), ("T multi", 40), ("T+U", 60)]  # test images


def test_centre_only_rows_run_the_centre_crop_alone_and_score_as_beside_the_dense_pass(tmp_path):
    """A table whose rows read only the centre crop (the ResNet paper's CIFAR protocol): bench evaluates that one
    view an image, and its posteriors are those of an evaluation that ran the dense pass beside it."""
    text = SUITE.replace('finetune = "T/16"\n', "").replace("seeds = 2", "seeds = 1").split("[[table]]")[0]
    row = '{ label = "T", train = ["T/16"], protocol = "single", method = "centre" }'
    text += f'[[table]]\nname = "C"\ntitle = "centre"\nrows = [{row}]\n'
    path = write(tmp_path, text)
    result = run_suite(path, str(tmp_path / "out"), log=lambda line: None)
    assert [r["row"] for r in result.tables[0]["rows"]] == ["T"]
    suite = load_suite(path)
    only = bench.evaluate_run(tmp_path / "out", suite, suite.train[0], 0, 1, None)
    assert [(p.protocol, p.method) for p in only.parts] == [("single", "centre")]
    run = tmp_path / "out" / "runs" / "T_16" / "seed0"
    job = bench.EvalJob(
        [str(run)], scales=None, limit=60, protocols=("single",), progress=False, precision=bench.eval_precision(suite)
    )
    (beside,) = [p for p in bench.evaluate_sources(job).parts if p.method == "centre"]
    torch.testing.assert_close(only.parts[0].posterior, beside.posterior, rtol=1e-5, atol=1e-6)
