"""Memory a network will need, estimated from the IR before anything is allocated.

`--width 64`, `--classes 1000000` or `--input 4096x4096x3` would otherwise allocate gigabytes before torch
fails (or the machine swaps). The IR already knows the parameter and activation counts, so `check` refuses such
a request with one line, naming the estimate and what is available.

Estimates are in float32 bytes: parameters once to build a module; for training, parameters, gradients and
momentum, plus every layer's output kept for the backward pass (twice: the output and its gradient) over the
batch; for inference, the two largest consecutive outputs over the batch.
"""

from __future__ import annotations

import os

from .errors import ArchspecError
from .infer import NetworkStats

FLOAT = 4


def needed(stats: NetworkStats, batch: int = 1, training: bool = False) -> int:
    """Bytes to build (batch 0), run inference on, or train the network."""
    params = stats.params * FLOAT
    acts = [s.activations for s in stats.layers] or [0]
    if training:
        return 3 * params + 2 * batch * sum(acts) * FLOAT
    biggest = max(a + b for a, b in zip(acts, acts[1:] + [0], strict=True))
    return params + batch * biggest * FLOAT


def available() -> int | None:
    """Bytes this process could still allocate on the CPU (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check(stats: NetworkStats, batch: int = 1, training: bool = False, what: str = "this network") -> None:
    """Refuse, with one line, a network that cannot fit in the memory available now."""
    need, have = needed(stats, batch, training), available()
    if have is not None and need > have:
        doing = f"training at batch {batch}" if training else (f"batch {batch}" if batch > 1 else "building it")
        raise ArchspecError(
            f"{what}: needs about {need / 2**30:.1f} GiB for {doing} ({stats.params:,} parameters); "
            f"expected at most the {have / 2**30:.1f} GiB available (reduce --width, --classes, "
            "--input or --batch)"
        )
