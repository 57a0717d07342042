"""The training step of every entry of a suite on one core: one SGD step (batch and crop as the suite trains the
entry, its own width and batch norm, 1 torch thread as in a `--jobs 2` worker, channels-last, the harness's own
in-memory loader and `train_step`) in fp32 and in bf16 autocast where this CPU has bf16 units, timed by the
planner's own `calibrate.time_net`, which `bench --plan --device cpu` uses for its per-net shares of the peak;
thin nets (a few channels on large maps) reach far less of it than wide ones. Writes
benchmarks/results/suite-steps-<suite>-<CPU model>.json and prints a table.

    .venv/bin/python benchmarks/suite_steps.py SUITE [--only ID]... [--width W] [--repeat N]   (seconds per entry)

`--width W` times the entries at width W instead of the suite's (what a wider suite would reach of the peak;
written to suite-steps-<suite>-width-<W>-<CPU model>.json).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from archspec import infer
from archspec.choices import Precision
from archspec.harness.planning import calibrate, cost
from archspec.harness.suite import entry_config, load_suite
from archspec.harness.training import peak
from archspec.harness.training.allocator import keep_freed_memory
from archspec.harness.training.checkpoint import cpu_model
from archspec.harness.training.distributed import cpu_bf16_units
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--width", type=float, help="the nets' width, instead of the suite's")
    ap.add_argument("--repeat", type=int, default=1, help="time each entry this many times; the fastest counts")
    a = ap.parse_args()
    suite = load_suite(a.suite)
    if a.width:
        suite = suite.model_copy(update={"suite": suite.suite.model_copy(update={"width": a.width})})
    torch.set_num_threads(1)
    precisions = ["fp32"] + (["bf16"] if cpu_bf16_units() else [])
    plans = {p.entry.id: p for p in cost.entry_plans(suite)}
    keep_freed_memory()  # as calibrate.time_net and a training process run: the peak measured in the same setting
    before = peak.measure()  # GFLOP/s per core, per precision; again after the steps, the higher of the two counts
    rows = []
    for entry in suite.train:
        if a.only and entry.id not in a.only:
            continue
        cfg = entry_config(suite, entry, Path("unused"), 0, 1, None)
        net = plans[entry.id].net  # as bench trains it: the data's classes and channels, the entry's crop and width
        flops = plans[entry.id].cost.train_flops  # per image
        row = {"entry": entry.id, "width": cfg.model.width, "macs_m": round(infer(net).macs / 1e6, 2)}
        for name in precisions:
            each = [
                calibrate.time_net(plans[entry.id], Precision(name), cfg.recipe.batch, 1).train_s
                for _ in range(a.repeat)
            ]
            s = min(each)
            row[f"{name} ms/step"] = round(1e3 * s, 1)
            row[f"{name} images/s"] = round(cfg.recipe.batch / s)
            row[f"{name} images/s, each repeat"] = [round(cfg.recipe.batch / t) for t in each]
            row[f"{name} GFLOP/s"] = round(flops * cfg.recipe.batch / s / 1e9, 1)
        rows.append(row)
    after = peak.measure()
    gemm = {name: max(getattr(before, name).gflops, getattr(after, name).gflops) for name in precisions}
    for row in rows:  # a slow spell on a shared machine lowers one measurement of the peak, not both
        for name in precisions:
            row[f"{name} share of peak"] = round(row[f"{name} GFLOP/s"] / gemm[name], 3)
        print(row, flush=True)
    result = {
        "what": f"one SGD step per entry of {suite.suite.name}, batch {suite.suite.batch}, 1 thread, channels-last, "
        f"the mean over {calibrate.WINDOW_S} s of steps through the harness's loop, its in-memory loader included, "
        f"after 1 warm-up (the planner's calibrate.time_net), fastest of {a.repeat} "
        "such timings (each repeat's images/s listed); GFLOP/s: the planner's "
        "training FLOPs per image x batch / step; share of peak: of the GEMM peak per core measured in this run "
        "(harness.training.peak)",
        "peak_gflops": {name: round(rate, 1) for name, rate in gemm.items()},
        "peak_gflops_before_and_after": {
            name: [round(getattr(m, name).gflops, 1) for m in (before, after)] for name in precisions
        },
        "rows": rows,
        "machine": {"cpu": cpu_model(), "bf16_units": cpu_bf16_units()},
        "torch": torch.__version__,
        "commit": commit(),
    }
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-")
    width = f"-width-{a.width:g}" if a.width else ""
    (OUT / f"suite-steps-{suite.suite.name}{width}-{slug}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
