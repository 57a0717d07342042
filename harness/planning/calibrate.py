"""This machine's share of its GEMM peak on a suite's own nets, measured: what `--device cpu` plans with.

One assumed MFU for every net misleads on a CPU: issue 35 measured A at 37% and D at 62% of the fp32 GEMM peak
of an AMD EPYC core, and D's bf16 step at 32% of the bf16 peak of an EPYC with AVX512-BF16, so an assumed 50%
predicted the small suite's bf16 run there at about two thirds of its time. The planner therefore times each
distinct net of the suite for a moment, as a `bench --jobs` worker runs it (one torch thread, channels-last, the
suite's precision): a training step (SGD with momentum, cross-entropy, after one warm-up step) and an
inference-mode forward pass. Its share of the peak is the net's FLOPs (from the IR, `cost.NetCost`) over the
measured time and the peak. What it leaves out: data loading and the second job's pull on memory bandwidth,
which the confirmatory runs measure (docs/plan.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from archspec.choices import Precision
from archspec.compiler import build
from archspec.compiler.memory_format import channels_last

from ..training.allocator import keep_freed_memory
from ..training.init import initialise
from ..training.train import train_step
from .cost import EntryPlan, Mfu, net_key

BUDGET_S = 0.25  # seconds a timed step should take at MEASURE_GUESS of the peak: the batch is cut to fit it
MEASURE_GUESS = 0.5
EVAL_BATCH = 256  # images a timed forward pass takes, at most: evaluation batches views this large or larger
STEPS = 3  # timed repeats, after one warm-up; the fastest counts (the others saw a cold cache or an interrupt)


@dataclass(frozen=True)
class Timing:
    """One net's measurement: images a timed call took, and its fastest time."""

    train_images: int
    train_s: float
    eval_images: int
    eval_s: float


def measure(
    plans: list[EntryPlan], precision: Precision, peak: float, timer: Callable[[EntryPlan, Precision, int, int], Timing]
) -> Mfu:
    """Each distinct net's share of `peak` (FLOP/s of one core at `precision`), training and evaluation."""
    train, evaluate = {}, {}
    for p in plans:
        key = net_key(p)
        if key in train:  # the same net as an earlier entry's: timed once
            continue
        per = max(1, int(BUDGET_S * peak * MEASURE_GUESS / p.cost.train_flops))
        t = timer(p, precision, min(p.batch, per), min(EVAL_BATCH, 3 * per))
        train[key] = min(1.0, p.cost.train_flops * t.train_images / t.train_s / peak)
        evaluate[key] = min(1.0, p.cost.fwd_flops * t.eval_images / t.eval_s / peak)
    return Mfu(default=min(train.values()), train=train, eval=evaluate, measured=True)


def time_net(plan: EntryPlan, precision: Precision, train_batch: int, eval_batch: int) -> Timing:
    """The fastest of STEPS training steps of `train_batch` random images (the harness's own `train_step`), and of
    STEPS forward passes of `eval_batch`, on one torch thread (the caller's count restored)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    keep_freed_memory()  # as a training or evaluating process runs
    try:
        torch.manual_seed(0)
        model = build(plan.net, "torch")
        initialise(model, "torchvision")
        model = channels_last(model, "cpu")  # as training and evaluation place it
        amp = torch.bfloat16 if precision is Precision.bf16 else None
        train_s = _fastest(_train_step(model, train_batch, plan.net.input, amp))
        eval_s = _fastest(_forward(model, eval_batch, plan.net.input, amp))
    finally:
        torch.set_num_threads(before)
    return Timing(train_batch, train_s, eval_batch, eval_s)


def _images(batch: int, i) -> torch.Tensor:
    return torch.randn(batch, i.channels, i.height, i.width).contiguous(
        memory_format=torch.channels_last
    )  # (B, C, H, W)


def _train_step(model: nn.Module, batch: int, i, amp: torch.dtype | None) -> Callable[[], None]:
    x, y = _images(batch, i), torch.randint(0, 2, (batch,))  # (B, C, H, W), (B,)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    return lambda: train_step(model, opt, x, y, amp)


def _forward(model: nn.Module, batch: int, i, amp: torch.dtype | None) -> Callable[[], None]:
    x = _images(batch, i)

    def forward() -> None:
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            model(x)  # (B, classes)

    return forward


def _fastest(call: Callable[[], None]) -> float:
    call()  # warm-up: oneDNN picks its kernels, the allocator its blocks
    times = []
    for _ in range(STEPS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)
