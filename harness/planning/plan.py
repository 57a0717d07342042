"""`archspec bench --suite S --plan`: a suite's cost on N devices of a kind, its schedule and its tables.

The cost model is `cost.py` (docs/plan.md has the derivations), the devices `devices.py`, the schedule
`schedule.py`; `slurm.py` and `gantt.py` write a plan out.
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.views import CENTRE, DENSE, METHODS, MULTI_CROP, SCALED

from ..bench.suite import Suite, load_suite, seeds_of
from .cost import DEFAULT_MFU, Costed, cost_entries, entry_plans, eval_flops, train_precision
from .devices import DEVICES_FILE, GIB, Device, device
from .schedule import Slot, lane_devices, schedule, tasks

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
        durations, deps = tasks(entries, seeds_of(suite))
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
