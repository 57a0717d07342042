"""`--device cpu` plans with each net's measured share of the peak: the arithmetic against hand-computed shares
from a stubbed clock, and one real measurement of a tiny net."""

import pytest
import torch

from archspec.choices import Precision
from archspec.harness.planning import calibrate, machine, plan
from archspec.harness.planning.cost import entry_plans, net_key
from archspec.harness.suite import load_suite

from ..bench.test_bench import SUITE, write

# a third entry of T's net: timed once with T
TWIN = '\n[[train]]\nid = "T again"\nspec = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"\n'
TWIN += 'scale = "256"\n'


def stub_timer(calls: list):
    """Training steps take 10 ms for T, 20 ms for U, forward passes (of more images) 20 times that."""

    def timer(p, precision, train_batch, eval_batch):
        calls.append((p.entry.id, precision, train_batch, eval_batch))
        seconds = 0.01 if "conv3-8" in p.entry.spec else 0.02
        return calibrate.Timing(train_batch, seconds, eval_batch, 20 * seconds)

    return timer


def test_each_distinct_net_is_timed_once_and_its_share_is_its_flops_over_time_and_peak(tmp_path):
    plans = entry_plans(load_suite(write(tmp_path, SUITE + TWIN)))
    calls = []
    mfu = calibrate.measure(plans, Precision.fp32, 1e9, stub_timer(calls))
    assert [c[0] for c in calls] == ["T/16", "U/16"]  # "T again" is T's net: not timed again
    assert {c[2] for c in calls} == {16} and {c[3] for c in calls} == {calibrate.EVAL_BATCH}  # the suite's batch
    t, u, again = plans
    assert mfu.of(t) == mfu.of(again)
    n = calibrate.EVAL_BATCH
    assert mfu.of(t) == pytest.approx((16 * t.cost.train_flops / 0.01 / 1e9, n * t.cost.fwd_flops / 0.2 / 1e9))
    assert mfu.of(u) == pytest.approx((16 * u.cost.train_flops / 0.02 / 1e9, n * u.cost.fwd_flops / 0.4 / 1e9))
    assert str(mfu).startswith("measured: training ")


def test_a_costly_net_is_timed_on_fewer_images_than_its_batch(tmp_path):
    """At a peak of 1 MFLOP/s, 16 images of T would take minutes: the step is cut to one image."""
    plans = entry_plans(load_suite(write(tmp_path, SUITE)))
    calls = []
    calibrate.measure(plans, Precision.fp32, 1e6, stub_timer(calls))
    assert all(train == 1 and evaluate == 3 for _, _, train, evaluate in calls)


def test_the_cpu_plan_times_each_entry_at_its_nets_measured_share(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "gemm_gflops", lambda: {"fp32": 50.0, "bf16": 1.0})
    monkeypatch.setattr("archspec.harness.training.distributed.cores", lambda: 2)
    monkeypatch.setattr("archspec.harness.training.distributed.cpu_bf16_units", lambda: [])
    monkeypatch.setattr(calibrate, "time_net", stub_timer([]))
    machine.this_machine.cache_clear()
    try:
        p = plan.plan(write(tmp_path, SUITE), "cpu")
    finally:
        machine.this_machine.cache_clear()
    for c in p.entries:
        e = c.plan
        train, evaluate = p.mfu.train[net_key(e)], p.mfu.eval[net_key(e)]
        steps = e.epochs * e.images_per_epoch * e.cost.train_flops / (50e9 * train)
        assert c.train_s == pytest.approx(steps + e.epochs * e.holdout_images * e.cost.fwd_flops / (50e9 * evaluate))
        assert c.eval_s == pytest.approx(e.eval_flops / (50e9 * evaluate))
    assert "MFU measured: training" in p.header[1] and "calibrate.py" in p.header[1]


def test_a_real_measurement_times_a_training_step_and_a_forward_pass_on_one_thread(tmp_path):
    (t, _) = entry_plans(load_suite(write(tmp_path, SUITE)))
    before = torch.get_num_threads()
    timing = calibrate.time_net(t, Precision.fp32, 16, 48)
    assert torch.get_num_threads() == before
    assert (timing.train_images, timing.eval_images) == (16, 48)
    assert 0 < timing.train_s < 5 and 0 < timing.eval_s < 5
    mfu = calibrate.measure([t], Precision.fp32, 1e12, calibrate.time_net)
    assert 0 < mfu.train[net_key(t)] <= 1 and 0 < mfu.eval[net_key(t)] <= 1
