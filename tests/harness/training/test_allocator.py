"""Freed memory kept for reuse: the kernel's own count of minor page faults is the oracle. A step here makes a
64 MiB and a 32 MiB tensor and frees them, as a training step makes and frees its maps. 64 MiB is above glibc's
largest mmap threshold (32 MiB), so by default every step gets fresh pages, faulted in as they are written; once
`keep_freed_memory` has run, the heap settles within a few dozen steps (posix_memalign's padding keeps a block
from fitting the hole its predecessor left at first) and later steps reuse its pages."""

import platform
import subprocess
import sys

import pytest

from archspec.harness.training.allocator import keep_freed_memory

SCRIPT = """
import resource, sys
import torch
from archspec.harness.training.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    a, b = torch.ones(16 << 20), torch.ones(8 << 20)  # 64 and 32 MiB, written
    return (a[: 8 << 20] * b).sum()
for _ in range(100):  # settling
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

PAGES = (64 << 20) // 4096  # 4 KiB pages of a 64 MiB block


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_once_kept_a_steps_freed_pages_are_reused():
    assert faults("default") > 20 * PAGES // 2  # twenty steps' fresh 64 MiB blocks: at least half their pages
    assert faults("keep") < PAGES // 10  # the same twenty steps: the heap's pages reused


def test_keeping_freed_memory_is_done_once_and_answers_the_same():
    assert keep_freed_memory() is keep_freed_memory()
    assert keep_freed_memory() == (platform.libc_ver()[0] == "glibc")
