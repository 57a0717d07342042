"""The cost model: what a suite's entries cost before anything runs, from the IR alone.

No data, no torch: every figure comes from the analytic inference (`archspec.infer`: MACs, parameters,
activation sizes per layer) and the suite file. Conventions (docs/plan.md has the derivations):

- FLOPs are 2 x MACs of the convs and FC layers (as `archspec params`). A training image costs the forward
  pass, the weight gradients (the same again) and the input gradients (the same again, except the first weight
  layer's, whose input is the image): 6 x MACs less 2 x the first layer's.
- Evaluation (Sec. 3.2): the forward passes each method makes, from `archspec.views` (the geometry the
  protocol runs), each costed at its input size.
- Memory per device at the suite's batch: weights, gradients and SGD momentum in fp32 (plus bf16 copies of the
  weights under autocast), and what torch keeps for the backward pass: each layer's output once (ReLU works in
  place), max-pool indices (int64), dropout masks, the input and the fp32 log-probabilities.
- Time: FLOPs / (device peak at the suite's precision x MFU); all-reduce of the fp32 gradients (ring: 2 (N-1) / N,
  reduce-to-one: 2 (N-1) x parameter bytes over the link), after the backward pass or hidden behind it (DDP);
  the holdout pass of every epoch runs on one device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.infer import NetworkStats, infer
from archspec.ir import FC, Network, Shape
from archspec.views import CENTRE, DENSE_FIT, METHODS, PART_PASSES, SINGLE, Pass, geometry

from ..suite import Entry, ScaleMap, Suite, entry_config, eval_passes, needs
from ..training.config import DataConfig, TrainConfig
from .devices import Device

DEFAULT_MFU = 0.4

# (training images, scored images, channels, classes) of each data source; a folder is taken for ILSVRC-2012
SETS = {
    "embedded": (5_000, 1_000, 1, 10),  # harness/embedded: the Fashion-MNIST subset
    "fashion-mnist": (60_000, 10_000, 1, 10),
    "mnist": (60_000, 10_000, 1, 10),
    "synthetic": (DataConfig().synthetic[0], DataConfig().synthetic[0] // 8, 3, DataConfig().synthetic[1]),
}
ILSVRC = (1_281_167, 50_000, 3, 1000)  # ILSVRC-2012 train / val


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
    passes: list[tuple[int, tuple[str, ...], tuple[str, ...]]]  # bench's evaluations: (images, protocols, methods)
    cost: NetCost
    q_single: list[int]
    q_multi: list[int]
    protocols: tuple[str, ...]
    methods: tuple[str, ...]
    net: Network  # as trained and evaluated: at the entry's crop, width and classes
    refs: list[str]
    config: TrainConfig  # the training bench runs for this entry (its first seed): data, recipe, model

    @property
    def train_flops(self) -> int:
        return self.epochs * self.images_per_epoch * self.cost.train_flops

    @property
    def holdout_flops(self) -> int:
        """The held-out pass of every epoch: one forward pass an image."""
        return self.epochs * self.holdout_images * self.cost.fwd_flops

    def eval_flops_per_image(self, protocol: str, method: str) -> int:
        """One scored image under one method of one protocol: its passes at every test scale of the protocol."""
        return sum(eval_flops(self.net, (METHODS[method],), q) for q in self.q(protocol))

    @property
    def eval_flops(self) -> int:
        """What the suite's rows need from this entry, per seed: each part (dense, multi-crop) computed once at
        each scale of each protocol however many methods use it, and the centre crop with the single scale; in
        each of bench's passes (two with `multi_crop_images`: the multi-crop rows on fewer images)."""
        return sum(n * self._per_image(protocols, methods) for n, protocols, methods in self.passes)

    def _per_image(self, protocols: tuple[str, ...], methods: tuple[str, ...]) -> int:
        ms = tuple(METHODS[m] for m in methods)
        per = sum(eval_flops(self.net, ms, q) for p in protocols for q in self.q(p))
        return per + (eval_flops(self.net, (CENTRE,), self.q_single[0]) if SINGLE.name in protocols else 0)

    def q(self, protocol: str) -> list[int]:
        """The protocol's test scales."""
        return self.q_single if protocol == SINGLE.name else self.q_multi


def entry_plans(suite: Suite, data: str | None = None, act: int = 4, mask: int = 1) -> list[EntryPlan]:
    s = suite.suite
    n_train, n_scored, channels, classes = SETS.get(data or s.data, ILSVRC)
    plans = []
    for entry in suite.train:
        cfg = entry_config(suite, entry, Path("bench") / s.name, s.seed, 1, data)
        crop = cfg.data.crop_size
        net = cfg.network(classes, channels)  # as bench trains it: the entry's own batch norm, the suite's width
        held = round(n_train * s.holdout)
        steps = max(1, (n_train - held) // s.batch)
        q_multi = ScaleMap(crop).test_scales(entry.scale)[1]
        q_single = [cfg.data.test_scale]
        protocols, methods = needs(suite, entry.id)
        scored = min(n_scored, s.eval_limit or n_scored)
        passes = [(n or scored, p, m) for n, p, m in eval_passes(suite, entry.id)]  # as bench evaluates it
        plans.append(
            EntryPlan(
                entry=entry,
                epochs=cfg.recipe.epochs,
                batch=s.batch,
                images_per_epoch=steps * s.batch,
                holdout_images=held,
                scored_images=scored,
                passes=passes,
                cost=net_cost(net, act, mask),
                q_single=q_single,
                q_multi=q_multi,
                protocols=protocols,
                methods=methods,
                net=net,
                refs=[r for r in (entry.pretrained_a, entry.finetune) if r],
                config=cfg,
            )
        )
    return plans


# ---------------------------------------------------------------- time on N devices

# How the gradients are summed: a ring (NCCL and gloo under DDP, what the harness runs) moves 2 (N-1)/N of them
# over each device's link; reduce-to-one (Caffe's multi-GPU code of 2014: every GPU sends its gradients to one,
# which sends the new weights back) moves 2 (N-1) of them over that one GPU's link.
ALLREDUCE = {"ring": lambda n: 2 * (n - 1) / n, "reduce-to-one": lambda n: 2 * (n - 1)}


@dataclass(frozen=True)
class StepTime:
    compute: float
    forward: float
    allreduce: float  # ring
    reduce_to_one: float

    def time(self, pattern: str = "ring", overlap: bool = True) -> float:
        """One step: the all-reduce after the backward pass, or hidden behind it as DDP's gradient buckets do."""
        a = self.allreduce if pattern == "ring" else self.reduce_to_one
        return self.forward + max(self.compute - self.forward, a) if overlap else self.compute + a

    @property
    def serial(self) -> float:
        return self.time("ring", overlap=False)

    @property
    def overlapped(self) -> float:
        return self.time("ring", overlap=True)


def step_time(cost: NetCost, batch: int, n: int, dev: Device, precision: Precision, mfu: float) -> StepTime:
    peak, _ = dev.peak(precision)
    share = n if dev.additive else 1  # a `cpu` device's processes split one peak
    rate = peak * mfu * share / n  # FLOP/s each process gets
    per = batch / n
    compute = cost.train_flops * per / rate
    grads = 4 * cost.params / dev.bandwidth(n)  # seconds to move the fp32 gradients once
    ring, one = (ALLREDUCE["ring"](n) * grads, ALLREDUCE["reduce-to-one"](n) * grads) if n > 1 else (0.0, 0.0)
    return StepTime(compute, cost.fwd_flops * per / rate, ring, one)


def train_precision(suite: Suite, dev: Device) -> Precision:
    """The suite's training precision on this device: auto is bf16 on a GPU or a core with bf16 units (as
    `autocast_dtype` decides); bf16 needs bf16 units."""
    p = suite.suite.precision
    if p is Precision.auto:
        p = Precision.bf16 if dev.kind == "gpu" or "bf16" in dev.peak_tflops else Precision.fp32
    return Precision.fp32 if p is Precision.bf16 and "bf16" not in dev.peak_tflops else p


@dataclass
class Costed:
    """An entry's cost on N devices per run; every term of its time is a field (docs/plan.md)."""

    plan: EntryPlan
    devices: int
    step: StepTime  # on N devices
    one: StepTime  # on one device
    holdout_s: float  # the held-out pass of one epoch, on the main process only
    eval_s: float
    memory: dict[str, int]

    @property
    def steps(self) -> int:
        return self.plan.images_per_epoch // self.plan.batch

    def train(self, pattern: str = "ring", overlap: bool = True) -> float:
        """Seconds of one seed's training on N devices: the steps of every epoch, and its held-out pass."""
        return self.plan.epochs * (self.steps * self.step.time(pattern, overlap) + self.holdout_s)

    @property
    def train_s(self) -> float:  # what the harness runs: DDP's ring, overlapped
        return self.train()

    @property
    def train_serial_s(self) -> float:
        return self.train(overlap=False)

    @property
    def train_one_s(self) -> float:
        return self.plan.epochs * (self.steps * self.one.serial + self.holdout_s)

    def link_for(self, speedup: float, pattern: str) -> float | None:
        """The link (bytes/s) at which this entry's speed-up over one device is `speedup`, every term included
        (the all-reduce after the backward pass, the held-out pass on one device); None where no link is fast
        enough: the held-out pass and the compute alone already fall short."""
        n = self.devices
        per_step = (self.train_one_s / speedup / self.plan.epochs - self.holdout_s) / self.steps
        budget = per_step - self.step.compute  # what the all-reduce may take
        if n == 1 or budget <= 0:
            return None
        return ALLREDUCE[pattern](n) * 4 * self.plan.cost.params / budget


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


def net_key(plan: EntryPlan) -> str:
    """What makes two entries the same net to time: the IR (with its input) and the batch."""
    return f"{plan.net.model_dump_json()}|{plan.batch}"


@dataclass(frozen=True)
class Mfu:
    """The share of the device's peak the nets reach: one figure for every net (assumed, or --mfu), or measured
    per net on this machine (`calibrate.measure`), in a training step and in evaluation."""

    default: float
    train: dict[str, float] = field(default_factory=dict)  # net_key -> share
    eval: dict[str, float] = field(default_factory=dict)
    measured: bool = False

    def of(self, plan: EntryPlan) -> tuple[float, float]:
        """(training, evaluation) share for this entry's net."""
        key = net_key(plan)
        return self.train.get(key, self.default), self.eval.get(key, self.default)

    def __str__(self) -> str:
        if not self.measured:
            return f"{self.default:g}"
        t, e = self.train.values(), self.eval.values()
        return f"measured: training {min(t):.2f}-{max(t):.2f}, evaluation {min(e):.2f}-{max(e):.2f}"


def cost_entries(plans: list[EntryPlan], suite: Suite, dev: Device, n: int, mfu: Mfu) -> list[Costed]:
    prec = train_precision(suite, dev)  # a suite evaluates at its training precision (`eval_precision`)
    out = []
    for e in plans:
        if e.batch % n:
            raise ArchspecError(f"batch {e.batch} does not split over {n} devices per run; expected a divisor")
        train, evaluate = mfu.of(e)
        peak1 = dev.peak(prec)[0] * evaluate  # the held-out pass: one process, inference
        eval_rate = peak1 * (n if dev.additive else 1)
        out.append(
            Costed(
                plan=e,
                devices=n,
                step=step_time(e.cost, e.batch, n, dev, prec, train),
                one=step_time(e.cost, e.batch, 1, dev, prec, train),
                holdout_s=e.holdout_images * e.cost.fwd_flops / peak1,
                eval_s=e.eval_flops / eval_rate,
                memory=memory(e.cost, e.batch, n, prec is Precision.bf16),
            )
        )
    return out
