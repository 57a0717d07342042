"""The scaling table of `archspec bench --suite quick --nproc N` on this machine: training images/s of the suite's
first net (A, width 1/8, batch norm, 32x32) for 1, 2, ... gloo processes, speed-up and efficiency, the same
function bench calls after the suite (`scaling`). Writes benchmarks/results/scaling-cpu.json with the machine,
torch threads per process (the cores split between the processes: harness.training.distributed.cpu_share) and the load
average before and after (other jobs on the cores slow every row).

    .venv/bin/python benchmarks/scaling_cpu.py [N] [REPEATS]   (default 2 processes, 5 repeats)
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from archspec.atomic import atomic_path
from archspec.harness.bench.run import scaling
from archspec.harness.suite import load_suite
from archspec.harness.training.checkpoint import cpu_model
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results" / "scaling-cpu.json"


def main(nproc: int = 2, repeats: int = 5) -> dict:
    suite, load = load_suite("quick"), [os.getloadavg()]
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as root:
            runs.append(scaling(suite, Path(root), nproc, None))
        load.append(os.getloadavg())
    rates = [statistics.median(run[i]["train_images_per_s"] for run in runs) for i in range(len(runs[0]))]
    rows = [
        {
            "processes": r["processes"],
            "images_per_s": rate,
            "speedup": round(rate / rates[0], 2),
            "efficiency_%": round(100 * rate / rates[0] / r["processes"], 1),
            "threads_each": r["processes"] == 1 and torch.get_num_threads() or max(1, os.cpu_count() // r["processes"]),
            "images_per_s_each_repeat": [run[i]["train_images_per_s"] for run in runs],
        }
        for i, (r, rate) in enumerate(zip(runs[0], rates, strict=True))
    ]
    return {
        "what": "archspec bench --suite quick --nproc N: scaling table (train images/s, first net: A width 1/8 bn, "
        "10 steps, global batch max(64, 32 N), synthetic 32x32); median of the repeats per N",
        "rows": rows,
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
