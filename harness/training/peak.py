"""The machine's peak: torch's GEMM rate on one core, in fp32 and in bf16, measured in about a second.

Square n x n matmuls (2 n^3 FLOPs each) of doubling n, the best of a few at each size, on one torch thread: the
highest rate over the sizes is the peak per core that a report's useful FLOPs are a share of (issue 35). The
doubling ends at the first size whose matmul takes longer than `SLOW`, so a precision the CPU runs slowly is timed
briefly rather than assumed: where oneDNN emulates bf16 (no AMX or AVX512-BF16 units) a 256 x 256 matmul already
takes about 30 ms on an AMD EPYC core (1 GFLOPS, against fp32's 80), and its measurement stops there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .checkpoint import cpu_model
from .distributed import cpu_bf16_units

SIZES = (128, 256, 512, 1024, 2048, 4096)  # n of the square matmuls, timed in this order
SLOW = 0.02  # seconds: the size whose best matmul takes longer is the last one timed
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Rate:
    """One precision's GEMM peak on one core."""

    gflops: float  # 2 n^3 FLOPs over the best time of a few n x n matmuls, at the size that did best
    size: int  # that n


@dataclass(frozen=True)
class Peak:
    """torch's GEMM peak per core on this machine, per precision, and what it was measured on."""

    fp32: Rate
    bf16: Rate
    cpu_model: str
    torch: str
    bf16_units: list[str] | None  # the bf16 units torch finds (AMX, AVX512-BF16); None where it cannot tell


def measure(
    sizes: tuple[int, ...] = SIZES, repeats: int = 3, slow: float = SLOW, clock: Callable[[], float] = time.thread_time
) -> Peak:
    """The GEMM peak per core of each precision in PRECISIONS, on one torch thread (the caller's count restored)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = {name: _rate(dtype, sizes, repeats, slow, clock) for name, dtype in PRECISIONS.items()}
    finally:
        torch.set_num_threads(before)
    return Peak(**rates, cpu_model=cpu_model(), torch=torch.__version__, bf16_units=cpu_bf16_units())


def _rate(dtype: torch.dtype, sizes: tuple[int, ...], repeats: int, slow: float, clock: Callable[[], float]) -> Rate:
    best = Rate(0.0, 0)
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)  # (n, n) each
        seconds = min(_time(a, b, clock) for _ in range(repeats))
        if 2 * n**3 / seconds / 1e9 > best.gflops:
            best = Rate(2 * n**3 / seconds / 1e9, n)
        if seconds > slow:
            break
    return best


def _time(a: torch.Tensor, b: torch.Tensor, clock: Callable[[], float]) -> float:
    start = clock()
    torch.mm(a, b)  # (n, n)
    return clock() - start
