"""`archspec bench --suite S --plan`: what a suite costs before anything runs, from the IR alone.

No data, no torch: every figure comes from the analytic inference (`archspec.infer`: MACs, parameters,
activation sizes per layer) and the suite file. Conventions (docs/plan.md has the derivations):

- FLOPs are 2 x MACs of the convs and FC layers (as `archspec params`). A training image costs the forward
  pass, the weight gradients (the same again) and the input gradients (the same again, except the first weight
  layer's, whose input is the image): 6 x MACs less 2 x the first layer's.
- Evaluation (Sec. 3.2) on a square Q x Q image, centre-trimmed to the net's stride as `protocol.centre_trim`
  does: dense = the conv layers at Q plus the FC head at every position of the class score map, twice (the
  image and its flip); multi-crop = 50 crop-size views per scale (150 over three scales); both = the two.
- Memory per device at the suite's batch: weights, gradients and SGD momentum in fp32 (plus bf16 copies of the
  weights under autocast), and what torch keeps for the backward pass: each layer's output once (ReLU works in
  place), max-pool indices (int64), dropout masks, the input and the fp32 log-probabilities.
- Time: FLOPs / (device peak at the suite's precision x MFU); ring all-reduce of the fp32 gradients,
  2 (N-1) / N x parameter bytes over the link, either after the backward pass or hidden behind it (DDP);
  the holdout pass of every epoch runs on one device. The suite runs its (entry, seed) trainings and
  evaluations on D devices, N per run, side by side where the dependency graph allows: list scheduling by
  the longest path to the end (critical path first).
"""

from __future__ import annotations

import heapq
import math
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import PositiveFloat, PositiveInt

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.files import check_output, make_folder
from archspec.infer import NetworkStats, infer
from archspec.ir import FC, Network, Node, Shape
from archspec.source import network
from archspec.views import CENTRE, DENSE, DENSE_FIT, METHODS, MULTI_CROP, PART_PASSES, SCALED, Pass, geometry

from ..bench.suite import (
    Entry,
    ScaleMap,
    Suite,
    entry_config,
    eval_precision,
    load_suite,
    needs,
    safe,
    seeds_of,
    suite_path,
)
from ..training.config import DataConfig, to_options

DEFAULT_MFU = 0.4
DEVICES_FILE = Path(__file__).with_name("devices.toml")
GIB = 2**30

# (training images, scored images, channels, classes) of each data source; a folder is taken for ILSVRC-2012
SETS = {
    "embedded": (5_000, 1_000, 1, 10),  # harness/embedded: the Fashion-MNIST subset
    "fashion-mnist": (60_000, 10_000, 1, 10),
    "mnist": (60_000, 10_000, 1, 10),
    "synthetic": (DataConfig().synthetic[0], DataConfig().synthetic[0] // 8, 3, DataConfig().synthetic[1]),
}
ILSVRC = (1_281_167, 50_000, 3, 1000)  # ILSVRC-2012 train / val


class Device(Node):
    title: str
    kind: Literal["gpu", "cpu"]
    peak_tflops: dict[str, PositiveFloat]
    memory_gib: PositiveFloat
    link_gbs: PositiveFloat
    node: PositiveInt
    network_gbs: PositiveFloat
    source: str

    def peak(self, precision: Precision) -> tuple[float, str]:
        """(FLOP/s, the precision it is for): bf16 where the device has bf16 units, else fp32."""
        key = "bf16" if precision is Precision.bf16 and "bf16" in self.peak_tflops else "fp32"
        return self.peak_tflops[key] * 1e12, key

    def bandwidth(self, devices: int) -> float:
        """Bytes/s of the ring between `devices` devices: the link within a node, the network across nodes."""
        gbs = self.link_gbs if devices <= self.node else min(self.link_gbs, self.network_gbs)
        return gbs * 1e9


@cache
def devices() -> dict[str, Device]:
    raw = tomllib.loads(DEVICES_FILE.read_text(encoding="utf-8"))
    return {name: Device.model_validate(d) for name, d in raw.items()}


def device(name: str) -> Device:
    if name not in devices():
        raise ArchspecError(f"--device {name!r}: not in {DEVICES_FILE.name}; expected one of {', '.join(devices())}")
    return devices()[name]


# ---------------------------------------------------------------- one network: FLOPs and memory


@dataclass(frozen=True)
class NetCost:
    """A network at its training crop: FLOPs per image, parameters, bytes kept for backward per image."""

    net_name: str
    params: int
    buffer_bytes: int  # batch-norm running statistics (fp32) and step counts (int64)
    fwd_flops: int
    train_flops: int
    saved_bytes: int  # per image: activations kept for the backward pass
    stats: NetworkStats = field(repr=False)


def _saved(stats: NetworkStats, act: int, mask: int) -> int:
    """Bytes per image torch keeps for backward: each layer's output once in the activation dtype (`act` bytes),
    nothing for in-place ReLU, int64 indices per max-pool output, a `mask`-byte mask per dropout output, the
    input (fp32, and a bf16 copy under autocast) and the fp32 log-probabilities of the loss."""
    i = stats.input
    total = i.channels * i.height * i.width * (4 + (2 if act == 2 else 0))
    for s in stats.layers:
        if s.kind in ("relu", "softmax"):
            continue
        total += s.activations * act
        total += s.activations * {"maxpool": 8, "dropout": mask, "lrn": 2 * act}.get(s.kind, 0)
    return total + stats.layers[-1].activations * 4


def net_cost(net, act: int = 4, mask: int = 1) -> NetCost:
    stats = infer(net)
    first = next((s.macs for s in stats.layers if s.macs), 0)  # its input gradient is never computed
    buffers = sum(2 * 4 * s.out_shape[0] + 8 for s in stats.layers if s.kind == "batchnorm")
    return NetCost(
        net_name=stats.name,
        params=stats.params,
        buffer_bytes=buffers,
        fwd_flops=stats.flops,
        train_flops=3 * stats.flops - 2 * first,
        saved_bytes=_saved(stats, act, mask),
        stats=stats,
    )


@cache
def dense_pass_flops(net: Network, height: int, width: int) -> int:
    """FLOPs of the dense form of `net` on one view of `height` x `width` (compiler.dense): the layers before the
    first FC or global pooling at that size, then the FC head (as convs) at every position of the class score
    map; a global pooling is left out, so its FC layers run at every cell of the last map."""
    cut = next((i for i, layer in enumerate(net.layers) if layer.global_pool or isinstance(layer, FC)), None)
    if cut is None:  # no head: the net is fully convolutional as it stands
        shape = Shape(channels=net.input.channels, height=height, width=width)
        return 2 * infer(net.model_copy(update={"input": shape})).macs
    at_crop = infer(net)
    head = sum(s.macs for s in at_crop.layers[len(at_crop.layers) - (len(net.layers) - cut) :])  # no groups after
    shape = Shape(channels=net.input.channels, height=height, width=width)
    body = infer(net.model_copy(update={"layers": net.layers[:cut], "input": shape}))
    h, w = body.out_shape[1:] if len(body.out_shape) == 3 else (1, 1)
    kh, kw = geometry(net).head
    return 2 * (body.macs + max(1, h - kh + 1) * max(1, w - kw + 1) * head)


def pass_flops(net: Network, p: Pass) -> int:
    """FLOPs of `p.count` forward passes of one view: the net at its crop, or its dense form (`dense_pass_flops`)."""
    return p.count * (dense_pass_flops(net, p.height, p.width) if p.dense else 2 * infer(net).macs)


def eval_flops(net: Network, methods, q: int, fit: str = DENSE_FIT) -> int:
    """FLOPs of the forward passes `methods` make on one Q x Q image (at one test scale), each part (dense,
    multi-crop, centre) counted once however many methods share it: `archspec.views` defines the passes, the
    protocol runs them."""
    geo = geometry(net)
    parts = dict.fromkeys(part for m in methods for part in m.parts)
    return sum(pass_flops(net, p) for part in parts for p in PART_PASSES[part](q, q, geo, fit))


# ---------------------------------------------------------------- the suite's entries


@dataclass
class EntryPlan:
    entry: Entry
    epochs: int
    batch: int
    images_per_epoch: int
    holdout_images: int
    scored_images: int
    cost: NetCost
    q_single: list[int]
    q_multi: list[int]
    protocols: tuple[str, ...]
    methods: tuple[str, ...]
    net: Network  # as trained and evaluated: at the entry's crop, width and classes
    refs: list[str]

    @property
    def train_flops(self) -> int:
        return self.epochs * self.images_per_epoch * self.cost.train_flops

    def eval_flops_per_image(self, protocol: str, method: str) -> int:
        """One scored image under one method of one protocol: its passes at every test scale of the protocol."""
        return sum(eval_flops(self.net, (METHODS[method],), q) for q in self.q(protocol))

    @property
    def eval_flops(self) -> int:
        """What the suite's rows need from this entry, per seed: each part (dense, multi-crop) computed once at
        each scale of each protocol however many methods use it, and the centre crop with the single scale."""
        methods = tuple(METHODS[m] for m in self.methods)
        per = sum(eval_flops(self.net, methods, q) for p in self.protocols for q in self.q(p))
        centre = eval_flops(self.net, (CENTRE,), self.q_single[0]) if "single" in self.protocols else 0
        return self.scored_images * (per + centre)

    def q(self, protocol: str) -> list[int]:
        """The protocol's test scales."""
        return self.q_single if protocol == "single" else self.q_multi


def entry_plans(suite: Suite, data: str | None = None, act: int = 4, mask: int = 1) -> list[EntryPlan]:
    s = suite.suite
    n_train, n_scored, channels, classes = SETS.get(data or s.data, ILSVRC)
    plans = []
    for entry in suite.train:
        cfg = entry_config(suite, entry, Path("bench") / s.name, s.seed, 1, data)
        crop = cfg.data.crop_size
        net = network(
            entry.spec,
            num_classes=classes,
            input=f"{crop}x{crop}x{channels}",
            width=s.width,
            batch_norm=s.batch_norm,
        )
        held = round(n_train * s.holdout)
        steps = max(1, (n_train - held) // s.batch)
        q_multi = ScaleMap(crop).test_scales(entry.scale)[1]
        q_single = [cfg.data.test_scale]
        protocols, methods = needs(suite, entry.id)
        plans.append(
            EntryPlan(
                entry=entry,
                epochs=cfg.recipe.epochs,
                batch=s.batch,
                images_per_epoch=steps * s.batch,
                holdout_images=held,
                scored_images=min(n_scored, s.eval_limit or n_scored),
                cost=net_cost(net, act, mask),
                q_single=q_single,
                q_multi=q_multi,
                protocols=protocols,
                methods=methods,
                net=net,
                refs=[r for r in (entry.pretrained_a, entry.finetune) if r],
            )
        )
    return plans


# ---------------------------------------------------------------- time on N devices


@dataclass(frozen=True)
class StepTime:
    compute: float
    forward: float
    allreduce: float

    @property
    def serial(self) -> float:
        """The all-reduce after the backward pass."""
        return self.compute + self.allreduce

    @property
    def overlapped(self) -> float:
        """The all-reduce hidden behind the backward pass, as DDP's gradient buckets do."""
        return self.forward + max(self.compute - self.forward, self.allreduce)


def step_time(cost: NetCost, batch: int, n: int, dev: Device, precision: Precision, mfu: float) -> StepTime:
    peak, _ = dev.peak(precision)
    share = n if dev.kind == "gpu" else 1  # a CPU's processes split one peak
    rate = peak * mfu * share / n  # FLOP/s each process gets
    per = batch / n
    compute = cost.train_flops * per / rate
    ring = 2 * (n - 1) / n * 4 * cost.params / dev.bandwidth(n) if n > 1 else 0.0
    return StepTime(compute, cost.fwd_flops * per / rate, ring)


def train_precision(suite: Suite, dev: Device) -> Precision:
    """The suite's training precision on this device: auto is bf16 on a GPU; bf16 needs bf16 units."""
    p = suite.suite.precision
    p = (Precision.bf16 if dev.kind == "gpu" else Precision.fp32) if p is Precision.auto else p
    return Precision.fp32 if p is Precision.bf16 and "bf16" not in dev.peak_tflops else p


@dataclass
class Costed:
    plan: EntryPlan
    step: StepTime
    train_s: float  # one seed, overlapped all-reduce
    train_serial_s: float
    train_one_s: float  # one device
    eval_s: float
    memory: dict[str, int]


def memory(cost: NetCost, batch: int, n: int, bf16: bool) -> dict[str, int]:
    """Peak bytes per device at the end of the forward pass (the previous step's gradients are still there:
    `train_step` clears them just before backward)."""
    p = 4 * cost.params
    parts = {
        "weights": p + (2 * cost.params if bf16 else 0) + cost.buffer_bytes,
        "gradients": p,
        "optimizer": p,  # SGD momentum
        "ddp_buckets": p if n > 1 else 0,
        "activations": math.ceil(batch / n) * cost.saved_bytes,
    }
    return parts | {"total": sum(parts.values())}


def cost_entries(plans: list[EntryPlan], suite: Suite, dev: Device, n: int, mfu: float) -> list[Costed]:
    prec, eprec = train_precision(suite, dev), eval_precision(suite)
    peak1 = dev.peak(prec)[0] * mfu
    eval_rate = dev.peak(eprec)[0] * mfu * (n if dev.kind == "gpu" else 1)
    out = []
    for e in plans:
        if e.batch % n:
            raise ArchspecError(f"batch {e.batch} does not split over {n} devices per run; expected a divisor")
        steps = e.images_per_epoch // e.batch
        st, one = step_time(e.cost, e.batch, n, dev, prec, mfu), step_time(e.cost, e.batch, 1, dev, prec, mfu)
        holdout = e.holdout_images * e.cost.fwd_flops / peak1  # on the main process only
        out.append(
            Costed(
                plan=e,
                step=st,
                train_s=e.epochs * (steps * st.overlapped + holdout),
                train_serial_s=e.epochs * (steps * st.serial + holdout),
                train_one_s=e.epochs * (steps * one.serial + holdout),
                eval_s=e.eval_flops / eval_rate,
                memory=memory(e.cost, e.batch, n, prec is Precision.bf16),
            )
        )
    return out


# ---------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Slot:
    task: str
    kind: str  # train | eval
    lane: int
    start: float
    end: float
    critical: bool


def schedule(durations: dict[str, float], deps: dict[str, list[str]], lanes: int) -> tuple[list[Slot], float]:
    """List scheduling on `lanes` identical lanes: whenever a lane is free, the ready task with the longest
    path to the end starts (ties: the suite's order). Returns the slots and the critical path's length
    (the lower bound no number of lanes beats); slots on one longest path are marked critical."""
    order = list(durations)
    after = {t: [u for u in order if t in deps[u]] for t in order}
    tail: dict[str, float] = {}
    for t in reversed(order):  # deps name earlier tasks only
        tail[t] = durations[t] + max((tail[u] for u in after[t]), default=0.0)
    path, t = [], max(order, key=lambda t: tail[t] if not deps[t] else -1)
    while True:
        path.append(t)
        if not after[t]:
            break
        t = max(after[t], key=lambda u: tail[u])
    done: dict[str, float] = {}
    free = [(0.0, lane) for lane in range(lanes)]
    waiting, slots = list(order), []
    while waiting:
        now, lane = heapq.heappop(free)
        ready = [t for t in waiting if all(d in done and done[d] <= now for d in deps[t])]
        if not ready:  # wait for the next dependency to finish
            later = min(done[d] for t in waiting for d in deps[t] if d in done and done[d] > now)
            heapq.heappush(free, (later, lane))
            continue
        t = max(ready, key=lambda t: (tail[t], -order.index(t)))
        waiting.remove(t)
        done[t] = now + durations[t]
        slots.append(Slot(t, "eval" if t.startswith("eval ") else "train", lane, now, done[t], t in path))
        heapq.heappush(free, (done[t], lane))
    return slots, tail[path[0]]


# ---------------------------------------------------------------- the plan


@dataclass
class Plan:
    suite: Suite
    device_name: str
    device: Device
    devices: int
    per_run: int
    mfu: float
    precision: str
    entries: list[Costed]
    slots: list[Slot]
    critical_s: float
    notes: list[str]

    @property
    def makespan_s(self) -> float:
        return max((s.end for s in self.slots), default=0.0)

    def entry_rows(self) -> list[dict]:
        rows = []
        for c in self.entries:
            e = c.plan
            rows.append(
                {
                    "entry": e.entry.id,
                    "after": ", ".join(e.refs) or "-",
                    "epochs": e.epochs,
                    "images_per_epoch": e.images_per_epoch,
                    "train_gflops_per_image": round(e.cost.train_flops / 1e9, 3),
                    "train_pflops": round(e.train_flops / 1e15, 3),
                    "eval_pflops": round(e.eval_flops / 1e15, 3),
                    "memory_gib": round(c.memory["total"] / GIB, 2),
                    "fits": "yes" if c.memory["total"] <= self.device.memory_gib * GIB else "NO",
                    "train_h": round(c.train_s / 3600, 2),
                    "train_h_no_overlap": round(c.train_serial_s / 3600, 2),
                    "train_h_1_device": round(c.train_one_s / 3600, 2),
                    "speedup": round(c.train_one_s / c.train_s, 2),
                    "speedup_no_overlap": round(c.train_one_s / c.train_serial_s, 2),
                    "eval_h": round(c.eval_s / 3600, 3),
                }
            )
        return rows

    def eval_rows(self) -> list[dict]:
        """Evaluation FLOPs per image for every protocol (dense at each Q, 150 crops, both)."""
        rows = []
        for c in self.entries:
            e = c.plan
            dense = "; ".join(f"{q}: {eval_flops(e.net, (DENSE,), q) / 1e9:.3f}" for q in e.q_multi)
            rows.append(
                {
                    "entry": e.entry.id,
                    "q_single": e.q_single[0],
                    "dense_single_gflops": round(e.eval_flops_per_image("single", "dense") / 1e9, 3),
                    "q_multi": ",".join(map(str, e.q_multi)),
                    "dense_at_each_q_gflops": dense,
                    "dense_multi_gflops": round(e.eval_flops_per_image("multi", "dense") / 1e9, 3),
                    "crops_150_gflops": round(e.eval_flops_per_image("multi", MULTI_CROP.name) / 1e9, 3),
                    "both_gflops": round(e.eval_flops_per_image("multi", "multi-crop & dense") / 1e9, 3),
                    "scored_images": e.scored_images,
                    "suite_needs": f"{','.join(e.protocols)}: {','.join(METHODS[m].short for m in e.methods)}",
                }
            )
        return rows

    def eval_flops_per_method(self) -> dict:
        """{entry: {protocol: {"test_scales": [...], method: FLOPs per scored image}}} for every method at every
        protocol's scales, from `archspec.views`' passes: what anyone can check against a FLOP counter."""
        out = {}
        for c in self.entries:
            e = c.plan
            out[e.entry.id] = {
                protocol: {"test_scales": e.q(protocol)}
                | {m.name: e.eval_flops_per_image(protocol, m.name) for m in SCALED}
                for protocol in ("single", "multi")
            }
            out[e.entry.id]["single"][CENTRE.name] = eval_flops(e.net, (CENTRE,), e.q_single[0])
        return out

    def memory_rows(self) -> list[dict]:
        return [{"entry": c.plan.entry.id, **{k: round(v / GIB, 3) for k, v in c.memory.items()}} for c in self.entries]

    def schedule_rows(self) -> list[dict]:
        return [
            {
                "task": s.task,
                "lane": s.lane,
                "devices": _lane_devices(s.lane, self.per_run),
                "start_h": round(s.start / 3600, 2),
                "end_h": round(s.end / 3600, 2),
                "critical": "yes" if s.critical else "",
            }
            for s in sorted(self.slots, key=lambda s: (s.start, s.lane))
        ]

    def totals(self) -> dict:
        seeds = self.suite.suite.seeds
        c = self.entries
        return {
            "suite": self.suite.suite.name,
            "device": self.device_name,
            "devices": self.devices,
            "per_run": self.per_run,
            "mfu": self.mfu,
            "precision": self.precision,
            "trainings": len(c) * seeds,
            "train_pflops": round(seeds * sum(x.plan.train_flops for x in c) / 1e15, 3),
            "eval_pflops": round(seeds * sum(x.plan.eval_flops for x in c) / 1e15, 3),
            "peak_memory_gib": round(max(x.memory["total"] for x in c) / GIB, 2),
            "device_hours": round(seeds * self.per_run * sum(x.train_s + x.eval_s for x in c) / 3600, 1),
            "critical_path_h": round(self.critical_s / 3600, 2),
            "wall_h": round(self.makespan_s / 3600, 2),
            "wall_days": round(self.makespan_s / 86400, 2),
        }


def _lane_devices(lane: int, per_run: int) -> str:
    a = lane * per_run
    return str(a) if per_run == 1 else f"{a}-{a + per_run - 1}"


def _tasks(entries: list[Costed], seeds: list[int]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """(duration, dependencies) of every training and evaluation, seed-major as bench runs them."""
    durations, deps = {}, {}
    for seed in seeds:
        for c in entries:
            name = f"{c.plan.entry.id} seed {seed}"
            durations[name] = c.train_s
            deps[name] = [f"{r} seed {seed}" for r in c.plan.refs]
    for seed in seeds:
        for c in entries:
            name = f"{c.plan.entry.id} seed {seed}"
            durations[f"eval {name}"] = c.eval_s
            deps[f"eval {name}"] = [name]
    return durations, deps


def plan(
    suite_path: str,
    device_name: str = "h100",
    devices_total: int = 8,
    mfu: float | None = None,
    per_run: int | None = None,
    data: str | None = None,
) -> Plan:
    """The suite's cost on `devices_total` devices of a kind, `per_run` per training (None: among powers of two,
    the split with the shortest wall time whose memory fits, if any does)."""
    mfu = DEFAULT_MFU if mfu is None else mfu
    if not 0 < mfu <= 1:
        raise ArchspecError(f"--mfu {mfu}: expected a fraction of the peak in (0, 1]")
    if devices_total < 1:
        raise ArchspecError(f"--devices {devices_total}: expected at least 1")
    dev = device(device_name)
    suite = load_suite(suite_path)
    prec = train_precision(suite, dev)
    bf16 = prec is Precision.bf16
    plans = entry_plans(suite, data, act=2 if bf16 else 4, mask=4 if dev.kind == "cpu" else 1)
    notes = []
    if suite.suite.precision is not Precision.fp32 and dev.kind == "gpu" and not bf16:
        notes.append(f"{device_name} has no bf16 units: the suite is planned in fp32")
    options = [per_run] if per_run else [g for g in (2**k for k in range(12)) if g <= devices_total]
    options = [g for g in options if devices_total % g == 0 and suite.suite.batch % g == 0] or options[:1]
    if per_run and devices_total % per_run:
        raise ArchspecError(f"--per-run {per_run}: does not divide --devices {devices_total}; expected a divisor")
    best = None
    for g in options:
        entries = cost_entries(plans, suite, dev, g, mfu)
        durations, deps = _tasks(entries, seeds_of(suite))
        # no more lanes than tasks: the rest would stay idle, and a million of them is a million idle loop turns
        slots, critical = schedule(durations, deps, min(devices_total // g, len(durations)))
        end = max(s.end for s in slots)
        fits = all(c.memory["total"] <= dev.memory_gib * GIB for c in entries)
        if best is None or (fits, -end) > (best[0], -best[1] * (1 - 1e-9)):
            best = (fits, end, g, entries, slots, critical)
    _, _, g, entries, slots, critical = best
    notes += _impossible_speedups(entries, g, device_name)
    return Plan(suite, device_name, dev, devices_total, g, mfu, dev.peak(prec)[1], entries, slots, critical, notes)


def _impossible_speedups(entries: list[Costed], n: int, device_name: str) -> list[str]:
    """Notes naming the entries whose speed-up on `n` devices over one is outside [1/n, n], which data
    parallelism cannot give, or below 1, slower than one device, which no one would run: either way a figure in
    devices.toml is to be checked first (a link of 0.12 GB/s for 150 once gave 8 V100 0.24x)."""
    speedups = {c.plan.entry.id: c.train_one_s / c.train_s for c in entries}
    figures = f"{device_name}'s figures in {DEVICES_FILE.name} (peak_tflops, link_gbs) to be right"
    notes = []
    for title, rule in (
        (f"IMPOSSIBLE: speed-ups outside [1/{n}, {n}] on {n} devices", lambda x: not 1 / n <= x <= n),
        (f"SUSPECT: {n} devices slower than one", lambda x: 1 / n <= x < 1),
    ):
        bad = [f"{id_} {x:.3g}x" for id_, x in speedups.items() if n > 1 and rule(x)]
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            notes.append(f"{title} ({', '.join(bad[:3])}{more}); expected {figures}")
    return notes


# ---------------------------------------------------------------- Slurm


def train_command(suite: Suite, entry: Entry, seed: int, gpus: int, data: str | None) -> list[str]:
    """`archspec train` arguments that make exactly the run `archspec bench` trains for (entry, seed), in
    bench's folder layout, so that bench reuses it afterwards: every option of its config (`config.to_options`)."""
    cfg = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, gpus, data)
    return ["archspec", "train", cfg.spec, *to_options(cfg), "--gpus", str(gpus)]


def check_slurm_folder(folder: Path) -> None:
    """`--slurm` is a new or empty folder, or one a plan wrote (it has submit.sh): its README.md and scripts are
    replaced, never a user's files of the same names."""
    if folder.is_dir() and not (folder / "submit.sh").is_file() and any(folder.iterdir()):
        raise ArchspecError(
            f"{folder}: holds files that archspec bench --plan did not write (no submit.sh); expected a new or "
            "empty folder for --slurm, or one a plan wrote"
        )


def write_slurm(p: Plan, folder: str | Path, data: str | None = None) -> list[Path]:
    """One sbatch script per (entry, seed) on `per_run` GPUs (whole nodes when it spans several), `submit.sh`
    that submits them in the suite's order with --dependency=afterok: on what each starts from, and a README."""
    from archspec.atomic import atomic_path

    out = make_folder(folder, "the Slurm scripts")
    g, dev = p.per_run, p.device
    nodes = math.ceil(g / dev.node)
    per_node = g // nodes
    if per_node * nodes != g:
        raise ArchspecError(f"{g} GPUs per run do not fill {nodes} nodes of {dev.node}; expected a multiple")
    written = []
    submit = ["#!/bin/bash", "# Every training of the suite in its order; each waits for what it starts from."]
    submit += [
        "# Run it where archspec bench will run: the runs go to bench/<suite>/runs/ under this folder.",
        "set -euo pipefail",
        'here=$(dirname "$0")',
    ]
    by_id = {c.plan.entry.id: c for c in p.entries}
    for seed in seeds_of(p.suite):
        for i, c in enumerate(p.entries, 1):
            e = c.plan.entry
            name = f"{i:02d}-{safe(e.id)}-seed{seed}"
            hours = max(1.0, 1.5 * by_id[e.id].train_s / 3600)  # the plan's time with a 50% margin
            command = " ".join(shlex.quote(a) for a in train_command(p.suite, e, seed, g, data))
            script = [
                "#!/bin/bash",
                f"#SBATCH --job-name={p.suite.suite.name}-{safe(e.id)}-seed{seed}",
                f"#SBATCH --nodes={nodes}",
                "#SBATCH --ntasks-per-node=1",
                f"#SBATCH --gres=gpu:{per_node}",
                f"#SBATCH --time={int(hours // 24)}-{int(hours % 24):02d}:{int(hours * 60 % 60):02d}:00",
                f"#SBATCH --output={out.resolve() / name}.%j.log",
                f"# {e.id} seed {seed}: {c.plan.epochs} epochs on {g} x {p.device_name}, "
                f"planned {c.train_s / 3600:.1f} h (MFU {p.mfu:g}); after: {', '.join(c.plan.refs) or 'nothing'}",
                "set -euo pipefail",
                'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                f'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node {per_node} --rdzv-id "$SLURM_JOB_ID" '
                '--rdzv-backend c10d --rdzv-endpoint "$head:29500" --no-python \\',
                f"    {command}",
                "",
            ]
            path = out / f"{name}.sbatch"
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join(script))
            written.append(path)
            var = f"job_{safe(e.id).replace('-', '_').replace('.', '_')}_{seed}"
            after = [f"$job_{safe(r).replace('-', '_').replace('.', '_')}_{seed}" for r in c.plan.refs]
            dep = f"--dependency=afterok:{':'.join(after)} " if after else ""
            submit.append(f'{var}=$(sbatch --parsable {dep}"$here/{name}.sbatch")')
    with atomic_path(out / "submit.sh") as tmp:
        tmp.write_text(
            "\n".join(submit)
            + '\necho "submitted; then: archspec bench --suite '
            + p.suite.suite.name
            + ' (evaluates and reports)"\n'
        )
    (out / "submit.sh").chmod(0o755)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(
            f"# Slurm scripts for the {p.suite.suite.name} suite\n\nSubmit them all with `bash {out}/submit.sh` from "
            "the folder where `archspec bench` will run (each job waits, with --dependency=afterok:, for the runs "
            f"it starts from); then `archspec bench --suite {p.suite.suite.name}` there reuses the runs, evaluates "
            "and reports.\n"
        )
    return written


# ---------------------------------------------------------------- picture


def gantt(p: Plan, path: str | Path) -> Path:
    """The schedule as bars on device lanes (hours), the critical path outlined in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archspec.atomic import atomic_path

    lanes = 1 + max((s.lane for s in p.slots), default=0)  # the lanes the schedule uses, never more than its tasks
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.5 * lanes))
    for s in p.slots:
        ax.barh(
            s.lane,
            (s.end - s.start) / 3600,
            left=s.start / 3600,
            color="tab:blue" if s.kind == "train" else "tab:green",
            edgecolor="red" if s.critical else "white",
            linewidth=2 if s.critical else 0.5,
        )
        if s.end - s.start > 0.06 * p.makespan_s:
            ax.text(
                (s.start + s.end) / 7200,
                s.lane,
                s.task.removeprefix("eval ").removesuffix(" seed 0") if p.suite.suite.seeds == 1 else s.task,
                ha="center",
                va="center",
                fontsize=6,
                color="white",
            )
    ax.set_yticks(range(lanes), [f"{p.device_name} {_lane_devices(i, p.per_run)}" for i in range(lanes)])
    ax.invert_yaxis()
    ax.set_xlabel("hours")
    ax.set_title(
        f"{p.suite.suite.name}: {p.devices} x {p.device_name}, {p.per_run} per run, MFU {p.mfu:g}: "
        f"{p.makespan_s / 3600:.1f} h (critical path, red: {p.critical_s / 3600:.1f} h); blue train, green evaluate",
        fontsize=9,
    )
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out


def report(p: Plan) -> dict:
    """Every table of the plan, by name (the CLI shows them; JSON writes them all)."""
    graph = {c.plan.entry.id: [d.plan.entry.id for d in p.entries if c.plan.entry.id in d.plan.refs] for c in p.entries}
    return {
        "totals": p.totals(),
        "notes": p.notes,
        "graph": graph,
        "entries": p.entry_rows(),
        "evaluation": p.eval_rows(),
        "eval_flops_per_image": p.eval_flops_per_method(),
        "memory": p.memory_rows(),
        "schedule": p.schedule_rows(),
    }


def plan_suite(
    suite: str,
    device_name: str = "h100",
    devices_total: int = 8,
    mfu: float | None = None,
    per_run: int | None = None,
    data: str | None = None,
    slurm: str | Path | None = None,
    gantt_png: str | Path | None = None,
) -> dict:
    """What `bench --plan` does: the plan's tables, and the Slurm scripts and the picture where asked for. Where
    they go is checked first: never onto the plan's inputs (the suite, the devices file) nor into a folder of
    files that a plan did not write."""
    if gantt_png is not None:
        check_output(gantt_png, (suite_path(suite), DEVICES_FILE), "an input of the plan", "the --gantt picture")
    if slurm is not None:
        check_slurm_folder(Path(slurm))
    p = plan(suite, device_name, devices_total, mfu, per_run, data)
    out = report(p)
    written = []
    if slurm is not None:
        scripts = write_slurm(p, slurm, data)
        written.append(f"wrote {len(scripts)} sbatch scripts to {slurm}: submit with bash {Path(slurm) / 'submit.sh'}")
    if gantt_png is not None:
        written.append(f"wrote {gantt(p, gantt_png)}")
    return out | {"written": written}
