"""`archspec bench --suite S --plan`: a suite's cost on N devices of a kind, its schedule and its tables.

The cost model is `cost.py` (docs/plan.md has the derivations), the devices `devices.py`, the schedule
`schedule.py`; `slurm.py` and `gantt.py` write a plan out.
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.views import BOTH, CENTRE, DENSE, METHODS, MULTI, MULTI_CROP, PROTOCOLS, SCALED, SINGLE

from ..suite import Suite, load_suite, seeds_of
from .cost import DEFAULT_MFU, Costed, Mfu, cost_entries, entry_plans, eval_flops, memory, train_precision
from .devices import DEVICES_FILE, GIB, MEASURED, Device, device
from .machine import this_machine
from .schedule import Slot, lane_devices, schedule, tasks


@dataclass(frozen=True)
class PaperSetup:
    """How a paper ran the suite named after it: its split and the speed-up it reported, for the entry it names."""

    per_run: int
    speedup: float
    entry: str
    source: str


PAPERS = {
    "paper": PaperSetup(4, 3.75, "D/256", "Simonyan & Zisserman, Sec. 3.3: 4 Titan Black GPUs a net, 3.75x over one")
}

# ---------------------------------------------------------------- the plan


def sig(x: float) -> float:
    """Three significant figures: a step of 0.04 ms and one of 4,000 ms both say something."""
    return float(f"{x:.3g}")


@dataclass
class Plan:
    suite: Suite
    device_name: str
    device: Device
    devices: int
    per_run: int
    mfu: Mfu
    precision: str
    entries: list[Costed]
    slots: list[Slot]
    critical_s: float
    notes: list[str]
    header: list[str]

    @property
    def makespan_s(self) -> float:
        return max((s.end for s in self.slots), default=0.0)

    @property
    def paper(self) -> PaperSetup | None:
        return PAPERS.get(self.suite.suite.name)

    def fits(self, c: Costed) -> bool:
        return c.memory["total"] <= self.device.memory_gib * GIB

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
                    "fits": "yes" if self.fits(c) else "NO",
                    "train_h": round(c.train_s / 3600, 2),
                    "train_h_no_overlap": round(c.train_serial_s / 3600, 2),
                    "train_h_1_device": round(c.train_one_s / 3600, 2),
                    "speedup": round(c.train_one_s / c.train_s, 2),
                    "speedup_no_overlap": round(c.train_one_s / c.train_serial_s, 2),
                    "eval_h": round(c.eval_s / 3600, 3),
                }
            )
        return rows

    def speedup_rows(self) -> list[dict]:
        """Every term of the speed-up over one device, per entry: compute and all-reduce per step (ring, and
        reduce-to-one as Caffe's 2014 multi-GPU code), the held-out pass per epoch on one device, and the speed-up
        with the all-reduce hidden behind backward (ring) or after it (ring, reduce-to-one)."""
        return [
            {
                "entry": c.plan.entry.id,
                "compute_ms": sig(1e3 * c.step.compute),
                "ring_ms": sig(1e3 * c.step.allreduce),
                "to_one_ms": sig(1e3 * c.step.reduce_to_one),
                "holdout_s": sig(c.holdout_s),
                "x_ring_overlap": round(c.train_one_s / c.train(), 2),
                "x_ring": round(c.train_one_s / c.train(overlap=False), 2),
                "x_to_one": round(c.train_one_s / c.train("reduce-to-one", overlap=False), 2),
            }
            for c in self.entries
        ]

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
                    "dense_single_gflops": round(e.eval_flops_per_image(SINGLE.name, DENSE.name) / 1e9, 3),
                    "q_multi": ",".join(map(str, e.q_multi)),
                    "dense_at_each_q_gflops": dense,
                    "dense_multi_gflops": round(e.eval_flops_per_image(MULTI.name, DENSE.name) / 1e9, 3),
                    "crops_150_gflops": round(e.eval_flops_per_image(MULTI.name, MULTI_CROP.name) / 1e9, 3),
                    "both_gflops": round(e.eval_flops_per_image(MULTI.name, BOTH.name) / 1e9, 3),
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
                for protocol in PROTOCOLS
            }
            out[e.entry.id][SINGLE.name][CENTRE.name] = eval_flops(e.net, (CENTRE,), e.q_single[0])
        return out

    def memory_rows(self) -> list[dict]:
        return [{"entry": c.plan.entry.id, **{k: round(v / GIB, 3) for k, v in c.memory.items()}} for c in self.entries]

    def schedule_rows(self) -> list[dict]:
        return [
            {
                "task": s.task,
                "lane": s.lane,
                "devices": lane_devices(s.lane, self.per_run),
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
            "mfu": str(self.mfu),
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


DEFAULT_DEVICE, DEFAULT_DEVICES = "h100", 8  # --device and --devices (--device cpu: this machine's cores)


def plan(
    suite_path: str,
    device_name: str = DEFAULT_DEVICE,
    devices_total: int | None = None,
    mfu: float | None = None,
    per_run: int | None = None,
    data: str | None = None,
) -> Plan:
    """The suite's cost on `devices_total` devices of a kind (default: 8; --device cpu: this machine's cores),
    `per_run` per training (None: among powers of two, the fastest split whose memory fits; where none fits, the
    paper's own split for a suite named after a paper, else the fastest)."""
    if mfu is not None and not 0 < mfu <= 1:
        raise ArchspecError(f"--mfu {mfu}: expected a fraction of the peak in (0, 1]")
    dev = this_machine() if device_name == MEASURED else device(device_name)
    devices_total = devices_total or (dev.node if dev.kind == "core" else DEFAULT_DEVICES)
    if devices_total < 1:
        raise ArchspecError(f"--devices {devices_total}: expected at least 1")
    suite = load_suite(suite_path)
    prec = train_precision(suite, dev)
    bf16 = prec is Precision.bf16
    plans = entry_plans(suite, data, act=2 if bf16 else 4, mask=1 if dev.kind == "gpu" else 4)
    if mfu is not None:
        share, mfu_source = Mfu(mfu), "an assumption (given: --mfu)"
    elif device_name == MEASURED:  # this machine: each net timed for a moment, as a --jobs worker runs it
        from . import calibrate  # torch: only where this machine is measured; a GPU plan needs none

        lanes = min(devices_total, dev.node)  # the cores the suite keeps busy at once, whatever its split
        share = calibrate.measure(plans, prec, dev.peak(prec)[0], calibrate.time_net, lanes)
        mfu_source = measured_mfu(lanes)
    else:
        share, mfu_source = Mfu(DEFAULT_MFU), "an assumption (--mfu sets it)"
    notes = []
    if suite.suite.precision is not Precision.fp32 and dev.kind == "gpu" and not bf16:
        notes.append(f"{device_name} has no bf16 units: the suite is planned in fp32")
    if per_run and devices_total % per_run:
        raise ArchspecError(f"--per-run {per_run}: does not divide --devices {devices_total}; expected a divisor")
    splits = [g for g in (2**k for k in range(12)) if g <= devices_total]
    splits = [g for g in splits if devices_total % g == 0 and suite.suite.batch % g == 0] or splits[:1]
    tried = {g: _split(plans, suite, dev, g, share, devices_total) for g in ([per_run] if per_run else splits)}
    g = _choose(tried, dev.memory_gib * GIB, PAPERS.get(suite.suite.name), per_run)
    entries, slots, critical = tried[g][1:]
    notes += _impossible_speedups(entries, g, device_name)
    p = Plan(suite, device_name, dev, devices_total, g, share, dev.peak(prec)[1], entries, slots, critical, notes, [])
    least = min((max(memory(e.cost, e.batch, s, bf16)["total"] for e in plans), s) for s in {*splits, g})
    p.header = _header(p, least, per_run is not None, mfu_source)
    return p


def measured_mfu(lanes: int) -> str:
    """Where a `--device cpu` plan's MFU comes from, for its header."""
    beside = f"{lanes} nets at once, as the suite keeps {lanes} cores busy" if lanes > 1 else "one net at a time"
    return (
        "measured now on the suite's own nets (harness/planning/calibrate.py: the mean training step through the "
        f"harness's loop, its in-memory loader included, and the mean forward pass of each, one thread, "
        f"channels-last, {beside}; each run's setup and a folder's decoding are not in it)"
    )


def _split(plans, suite: Suite, dev: Device, g: int, mfu: Mfu, devices_total: int):
    """(wall seconds, entries, slots, critical path) of `g` devices per run."""
    entries = cost_entries(plans, suite, dev, g, mfu)
    durations, deps = tasks(entries, seeds_of(suite))
    # no more lanes than tasks: the rest would stay idle, and a million of them is a million idle loop turns
    slots, critical = schedule(durations, deps, min(devices_total // g, len(durations)))
    return max(s.end for s in slots), entries, slots, critical


def _peak_memory(entries: list[Costed]) -> int:
    return max(c.memory["total"] for c in entries)


def _choose(tried: dict, capacity: float, paper: PaperSetup | None, per_run: int | None) -> int:
    """The split asked for; else the fastest that fits in `capacity` bytes; where none fits, the paper's own for
    a suite named after a paper, else the fastest."""
    if per_run:
        return per_run
    fastest = min(tried, key=lambda g: tried[g][0] * (1 + 1e-9 * g))  # ties: fewer devices a run
    fitting = [g for g, t in tried.items() if _peak_memory(t[1]) <= capacity]
    if fitting:
        return min(fitting, key=lambda g: tried[g][0] * (1 + 1e-9 * g))
    return paper.per_run if paper and paper.per_run in tried else fastest


def _header(p: Plan, least: tuple[int, int], asked: bool, mfu_source: str) -> list[str]:
    """What the tables' figures are: predicted (from the IR and devices.toml's cited figures) or calibrated (the
    MFU), the line saying that nothing fits where nothing does (`least`: the smallest peak memory of any split,
    and that split), and the paper's speed-up against the model's."""
    peak = p.device.peak_tflops[p.precision] * 1e3
    where = (
        f"measured now: this machine's peak, {peak:.1f} GFLOP/s a core ({p.device.sources['peak_tflops']})"
        if p.device.kind == "core"
        else f"from devices.toml's cited figures: {p.device_name}'s peak ({p.precision}), memory and link"
    )
    lines = [
        "predicted from the IR: FLOPs and parameters (exact); memory per device (predicted, activations and state; "
        f"workspaces excluded); {where}",
        f"calibrated: every time is FLOPs / (peak x MFU), so times scale as 1 / MFU; MFU {p.mfu} is {mfu_source}",
    ]
    worst = max(p.entries, key=lambda c: c.memory["total"])
    if not p.fits(worst):
        lines.append(_nothing_fits(p, worst, least, asked))
    if p.paper and p.per_run == p.paper.per_run:
        lines.append(_paper_speedup(p))
    return lines


def _nothing_fits(p: Plan, worst: Costed, least: tuple[int, int], asked: bool) -> str:
    if asked:
        why = f"--per-run {p.per_run} (asked for)"
    elif p.paper and p.per_run == p.paper.per_run:
        why = f"the paper's own split ({p.paper.source})"
    else:
        why = "the fastest split"
    return (
        f"NOTHING FITS in {p.device.memory_gib:g} GiB a {p.device_name}: {worst.plan.entry.id} needs "
        f"{worst.memory['total'] / GIB:.1f} GiB a device at {p.per_run} per run ({worst.plan.batch // p.per_run} "
        f"images each); the smallest memory that would fit is {least[0] / GIB:.1f} GiB (at {least[1]} per run); "
        "what changes it: the images per device (--per-run, or the suite's batch), the precision (the suite's "
        "precision: bf16 halves the activations, on a device with bf16 units), activation checkpointing (not in "
        f"the harness); planned at {why}"
    )


def _paper_speedup(p: Plan) -> str:
    """The paper's speed-up for its entry against the model's, and the link the model needs to give it."""
    paper = p.paper
    c = next((c for c in p.entries if c.plan.entry.id == paper.entry), p.entries[0])
    one = c.train_one_s
    links = {pat: c.link_for(paper.speedup, pat) for pat in ("ring", "reduce-to-one")}
    need = ", ".join(f"{pat} {x / 1e9:.2f} GB/s" if x else f"{pat}: no link suffices" for pat, x in links.items())
    return (
        f"speed-up of {c.plan.entry.id} on {p.per_run} x {p.device_name} over one, every term included (held-out "
        f"pass on one device {_duration(c.holdout_s)} an epoch): ring overlapped {one / c.train():.2f}x, ring after "
        f"backward {one / c.train(overlap=False):.2f}x, reduce-to-one after backward "
        f"{one / c.train('reduce-to-one', overlap=False):.2f}x; the paper's {paper.speedup}x needs an effective link "
        f"(all-reduce after backward) of {need}, against {p.device.link_gbs:g} GB/s"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


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


def report(p: Plan) -> dict:
    """Every table of the plan, by name (the CLI shows them; JSON writes them all)."""
    graph = {c.plan.entry.id: [d.plan.entry.id for d in p.entries if c.plan.entry.id in d.plan.refs] for c in p.entries}
    return {
        "totals": p.totals(),
        "header": p.header,
        "notes": p.notes,
        "graph": graph,
        "entries": p.entry_rows(),
        "speedup": p.speedup_rows(),
        "evaluation": p.eval_rows(),
        "eval_flops_per_image": p.eval_flops_per_method(),
        "memory": p.memory_rows(),
        "schedule": p.schedule_rows(),
    }


# ---------------------------------------------------------------- on screen: tables that fit 100 columns

SCREEN = {  # name: (the report's rows, their columns, a title); JSON and CSV keep every column
    "cost": (
        "entries",
        (
            "entry",
            "after",
            "epochs",
            "images_per_epoch",
            "train_gflops_per_image",
            "train_pflops",
            "eval_pflops",
            "memory_gib",
            "fits",
        ),
        "per entry: cost and memory per device",
    ),
    "time": (
        "entries",
        ("entry", "train_h", "train_h_no_overlap", "train_h_1_device", "speedup", "speedup_no_overlap", "eval_h"),
        "per entry: hours on {per_run} x {device} per run",
    ),
    "speedup": ("speedup", None, "speed-up over one device, every term (per step; held-out pass per epoch)"),
    "evaluation": (
        "evaluation",
        (
            "entry",
            "q_single",
            "dense_single_gflops",
            "q_multi",
            "dense_multi_gflops",
            "crops_150_gflops",
            "both_gflops",
            "scored_images",
        ),
        "evaluation GFLOPs per image (dense, 150 crops, both)",
    ),
    "memory": ("memory", None, "peak memory per device (GiB) at the suite's batch"),
    "schedule": ("schedule", None, "schedule on {devices} x {device}"),
}
HEADERS = {
    "images_per_epoch": "images/epoch",
    "train_gflops_per_image": "GFLOP/img",
    "train_pflops": "train PF",
    "eval_pflops": "eval PF",
    "memory_gib": "GiB",
    "train_h_no_overlap": "h, no overlap",
    "train_h_1_device": "h, 1 device",
    "speedup_no_overlap": "x, no overlap",
    "speedup": "x",
    "compute_ms": "compute ms",
    "to_one_ms": "to-one ms",
    "x_ring_overlap": "x overlap",
    "x_to_one": "x to-one",
    "q_single": "Q",
    "dense_single_gflops": "dense",
    "q_multi": "Q set",
    "dense_multi_gflops": "dense multi",
    "crops_150_gflops": "150 crops",
    "both_gflops": "both",
    "scored_images": "images",
    "ddp_buckets": "DDP buckets",
    "activations": "activ.",
    "optimizer": "optim.",
    "gradients": "grads",
}


def screen_tables(out: dict) -> list[tuple[str, list[dict]]]:
    """(title, rows) of every table `bench --plan` shows, each narrow enough for 100 columns; the totals as
    (figure, value) rows."""
    t = out["totals"]
    tables = []
    for rows_of, columns, title in SCREEN.values():
        rows = [{k: r[k] for k in columns} if columns else r for r in out[rows_of]]
        tables.append((f"{t['suite']}: {title.format(**t)}", rows))
    tables.append((f"{t['suite']}: totals", [{"figure": k.replace("_", " "), "value": v} for k, v in t.items()]))
    return tables
