"""Choosing devices per run, the line that says nothing fits, and the speed-up model's terms, each against a
hand computation or the paper (Sec. 3.3)."""

import pytest

import archspec
from archspec.choices import Precision
from archspec.harness.planning import cost as cost_model
from archspec.harness.planning import devices as device_table
from archspec.harness.planning import plan
from archspec.harness.planning.devices import GIB


def test_the_paper_suite_on_four_titan_blacks_plans_the_papers_four_gpus_a_run():
    """No split fits the 6 GB card; the fastest would be 2 a run (109.09 vs 109.63 days), the paper ran 4."""
    p = plan.plan("paper", "titan-black", 4)
    assert p.per_run == 4
    assert p.makespan_s > plan.plan("paper", "titan-black", 4, per_run=2).makespan_s  # not the fastest


def test_when_nothing_fits_one_line_names_the_smallest_memory_and_the_options():
    p = plan.plan("paper", "titan-black", 4)
    lines = [line for line in p.header if line.startswith("NOTHING FITS")]
    assert len(lines) == 1 and "\n" not in lines[0]
    least = min(
        max(c.memory["total"] for c in plan.plan("paper", "titan-black", 4, per_run=g).entries) for g in (1, 2, 4)
    )
    assert f"the smallest memory that would fit is {least / GIB:.1f} GiB" in lines[0]
    for option in ("images per device", "precision", "activation checkpointing", "the paper's own split"):
        assert option in lines[0]
    assert not [line for line in plan.plan("paper", "h100", 8).header if line.startswith("NOTHING FITS")]


def test_with_per_run_nothing_fits_names_the_least_memory_over_every_split_and_the_split_asked_for():
    p = plan.plan("paper", "titan-black", 4, per_run=2)
    line = next(line for line in p.header if line.startswith("NOTHING FITS"))
    peaks = {
        g: max(c.memory["total"] for c in plan.plan("paper", "titan-black", 4, per_run=g).entries) for g in (1, 2, 4)
    }
    least = min(peaks, key=peaks.get)
    assert least != 2 and f"is {peaks[least] / GIB:.1f} GiB (at {least} per run)" in line
    assert line.endswith("planned at --per-run 2 (asked for)")


def test_a_split_that_fits_wins_over_a_faster_one_that_does_not(monkeypatch):
    """On 8 H100 the paper suite is fastest at 4 a run; with memory between the peaks at 4 and at 8 a run, only 8
    fits, and the plan takes it though two runs side by side would end sooner."""
    h100 = device_table.devices()["h100"]
    peaks = {g: max(c.memory["total"] for c in plan.plan("paper", "h100", 8, per_run=g).entries) for g in (4, 8)}
    small = h100.model_copy(update={"memory_gib": (peaks[4] + peaks[8]) / 2 / GIB})
    monkeypatch.setattr(device_table, "devices", lambda: {"small": small})
    p = plan.plan("paper", "small", 8)
    assert all(p.fits(c) for c in p.entries)
    fastest = min((plan.plan("paper", "small", 8, per_run=g) for g in (1, 2, 4, 8)), key=lambda q: q.makespan_s)
    assert not all(fastest.fits(c) for c in fastest.entries) and p.per_run > fastest.per_run


def test_reduce_to_one_moves_2_n_minus_1_gradients_over_one_link():
    """Caffe 2014: every GPU's gradients to one GPU and the weights back: 2 (N-1) x bytes, N times the ring's."""
    dev, cost = device_table.device("titan-black"), cost_model.net_cost(archspec.network("D"))
    step = cost_model.step_time(cost, 256, 4, dev, Precision.fp32, 0.4)
    assert step.reduce_to_one == pytest.approx(2 * 3 * 4 * 138_357_544 / 15.75e9)
    assert step.reduce_to_one == pytest.approx(4 * step.allreduce)
    assert step.time("reduce-to-one", overlap=False) == step.compute + step.reduce_to_one


def test_the_held_out_pass_runs_on_one_device_and_caps_the_speed_up():
    p = plan.plan("paper", "titan-black", 4, per_run=4)
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    assert d.plan.holdout_images == round(0.02 * 1_281_167)  # 2% of ILSVRC-2012's training set
    assert d.holdout_s == pytest.approx(25_623 * 2 * 15_470_264_320 / (5.1e12 * 0.4))  # D's forward, one GPU
    epochs, steps = d.plan.epochs, d.steps
    assert d.train() == pytest.approx(epochs * (steps * d.step.overlapped + d.holdout_s))
    infinite_link = d.train_one_s / (epochs * (steps * d.step.compute + d.holdout_s))
    assert d.train_one_s / d.train(overlap=False) < infinite_link < 4


@pytest.mark.parametrize("pattern", ["ring", "reduce-to-one"])
def test_the_link_the_model_needs_for_375x_gives_375x(monkeypatch, pattern):
    """Put the link the plan names back into the device: the model then gives the paper's 3.75x for D/256."""
    p = plan.plan("paper", "titan-black", 4, per_run=4)
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    need = d.link_for(3.75, pattern)
    tb = device_table.devices()["titan-black"]
    monkeypatch.setattr(device_table, "devices", lambda: {"tb": tb.model_copy(update={"link_gbs": need / 1e9})})
    again = next(c for c in plan.plan("paper", "tb", 4, per_run=4).entries if c.plan.entry.id == "D/256")
    assert again.train_one_s / again.train(pattern, overlap=False) == pytest.approx(3.75)
    line = next(x for x in p.header if x.startswith("speed-up of D/256"))
    assert f"{pattern} {need / 1e9:.2f} GB/s" in line


def test_the_header_says_what_is_predicted_and_what_is_calibrated():
    p = plan.plan("quick", "h100", 8, mfu=0.3)
    assert p.header[0].startswith("predicted from the IR: FLOPs and parameters (exact); memory per device")
    assert "workspaces excluded" in p.header[0] and "memory per device (predicted" in p.header[0]
    assert "calibrated" in p.header[1] and "MFU 0.3" in p.header[1] and "an assumption" in p.header[1]


def test_a_held_out_pass_under_a_minute_is_given_in_seconds():
    """D/256's held-out pass on one H100 at MFU 0.4: 25,623 images x D's forward FLOPs / (989.4 TFLOPS x 0.4)."""
    p = plan.plan("paper", "h100", 8, per_run=4)
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    seconds = 25_623 * 2 * 15_470_264_320 / (989.4e12 * 0.4)
    assert d.holdout_s == pytest.approx(seconds, rel=1e-3) and seconds < 60
    line = next(x for x in p.header if x.startswith("speed-up of D/256"))
    assert f"held-out pass on one device {seconds:.0f} s an epoch" in line
