"""What `bench --plan` shows: tables within 100 columns when piped, JSON as one object, a Gantt chart whose every
bar is named, on a readable unit; and `--device cpu`, planned from this machine's measured peak (stubbed)."""

import json
import os
import subprocess
import sys

import pytest

from archspec.harness.planning import gantt, machine, plan

from ...conftest import ROOT


def run_cli(*args: str) -> str:
    env = os.environ | {"COLUMNS": "100"}
    cmd = [sys.executable, "-m", "archspec.cli", "bench", "--plan", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=ROOT).stdout  # piped


@pytest.mark.parametrize(
    "args", [("--suite", "paper", "--device", "titan-black", "--devices", "4"), ("--suite", "small")]
)
def test_piped_tables_fit_100_columns_with_no_padded_lines(args):
    lines = run_cli(*args).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert [line for line in lines if line != line.rstrip()] == []  # titles included: none padded
    assert any("NOTHING FITS" in line for line in lines) == ("titan-black" in args)


def test_json_is_one_object_with_every_table():
    out = json.loads(run_cli("--suite", "quick", "-f", "json"))
    assert isinstance(out, dict) and {"header", "entries", "speedup", "schedule", "totals"} <= set(out)


def test_the_gantt_chart_names_every_bar_on_a_readable_unit(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    p = plan.plan("paper", "titan-black", 4)
    gantt.gantt(p, tmp_path / "g.png")
    ax = figures[0].axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(s.task for s in p.slots)
    assert ax.get_xlabel() == "days" and len(ax.patches) == len(p.slots)
    plt.close(figures[0].number)
    assert gantt.time_unit(3 * 86400) == (86400, "days") and gantt.time_unit(5 * 3600) == (3600, "hours")
    assert gantt.time_unit(600) == (60, "minutes") and gantt.time_unit(90) == (1, "seconds")


def test_a_suite_planned_in_seconds_is_drawn_in_seconds(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    p = plan.plan("quick", "h100", 8)
    assert p.makespan_s < 120
    gantt.gantt(p, tmp_path / "g.png")
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "seconds" and f"{p.makespan_s:.3g} seconds" in ax.get_title()
    plt.close(figures[0].number)


def test_the_cpu_plan_predicts_wall_time_from_the_measured_peak_and_the_suites_flops(monkeypatch):
    """A stubbed peak of 50 GFLOP/s a core and --mfu 0.5: every training's time is its FLOPs over 50e9 x 0.5 (one
    core a run)."""
    monkeypatch.setattr(machine, "gemm_gflops", lambda: {"fp32": 50.0, "bf16": 1.0})
    monkeypatch.setattr("archspec.harness.training.distributed.cores", lambda: 2)
    monkeypatch.setattr("archspec.harness.training.distributed.cpu_bf16_units", lambda: [])
    machine.this_machine.cache_clear()
    try:
        p = plan.plan("small", "cpu", mfu=0.5)
    finally:
        machine.this_machine.cache_clear()
    assert p.devices == 2 and p.per_run == 1 and p.precision == "fp32" and str(p.mfu) == "0.5"
    for c in p.entries:
        e = c.plan
        want = e.epochs * (e.images_per_epoch * e.cost.train_flops + e.holdout_images * e.cost.fwd_flops) / 25e9
        assert c.train_s == pytest.approx(want)
        assert c.eval_s == pytest.approx(e.eval_flops / 25e9)
    assert "50.0 GFLOP/s a core" in p.header[0] and "calibrated" in p.header[1]
    assert p.makespan_s >= sum(c.train_s + c.eval_s for c in p.entries) * p.suite.suite.seeds / 2


def test_an_unknown_device_names_cpu_among_the_choices():
    from archspec.errors import ArchspecError

    with pytest.raises(ArchspecError, match=r"expected one of titan-black, .*, cpu$"):
        plan.plan("quick", "tpu")
