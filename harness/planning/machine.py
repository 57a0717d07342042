"""`--device cpu`: this machine, one core a device, its peak measured when the plan is made: torch's fp32 GEMM
per core (and bf16 where the CPU has bf16 units) by `harness.training.peak`, the same measurement the bench
reports quote."""

from __future__ import annotations

import os
from functools import cache

from .devices import DEVICES_FILE, Device, devices


def gemm_gflops() -> dict[str, float]:
    """torch's GEMM peak per core (GFLOP/s) by precision, from `harness.training.peak` (torch loads only here)."""
    from ..training.peak import measure

    peak = measure()
    return {"fp32": peak.fp32.gflops, "bf16": peak.bf16.gflops}


@cache
def this_machine() -> Device:
    """This machine as a device of one core: the measured peak per core, its cores a node, the memory per core,
    and the gloo link measured on the project's test machine (devices.toml's cpu-2c)."""
    from ..training.checkpoint import cpu_model
    from ..training.distributed import cores, cpu_bf16_units

    n = cores()
    rates = gemm_gflops()
    peak = {"fp32": rates["fp32"] / 1e3}
    if cpu_bf16_units():  # emulated bf16 is never planned: auto trains such a CPU in fp32
        peak["bf16"] = rates["bf16"] / 1e3
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gloo = devices()["cpu-2c"]
    measured = f"harness.training.peak: torch.mm on one thread, measured now ({cpu_model()})"
    return Device(
        title=f"this machine: {n} cores of {cpu_model()}, one core a device",
        kind="core",
        peak_tflops=peak,
        memory_gib=host / n,
        link_gbs=gloo.link_gbs,
        node=n,
        network_gbs=gloo.network_gbs,
        cpus_per_node=n,
        host_memory_gib=host,
        sources={
            "peak_tflops": measured,
            "memory_gib": "os.sysconf: physical memory / cores",
            "link_gbs": f"{DEVICES_FILE.name}'s cpu-2c: {gloo.sources['link_gbs']}",
            "node": "os.sched_getaffinity: the cores this process may use",
            "network_gbs": "one machine",
            "cpus_per_node": "os.sched_getaffinity: the cores this process may use",
            "host_memory_gib": "os.sysconf: physical memory",
        },
    )
