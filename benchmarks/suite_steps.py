"""The training step of every entry of a suite on one core: one SGD step (batch and crop as the suite trains the
entry, its own width and batch norm, 1 torch thread as in a `--jobs 2` worker, channels-last, the harness's own
`train_step`) in fp32 and in bf16 autocast where this CPU has bf16 units. The planner (`bench --plan`) costs every
net at one MFU; this measures each net's own rate, which for thin nets (a few channels on large maps) is far below
a wide net's. Writes benchmarks/results/suite-steps-<suite>-<CPU model>.json and prints a table.

    .venv/bin/python benchmarks/suite_steps.py SUITE [--steps 3] [--only ID]...   (seconds per entry: a few steps)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch

from archspec import infer
from archspec.compiler import build
from archspec.compiler.memory_format import channels_last
from archspec.harness.planning import cost
from archspec.harness.suite import entry_config, load_suite
from archspec.harness.training.checkpoint import cpu_model
from archspec.harness.training.distributed import cpu_bf16_units
from archspec.harness.training.init import initialise
from archspec.harness.training.train import train_step
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results"


def step_seconds(net, batch: int, amp: torch.dtype | None, steps: int) -> float:
    """Median seconds of `steps` SGD steps after one warm-up step, on random single-channel images."""
    torch.manual_seed(0)
    model = channels_last(build(net, "torch"), "cpu")
    initialise(model, "torchvision", 0.01)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    i = net.input
    x = torch.randn(batch, i.channels, i.height, i.width).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
    y = torch.randint(0, 10, (batch,))
    times = []
    for k in range(steps + 1):
        start = time.perf_counter()
        train_step(model, opt, x, y, amp)
        if k:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only", action="append", default=[])
    a = ap.parse_args()
    suite = load_suite(a.suite)
    torch.set_num_threads(1)
    precisions = {"fp32": None} | ({"bf16": torch.bfloat16} if cpu_bf16_units() else {})
    plans = {p.entry.id: p for p in cost.entry_plans(suite)}
    rows = []
    for entry in suite.train:
        if a.only and entry.id not in a.only:
            continue
        cfg = entry_config(suite, entry, Path("unused"), 0, 1, None)
        net = plans[entry.id].net  # as bench trains it: the data's classes and channels, the entry's crop and width
        flops = plans[entry.id].cost.train_flops  # per image
        row = {"entry": entry.id, "width": cfg.model.width, "macs_m": round(infer(net).macs / 1e6, 2)}
        for name, amp in precisions.items():
            s = step_seconds(net, cfg.recipe.batch, amp, a.steps)
            row[f"{name} ms/step"] = round(1e3 * s, 1)
            row[f"{name} images/s"] = round(cfg.recipe.batch / s)
            row[f"{name} GFLOP/s"] = round(flops * cfg.recipe.batch / s / 1e9, 1)
        rows.append(row)
        print(row, flush=True)
    result = {
        "what": f"one SGD step per entry of {suite.suite.name}, batch {suite.suite.batch}, 1 thread, channels-last, "
        f"median of {a.steps} after 1 warm-up; GFLOP/s: the planner's training FLOPs per image x batch / step",
        "rows": rows,
        "machine": {"cpu": cpu_model(), "bf16_units": cpu_bf16_units()},
        "torch": torch.__version__,
        "commit": commit(),
    }
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-")
    (OUT / f"suite-steps-{suite.suite.name}-{slug}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
