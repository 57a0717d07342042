"""Memory a network will need, estimated from the IR before anything is allocated.

`--width 64`, `--classes 1000000` or `--input 4096x4096x3` would otherwise allocate gigabytes before torch
fails (or the machine swaps). The IR already knows the parameter and activation counts, so `check` refuses such
a request with one line, naming the estimate and what is available: the machine's available memory, or less
where the process runs under a limit (`ulimit -v`, a cgroup's memory.max), so that it fails cleanly instead of
being killed. `require` does the same for any other allocation an input sizes (decoded data, padding).

Estimates are in float32 bytes: parameters once to build a module; for training, parameters, gradients and
momentum, plus every layer's output kept for the backward pass (twice: the output and its gradient) over the
batch; for inference, the two largest consecutive outputs over the batch.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

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


CGROUP, OWN_CGROUP = Path("/sys/fs/cgroup"), Path("/proc/self/cgroup")


def _cgroup_left() -> int | None:
    """Bytes left under this process's cgroup limit: v2's `memory.max`, v1's `memory.limit_in_bytes` (None: no
    limit, or no cgroup)."""
    try:
        lines = OWN_CGROUP.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            folder, limit, usage = CGROUP / path.lstrip("/"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            folder = CGROUP / "memory" / path.lstrip("/")
            limit, usage = "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        try:
            most = (folder / limit).read_text().strip()
            if most != "max":
                return int(most) - int((folder / usage).read_text())
        except (OSError, ValueError):
            continue
    return None


def _address_space_left() -> int | None:
    """Bytes of address space left under `RLIMIT_AS` (`ulimit -v`), None where there is no limit."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        status = Path("/proc/self/status").read_text()
        used = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize:"))) * 1024
    except (OSError, StopIteration, ValueError):
        used = 0
    return limit - used


def _machine_available() -> int | None:
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


def available() -> int | None:
    """Bytes this process could still allocate on the CPU, or None where unknown: the machine's available
    memory (MemAvailable), lowered by the process's own limits (`RLIMIT_AS`, the cgroup's `memory.max`)."""
    known = [b for b in (_machine_available(), _address_space_left(), _cgroup_left()) if b is not None]
    return max(0, min(known)) if known else None


def require(need: int, what: str, hint: str, doing: str = "") -> None:
    """Refuse, with one line, an allocation of `need` bytes (for `doing`) that cannot fit in the memory
    available now."""
    have = available()
    if have is not None and need > have:
        raise ArchspecError(
            f"{what}: needs about {need / 2**30:.1f} GiB{' for ' + doing if doing else ''}; expected at most the "
            f"{have / 2**30:.1f} GiB available ({hint})"
        )


def check(stats: NetworkStats, batch: int = 1, training: bool = False, what: str = "this network") -> None:
    """Refuse, with one line, a network that cannot fit in the memory available now."""
    doing = f"training at batch {batch}" if training else (f"batch {batch}" if batch > 1 else "building it")
    require(
        needed(stats, batch, training),
        what,
        "reduce --width, --classes, --input or --batch",
        f"{doing} ({stats.params:,} parameters)",
    )
