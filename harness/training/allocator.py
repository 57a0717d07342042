"""Freed memory kept for reuse: no fresh pages from the kernel for every large tensor of every step.

torch's CPU allocator takes each tensor from malloc. glibc's malloc gives a block above its mmap threshold (128 KiB
at first, raised as large blocks are freed, 32 MiB at most) pages of its own, and hands them back to the kernel
when the block is freed; blocks freed at the top of the heap are trimmed back too. So a training step that makes
the same few-MiB maps every step often gets them as fresh pages, and the kernel faults in and zeroes each 4 KiB
page. On an AMD EPYC, one thread, A at width 1/8, batch 64, crop 32 took 160-720 minor faults a step and A-LRN,
whose LRN makes six 2 MiB maps, 830-1,750; with the pages kept, both about none, and 200 steps of A-LRN ran about
1.3x faster (one-off measurements, issue 35; `benchmarks/test_bench_lrn.py` times the step in this setting).

`keep_freed_memory()` fixes the mmap threshold high (1 GiB; 32 MiB where glibc refuses more, as before 2.35) and
the trim threshold at 1 GiB (`mallopt`), so freed blocks stay in the process for the next step. A process that
trains or evaluates (and the planner's timing of a step) calls it once; its resident memory then stays at its
peak, fragmentation included, instead of shrinking between steps. A no-op where the C library is not glibc (and
of no effect where another malloc is preloaded).
"""

from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
KEEP = 1 << 30  # bytes: up to 1 GiB free at the top of the heap stays there
MMAP_THRESHOLDS = (1 << 30, 32 << 20)  # tried in turn: glibc before 2.35 refuses above HEAP_MAX_SIZE / 2


@functools.cache
def keep_freed_memory() -> int:
    """Keep freed heap memory in this process for reuse (glibc only, once per process). Returns the mmap threshold
    set, in bytes (blocks below it come from the heap and are reused), or 0 where nothing was set."""
    if not _glibc():
        return 0
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    threshold = next((t for t in MMAP_THRESHOLDS if libc.mallopt(M_MMAP_THRESHOLD, t)), 0)
    libc.mallopt(M_TRIM_THRESHOLD, KEEP)
    return threshold


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # no such name here (musl, macOS, Windows)
        return False
