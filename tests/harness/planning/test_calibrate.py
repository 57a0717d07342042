"""`--device cpu` plans with each net's measured share of the peak: the arithmetic against hand-computed shares
from a stubbed clock, the mean of a window against a call of known length, the harness's loader in the timed
step, real measurements of tiny nets alone and in two processes at once, and a lane's error as one line."""

import dataclasses
import itertools
import os
import time

import pytest
import torch

from archspec.choices import Precision
from archspec.errors import ArchspecError
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
    lanes = []

    def in_process(items, precision, timer, n):  # the stub clock does not pickle into spawned lanes
        lanes.append(n)
        return {key: timer(p, precision, train, evaluate) for key, (p, train, evaluate) in items}

    monkeypatch.setattr(calibrate, "_side_by_side", in_process)
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
    assert lanes == [2] and "2 nets at once" in p.header[1]  # both cores busy, as the suite's two trainings


def test_a_real_measurement_times_a_training_step_and_a_forward_pass_on_one_thread(tmp_path):
    (t, _) = entry_plans(load_suite(write(tmp_path, SUITE)))
    before = torch.get_num_threads()
    timing = calibrate.time_net(t, Precision.fp32, 16, 48)
    assert torch.get_num_threads() == before
    assert (timing.train_images, timing.eval_images) == (16, 48)
    assert 0 < timing.train_s < 5 and 0 < timing.eval_s < 5
    mfu = calibrate.measure([t], Precision.fp32, 1e12, calibrate.time_net)
    assert 0 < mfu.train[net_key(t)] <= 1 and 0 < mfu.eval[net_key(t)] <= 1


def test_a_call_is_timed_as_the_mean_over_the_window_after_one_warm_up(monkeypatch):
    monkeypatch.setattr(calibrate, "WINDOW_S", 0.4)
    calls = []

    def call():  # 20 and 80 ms in turn, the warm-up 1 s: the mean of the window (50 ms), not its fastest (20)
        calls.append(time.perf_counter())
        time.sleep(1.0 if len(calls) == 1 else (0.02, 0.08)[len(calls) % 2])

    assert calibrate._mean(call) == pytest.approx(0.05, abs=0.012)
    assert 1 + calibrate.MIN_CALLS <= len(calls) <= 1 + 0.4 / 0.05 + 2


def test_a_slow_call_is_still_timed_min_calls_times(monkeypatch):
    monkeypatch.setattr(calibrate, "WINDOW_S", 0.01)
    calls = []
    calibrate._mean(lambda: calls.append(time.sleep(0.02)))
    assert len(calls) == 1 + calibrate.MIN_CALLS


def test_the_timed_step_draws_batches_from_the_harness_loader_past_an_epoch(tmp_path, monkeypatch):
    """An in-memory set: random images of the set's stored size, padded as the suite pads them, through
    `TensorData.train_batches` (crop, flip, normalise), epoch after epoch; a folder's images are decoded in loader
    workers, so its step takes random crops."""
    (t, _) = entry_plans(load_suite(write(tmp_path, SUITE)))
    seen = []
    real = calibrate.TensorData.train_batches

    def spy(self, epoch, batch, seed, *rest):
        seen.append((epoch, tuple(self.train_x.shape[1:])))
        return real(self, epoch, batch, seed, *rest)

    monkeypatch.setattr(calibrate.TensorData, "train_batches", spy)
    batches = list(itertools.islice(calibrate._batches(t, 16), 12))  # 3 or 4 batches an epoch
    side = t.config.data.synthetic[2]
    assert [e for e, _ in seen] == list(range(len(seen))) and len(seen) >= 3 and seen[0][1] == (3, side, side)
    for x, y in batches:
        assert x.shape == (16, 3, 16, 16) and x.dtype == torch.float32 and y.shape == (16,)
        assert abs(x.mean().item()) < 0.5  # normalised by the set's own statistics, not raw bytes in [0, 255]
        assert 0 <= y.min() and y.max() < 10  # the synthetic set's classes, as the net is built for them
    seen.clear()
    padded = t.config.data.model_copy(update={"source": "embedded", "pad": 2})  # 28 x 28 images, padded to 32
    next(calibrate._batches(_with_data(t, padded), 16))
    assert seen == [(0, (3, 32, 32))]
    folder = t.config.data.model_copy(update={"source": str(tmp_path)})
    x, y = next(calibrate._batches(_with_data(t, folder), 8))
    assert x.shape == (8, 3, 16, 16) and y.shape == (8,) and len(seen) == 1  # no loader in this process


def _with_data(p, data):
    return dataclasses.replace(p, config=p.config.model_copy(update={"data": data}))


def test_real_measurements_in_two_processes_at_once_give_every_net_a_share(tmp_path):
    plans = entry_plans(load_suite(write(tmp_path, SUITE)))
    mfu = calibrate.measure(plans, Precision.fp32, 1e12, calibrate.time_net, lanes=3)  # a third lane: filler
    assert set(mfu.train) == set(mfu.eval) == {net_key(p) for p in plans}
    assert all(0 < mfu.train[k] < 1 and 0 < mfu.eval[k] < 1 for k in mfu.train)  # 1 TFLOP/s: far above a core


def interval_timer(p, precision, train_batch, eval_batch):
    """T's net takes 0.3 s, U's 0.6 s; each call's process and interval go to the file CALIBRATE_LOG names."""
    start = time.monotonic()  # one clock for every process of the machine
    time.sleep(0.3 if "conv3-8" in p.entry.spec else 0.6)
    with open(os.environ["CALIBRATE_LOG"], "a") as log:
        log.write(f"{os.getpid()} {p.entry.id} {start} {time.monotonic()}\n")
    seconds = 0.01 if "conv3-8" in p.entry.spec else 0.02
    return calibrate.Timing(train_batch, seconds, eval_batch, 20 * seconds)


def test_two_lanes_time_their_nets_at_once_and_the_first_done_keeps_the_other_company(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("CALIBRATE_LOG", str(log))
    plans = entry_plans(load_suite(write(tmp_path, SUITE)))
    mfu = calibrate.measure(plans, Precision.fp32, 1e9, interval_timer, lanes=2)
    t, u = plans  # each share comes back to its own net
    n = calibrate.EVAL_BATCH
    assert mfu.of(t) == pytest.approx((16 * t.cost.train_flops / 0.01 / 1e9, n * t.cost.fwd_flops / 0.2 / 1e9))
    assert mfu.of(u) == pytest.approx((16 * u.cost.train_flops / 0.02 / 1e9, n * u.cost.fwd_flops / 0.4 / 1e9))
    calls = [
        (int(pid), net, float(a), float(b))
        for pid, net, a, b in (line.rsplit(" ", 3) for line in log.read_text().splitlines())
    ]
    lanes = {pid for pid, *_ in calls}
    assert len(lanes) == 2 and os.getpid() not in lanes
    (u_call,) = [c for c in calls if c[1] == "U/16"]
    t_calls = [c for c in calls if c[1] == "T/16"]
    assert len(t_calls) >= 2  # T's lane timed T again while U's was still timing
    assert any(a < u_call[3] and u_call[2] < b for _, _, a, b in t_calls)  # U's timing overlapped T's ...
    assert max(b for *_, b in t_calls) >= u_call[3] - 0.1  # ... to its end (T alone: 0.3 s before it)


def failing_timer(p, precision, train_batch, eval_batch):
    raise RuntimeError(f"no memory for {p.entry.id}")


def test_a_lane_that_fails_stops_the_plan_with_one_line(tmp_path):
    plans = entry_plans(load_suite(write(tmp_path, SUITE)))
    with pytest.raises(ArchspecError, match=r"^timing ([TU])/16: RuntimeError: no memory for \1/16$"):
        calibrate.measure(plans, Precision.fp32, 1e12, failing_timer, lanes=2)


def dying_timer(p, precision, train_batch, eval_batch):
    os._exit(3)  # as the kernel's out-of-memory killer would end it: no word to the planner


def test_a_lane_that_dies_stops_the_plan_with_one_line_at_once(tmp_path):
    plans = entry_plans(load_suite(write(tmp_path, SUITE)))
    with pytest.raises(ArchspecError, match=r"one died \(exit code 3\)"):
        calibrate.measure(plans, Precision.fp32, 1e12, dying_timer, lanes=2)
