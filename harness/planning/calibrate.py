"""This machine's share of its GEMM peak on a suite's own nets, measured: what `--device cpu` plans with.

One assumed MFU for every net misleads on a CPU: issue 35 measured A at 37% and D at 62% of the fp32 GEMM peak
of an AMD EPYC core, and D's bf16 step at 32% of the bf16 peak of an EPYC with AVX512-BF16, so an assumed 50%
predicted the small suite's bf16 run there at about two thirds of its time. The planner therefore times each
distinct net of the suite for a moment, as a `bench --jobs` worker runs it (one torch thread, channels-last, the
suite's precision, the entry's recipe: its optimizer, lr schedule, dropout and label smoothing):

- training steps as the harness's loop takes them (`train.loop_step`), each on the next batch from the harness's
  own in-memory loader (`TensorData.train_batches`: rescale, random crop, flip, normalise) over random images of
  the data set's stored size; for a folder of images, whose loader runs in worker processes, on random crops;
- inference-mode forward passes.

Each is timed as the mean over a window of about WINDOW_S seconds after a warm-up call: the mean, since a run's
wall time is the sum of its steps, slow ones included. Its share of the peak is the net's FLOPs (from the IR,
`cost.NetCost`) over that mean time and the peak. Until commit c056ac9 the planner took the fastest of three bare
steps, and ran 24% low on the successors suite in fp32 (docs/bench-successors-fp32/README.md).

**Side by side.** A suite on N cores keeps N processes busy at once (N trainings, or the processes of one
data-parallel training), and they share the caches and the memory system. So with `lanes` > 1 the nets are
timed in that many spawned processes at once, each with its share of the nets: they start together once all
have loaded torch, and a process that has finished its share keeps timing its last net (discarded) until every
process has finished, so that no net is timed alone. Not in it: each run's setup (reading the data set,
building the net, checkpoints), a folder's decoding, and with one lane, nothing beside it.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from archspec.choices import Precision
from archspec.compiler.memory_format import channels_last
from archspec.errors import ArchspecError

from ..training.allocator import keep_freed_memory
from ..training.config import DataConfig
from ..training.data import TensorData
from ..training.train import fresh_model, loop_step, make_optimizer, net_classes
from .cost import EntryPlan, Mfu, net_key

BUDGET_S = 0.25  # seconds a timed step should take at MEASURE_GUESS of the peak: the batch is cut to fit it
MEASURE_GUESS = 0.5
EVAL_BATCH = 256  # images a timed forward pass takes, at most: evaluation batches views this large or larger
WINDOW_S = 0.5  # seconds each of a net's calls is repeated for, after one warm-up; their mean counts
MIN_CALLS = 3  # timed calls at least, however long they take
STORED_SIDE = {"embedded": 28, "fashion-mnist": 28, "mnist": 28}  # the in-memory sets' images, before padding
LANE_TIMEOUT_S = 600  # a lane that reports nothing for this long has hung: the plan stops with one line
START_TIMEOUT_S = 300  # lanes wait this long at most for each other to load torch before timing anything

Timer = Callable[[EntryPlan, Precision, int, int], "Timing"]
Work = list[tuple[str, tuple[EntryPlan, int, int]]]  # (net_key, (plan, training images, evaluation images))


@dataclass(frozen=True)
class Timing:
    """One net's measurement: images a timed call took, and the mean time of a call."""

    train_images: int
    train_s: float
    eval_images: int
    eval_s: float


def measure(plans: list[EntryPlan], precision: Precision, peak: float, timer: Timer, lanes: int = 1) -> Mfu:
    """Each distinct net's share of `peak` (FLOP/s of one core at `precision`), training and evaluation, timed in
    `lanes` processes at once (1: in this process) as a suite on that many cores runs."""
    work = {}
    for p in plans:
        key = net_key(p)
        if key in work:  # the same net as an earlier entry's: timed once
            continue
        per = max(1, int(BUDGET_S * peak * MEASURE_GUESS / p.cost.train_flops))
        work[key] = (p, min(p.batch, per), min(EVAL_BATCH, 3 * per))
    items = list(work.items())
    if lanes > 1:
        timings = _side_by_side(items, precision, timer, lanes)
    else:
        timings = {key: timer(p, precision, train, evaluate) for key, (p, train, evaluate) in items}
    train, evaluate = {}, {}
    for key, (p, _, _) in items:
        t = timings[key]
        train[key] = min(1.0, p.cost.train_flops * t.train_images / t.train_s / peak)
        evaluate[key] = min(1.0, p.cost.fwd_flops * t.eval_images / t.eval_s / peak)
    return Mfu(default=min(train.values()), train=train, eval=evaluate, measured=True)


def time_net(plan: EntryPlan, precision: Precision, train_batch: int, eval_batch: int) -> Timing:
    """The mean of training steps of `train_batch` images through the harness's loop, and of forward passes of
    `eval_batch`, each over WINDOW_S after a warm-up, on one torch thread (the caller's count restored)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    keep_freed_memory()  # as a training or evaluating process runs
    try:
        model = channels_last(fresh_model(plan.config, plan.net), "cpu")  # as training and evaluation place it
        amp = torch.bfloat16 if precision is Precision.bf16 else None
        train_s = _mean(_train_step(model, plan, train_batch, amp))
        eval_s = _mean(_forward(model, eval_batch, plan.net.input, amp))
    finally:
        torch.set_num_threads(before)
    return Timing(train_batch, train_s, eval_batch, eval_s)


# ---------------------------------------------------------------- one net's calls


def _train_step(model: nn.Module, plan: EntryPlan, batch: int, amp: torch.dtype | None) -> Callable[[], None]:
    batches = _batches(plan, batch)
    cfg = plan.config
    opt, scheduler = make_optimizer(model, cfg, max(1, plan.images_per_epoch // plan.batch))
    model.train()
    steps = itertools.count()

    def step() -> None:
        x, y = next(batches)  # (B, C, H, W), (B,)
        loop_step(model, opt, scheduler, x, y, amp, cfg.recipe.label_smoothing, (0, 0, next(steps), 0))

    return step


def _batches(plan: EntryPlan, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches as the harness makes them: for an in-memory set, its loader on random images of the set's
    size; for a folder (decoded in loader workers, not in the training process), random crops."""
    i, classes, data = plan.net.input, net_classes(plan.net), plan.config.data
    side = _stored_side(data)
    if side is None:
        x = _images(batch, i)
        y = torch.randint(0, classes, (batch,))
        return itertools.repeat((x, y))
    n = batch * 4 + max(1, round(batch * 4 * data.holdout / (1 - data.holdout)))
    gen = torch.Generator().manual_seed(0)
    side += 2 * data.pad
    images = torch.randint(0, 256, (n, i.channels, side, side), dtype=torch.uint8, generator=gen)  # (N, C, S, S)
    labels = torch.arange(n) % classes  # every class present, as the holdout split draws from each
    held = TensorData(data, [str(c) for c in range(classes)], images, labels, images[:1], labels[:1])
    return itertools.chain.from_iterable(held.train_batches(epoch, batch, 0) for epoch in itertools.count())


def _stored_side(cfg: DataConfig) -> int | None:
    """The side of the set's stored images (before padding), for the sets the harness holds in memory (an MNIST
    set from another --data-root is taken to be 28 x 28, as the MNIST format's sets are)."""
    return cfg.synthetic[2] if cfg.source == "synthetic" else STORED_SIDE.get(cfg.source)


def _images(batch: int, i) -> torch.Tensor:
    return torch.randn(batch, i.channels, i.height, i.width).contiguous(
        memory_format=torch.channels_last
    )  # (B, C, H, W)


def _forward(model: nn.Module, batch: int, i, amp: torch.dtype | None) -> Callable[[], None]:
    x = _images(batch, i)

    def forward() -> None:
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            model(x)  # (B, classes)

    return forward


def _mean(call: Callable[[], None]) -> float:
    """Seconds a call takes on average over WINDOW_S (at least MIN_CALLS calls), after a warm-up call."""
    call()  # warm-up: oneDNN picks its kernels, the allocator its blocks
    calls, start = 0, time.perf_counter()
    while calls < MIN_CALLS or time.perf_counter() - start < WINDOW_S:
        call()
        calls += 1
    return (time.perf_counter() - start) / calls


# ---------------------------------------------------------------- side by side


def _side_by_side(items: Work, precision: Precision, timer: Timer, lanes: int) -> dict[str, Timing]:
    """Time every net in `lanes` spawned processes at once; lane k's share is every lanes-th net from the k-th (a
    lane past the last net times the k % n-th, discarded). A lane's error, or its death, stops the plan with one
    line; so does a lane that reports nothing for LANE_TIMEOUT_S."""
    ctx = multiprocessing.get_context("spawn")
    finished, start, results = ctx.Value("i", 0), ctx.Barrier(lanes), ctx.Queue()
    procs = [
        ctx.Process(
            target=_lane,
            args=(
                items[k::lanes] or [items[k % len(items)]],
                k < len(items),
                precision,
                timer,
                lanes,
                finished,
                start,
                results,
            ),
            daemon=True,
        )
        for k in range(lanes)
    ]
    for proc in procs:
        proc.start()
    timings: dict[str, Timing] = {}
    try:
        waited = 0.0
        while len(timings) < len(items):
            try:
                kind, key, value = results.get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise ArchspecError(
                        f"timing the nets in {lanes} processes: one died (exit code {dead[0]}); expected each to "
                        "time its nets (plan with --devices 1 to time them in this process)"
                    ) from None
                if waited >= LANE_TIMEOUT_S:
                    raise ArchspecError(
                        f"timing the nets in {lanes} processes: none reported for {LANE_TIMEOUT_S} s; expected "
                        "each net in seconds (plan with --devices 1 to time them in this process)"
                    ) from None
                continue
            waited = 0.0
            if kind == "error":
                raise ArchspecError(f"timing {key}: {value}")
            timings[key] = value
    finally:
        for proc in procs:  # every lane stops on its own once all have finished; an error or Ctrl-C stops them
            if len(timings) < len(items):
                proc.terminate()
            proc.join(timeout=2 * WINDOW_S + 60)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return timings


def _lane(share: Work, own: bool, precision: Precision, timer: Timer, lanes: int, finished, start, results) -> None:
    """One process of `_side_by_side`: wait for every lane, time its share (reported when `own`), then keep
    timing its last net until every lane has finished its share, or one has failed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the planner stops the lanes, with no trace from each
    try:
        start.wait(timeout=START_TIMEOUT_S)
    except threading.BrokenBarrierError:
        pass  # a lane died or hung loading torch: the planner says so
    for key, (p, train, evaluate) in share:
        if finished.value >= lanes:  # another lane failed
            return
        try:
            t = timer(p, precision, train, evaluate)
        except Exception as e:  # reported, and the plan stops with it
            results.put(("error", p.entry.id, f"{type(e).__name__}: {e}"))
            with finished.get_lock():
                finished.value = lanes
            return
        if own:
            results.put(("timing", key, t))
    with finished.get_lock():
        finished.value += 1
    while finished.value < lanes:
        timer(p, precision, train, evaluate)  # beside the lanes still timing; discarded
