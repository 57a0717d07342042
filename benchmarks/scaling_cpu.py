"""The scaling table of `archspec bench --suite quick --nproc N` on this machine: training images/s of the suite's
first net (A, width 1/8, batch norm, 32x32) for 1, 2, ... gloo processes, speed-up and efficiency, the same
function bench calls after the suite (`scaling`). Writes benchmarks/results/scaling-cpu.json with the machine,
torch threads per process and the load average before and after (other jobs on the cores slow every row).

    .venv/bin/python benchmarks/scaling_cpu.py [N] [REPEATS]
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import tempfile
from pathlib import Path

import torch

from archspec.atomic import atomic_path
from archspec.harness.bench import scaling
from archspec.harness.suite import load_suite
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results" / "scaling-cpu.json"


def cpu_model() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


def main(nproc: int = 2, repeats: int = 3) -> dict:
    suite, load = load_suite("quick"), [os.getloadavg()]
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as root:
            runs.append(scaling(suite, Path(root), nproc, None))
        load.append(os.getloadavg())
    best = [max((run[i] for run in runs), key=lambda r: r["train_images_per_s"]) for i in range(len(runs[0]))]
    base = best[0]["train_images_per_s"]
    rows = [
        {
            "processes": r["processes"],
            "images_per_s": r["train_images_per_s"],
            "speedup": round(r["train_images_per_s"] / base, 2),
            "efficiency_%": round(100 * r["train_images_per_s"] / base / r["processes"], 1),
        }
        for r in best
    ]
    return {
        "what": "archspec bench --suite quick --nproc N: scaling table (train images/s, first net: A width 1/8 bn, "
        "10 steps, global batch max(64, 32 N), synthetic 32x32); best of the repeats per N",
        "rows": rows,
        "repeats": runs,
        "threads_per_process": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [[round(x, 2) for x in a] for a in load],
        "machine": {"host": socket.gethostname(), "cpu": cpu_model()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit(),
    }


if __name__ == "__main__":
    result = main(*map(int, sys.argv[1:]))
    with atomic_path(OUT) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["rows"], indent=2))
