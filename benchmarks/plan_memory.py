"""Peak training memory on this CPU, measured, for the plan's memory model (docs/plan.md).

A CPU has no `torch.cuda.max_memory_allocated`; torch's own `MemTracker` (torch.distributed._tools.mem_tracker)
attributes every live tensor storage to parameters, buffers, gradients, optimizer state and activations and
keeps the peak. One `train_step` of the quick suite's nets (width 0.125, batch norm, 32x32x1, 10 classes) is
measured at two batches, after two warm-up steps (so momentum and the previous step's gradients exist, as in
training). Writes benchmarks/results/plan-memory-cpu.json.

    .venv/bin/python benchmarks/plan_memory.py
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch
from torch.distributed._tools.mem_tracker import MemTracker

import archspec
from archspec.atomic import atomic_path
from archspec.harness.training.train import train_step
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results" / "plan-memory-cpu.json"
NETS, BATCHES, SHAPE = ("A", "D"), (16, 64), "32x32x1"


def peak(spec: str, batch: int) -> dict[str, int]:
    torch.manual_seed(0)
    model = archspec.compile(spec, num_classes=10, input=SHAPE, width=0.125, batch_norm=True)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    for _ in range(2):
        train_step(model, opt, x, y, None)
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        train_step(model, opt, x, y, None)
    snap = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    return {str(k.value if hasattr(k, "value") else k).lower(): v for k, v in snap.items()}


def main() -> None:
    rows = [{"spec": s, "batch": b, **peak(s, b)} for s in NETS for b in BATCHES]
    record = {
        "what": f"peak bytes of one train_step, torch MemTracker, quick-suite nets (width 0.125, BN, {SHAPE})",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "commit": commit(),
        "rows": rows,
    }
    with atomic_path(OUT) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
