"""The machine's GEMM peak (`harness.training.peak`): its FLOP count by hand, its thread count, its record. No
assertion here depends on how fast this machine is."""

import itertools
import math

import pytest
import torch

from archspec.harness.training import peak
from archspec.harness.training.checkpoint import cpu_model


def ticking(seconds: float, threads: list[int]):
    """A clock that advances `seconds` a reading, so each timed matmul takes exactly that long; it notes the
    torch threads in use at each reading."""
    ticks = itertools.count()

    def clock() -> float:
        threads.append(torch.get_num_threads())
        return next(ticks) * seconds

    return clock


def test_the_rate_is_two_n_cubed_flops_over_the_best_time_at_the_largest_size_timed():
    threads: list[int] = []
    tick = 2**-10  # about 1 ms a matmul (a power of two: exact readings): never slow, every size timed
    fast = peak.measure(sizes=(16, 32, 64), clock=ticking(tick, threads))
    assert fast.fp32 == fast.bf16 == peak.Rate(2 * 64**3 / tick / 1e9, 64)
    assert fast.fp32.gflops == pytest.approx(0.536870912)  # 2 * 2^18 FLOPs in 2^-10 s
    assert set(threads) == {1} and len(threads) == 2 * 3 * 3 * 2  # 2 readings a matmul, 3 a size, 3 sizes, 2 dtypes


def test_a_matmul_slower_than_slow_is_the_last_size_timed():
    threads: list[int] = []
    slow = peak.measure(sizes=(16, 32, 64), clock=ticking(1.0, threads))  # 1 s a matmul: slow at once
    assert slow.fp32 == slow.bf16 == peak.Rate(2 * 16**3 / 1.0 / 1e9, 16)
    assert len(threads) == 2 * 3 * 2  # only n = 16 was timed


def test_the_thread_count_is_restored_even_when_the_measurement_fails():
    before = torch.get_num_threads()
    torch.set_num_threads(2)

    def broken() -> float:
        raise RuntimeError("no clock")

    try:
        with pytest.raises(RuntimeError, match="no clock"):
            peak.measure(sizes=(16,), clock=broken)
        assert torch.get_num_threads() == 2
        measured = peak.measure(sizes=(16, 32), repeats=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    for rate in (measured.fp32, measured.bf16):  # this machine's: positive and finite, at a size that was timed
        assert rate.size in (16, 32) and 0 < rate.gflops < math.inf
    assert measured.cpu_model == cpu_model() and measured.torch == torch.__version__
