"""Freed memory kept for reuse: no fresh pages from the kernel for every large tensor of every step.

torch's CPU allocator takes each tensor from malloc. glibc's malloc gives a block above its mmap threshold (128 KiB
at first, raised as large blocks are freed, 32 MiB at most) pages of its own, and hands them back to the kernel
when the block is freed; blocks freed at the top of the heap are trimmed back too. So a training step that makes
the same few-MiB maps every step often gets them as fresh pages, and the kernel faults in and zeroes each
4 KiB page: 160-720 minor faults a step for A at width 1/8, batch 64, crop 32, and 830-1,750 for A-LRN, whose LRN
makes six 2 MiB maps (issue 35). With the pages kept, that LRN's forward and backward in a step took 1.3-1.5 and
1.0-1.1 ms instead of 3.0-5.7 and 2.6-2.9 (AMD EPYC, one thread), and a process's resident memory after 200 steps
of A-LRN and D was within 2% of what it was without.

`keep_freed_memory()` raises both thresholds (`mallopt`), so freed blocks stay in the process for the next step.
A process that trains or evaluates (and the planner's timing of a step) calls it once; its resident memory then
stays at its peak instead of shrinking between steps. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
KEEP = 1 << 30  # bytes: blocks up to 1 GiB come from the heap, and up to 1 GiB free at its top stays


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed heap memory in this process for reuse (glibc only, once per process); whether it now is."""
    if platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP))
