"""The gloo all-reduce bandwidth between two CPU processes on this machine: the `cpu-2c` device's link_gbs in
harness/planning/devices.toml. Ring bus bandwidth = 2 (N-1)/N x bytes / seconds, as the plan's model uses it.
Writes benchmarks/results/plan-cpu.json.

    .venv/bin/python benchmarks/plan_gloo.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from archspec.atomic import atomic_path
from archspec.provenance import commit

OUT = Path(__file__).resolve().parent / "results" / "plan-cpu.json"
N, SIZES, REPEATS = 2, (1 << 20, 1 << 22), 10  # fp32 elements: 4 MB and 16 MB


def worker(rank: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    dist.init_process_group("gloo", rank=rank, world_size=N)
    rows = []
    for n in SIZES:
        t = torch.ones(n)
        dist.all_reduce(t)  # warm-up
        dist.barrier()
        start = time.perf_counter()
        for _ in range(REPEATS):
            dist.all_reduce(t)
        seconds = (time.perf_counter() - start) / REPEATS
        rows.append({"bytes": 4 * n, "seconds": seconds, "bus_gbs": 2 * (N - 1) / N * 4 * n / seconds / 1e9})
    if rank == 0:
        queue.put(rows)
    dist.destroy_process_group()


def main() -> None:
    torch.set_num_threads(1)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, queue)) for r in range(N)]
    for p in procs:
        p.start()
    rows = queue.get()
    for p in procs:
        p.join()
    record = {"what": f"gloo all_reduce, {N} local processes, fp32", "torch": torch.__version__, "commit": commit()}
    with atomic_path(OUT) as tmp:
        tmp.write_text(json.dumps(record | {"rows": rows}, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
