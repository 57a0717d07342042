"""`--device cpu`: this machine, one core a device, its peak measured when the plan is made: torch's fp32 GEMM
on one thread (and bf16 where the CPU has bf16 units), the best of a few square matmuls, in about a second.

A minimal measurement: harness/peak.py (branch evalspeed) measures the same for the reports; the two are to be
one function once both are merged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache

from .devices import DEVICES_FILE, Device, devices

SIZES = (256, 512, 1024)  # n of the n x n matmuls (2 n^3 FLOPs each)
REPEATS = 3


def gemm_gflops(dtype_name: str = "float32", clock: Callable[[], float] = time.perf_counter) -> float:
    """torch's GEMM rate on one thread (GFLOP/s): the best over SIZES of the fastest of REPEATS matmuls."""
    import torch

    dtype, before = getattr(torch, dtype_name), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = 0.0
        for n in SIZES:
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)  # (n, n) each
            for _ in range(REPEATS):
                start = clock()
                torch.mm(a, b)  # (n, n)
                best = max(best, 2 * n**3 / max(clock() - start, 1e-9) / 1e9)
        return best
    finally:
        torch.set_num_threads(before)


@cache
def this_machine() -> Device:
    """This machine as a device of one core: the measured peak per core, its cores a node, the memory per core,
    and the gloo link measured on the project's test machine (devices.toml's cpu-2c)."""
    from ..training.checkpoint import cpu_model
    from ..training.distributed import cores, cpu_bf16_units

    n = cores()
    peak = {"fp32": gemm_gflops("float32") / 1e3}
    if cpu_bf16_units():  # emulated bf16 is never planned: auto trains such a CPU in fp32
        peak["bf16"] = gemm_gflops("bfloat16") / 1e3
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / n
    gloo = devices()["cpu-2c"]
    measured = f"torch.mm on one thread, measured now ({cpu_model()})"
    return Device(
        title=f"this machine: {n} cores of {cpu_model()}, one core a device",
        kind="core",
        peak_tflops=peak,
        memory_gib=memory,
        link_gbs=gloo.link_gbs,
        node=n,
        network_gbs=gloo.network_gbs,
        sources={
            "peak_tflops": measured,
            "memory_gib": "os.sysconf: physical memory / cores",
            "link_gbs": f"{DEVICES_FILE.name}'s cpu-2c: {gloo.sources['link_gbs']}",
            "node": "os.sched_getaffinity: the cores this process may use",
            "network_gbs": "one machine",
        },
    )
