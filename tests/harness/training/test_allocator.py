"""Freed memory kept for reuse: the kernel's own count of minor page faults is the oracle. A step here makes a
64 MiB and a 32 MiB tensor and frees them, as a training step makes and frees its maps. 64 MiB is above glibc's
largest mmap threshold (32 MiB), so by default every step gets fresh pages, faulted in as they are written; once
`keep_freed_memory` has set a threshold above it, the heap settles within a few dozen steps (posix_memalign's
padding keeps a block from fitting the hole its predecessor left at first) and later steps reuse its pages.
Each case runs in its own process, with transparent huge pages off there (where they are on for every mapping, a
fresh block costs a fault per 2 MiB instead of per 4 KiB)."""

import os
import subprocess
import sys

import pytest

from archspec.harness.training import allocator

SCRIPT = """
import ctypes, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages, whatever the host's setting
import torch
from archspec.harness.training.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else 0)
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
glibc = pytest.mark.skipif(not allocator._glibc(), reason="mallopt is glibc's")


def run(mode: str) -> tuple[int, int]:
    """(the mmap threshold set, minor faults over twenty settled steps) in a new process."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, check=True)
    threshold, faults = map(int, out.stdout.split()[-2:])
    return threshold, faults


@glibc
def test_once_kept_a_steps_freed_pages_are_reused():
    threshold, kept = run("keep")
    if threshold < 64 << 20:
        pytest.skip(f"this glibc takes an mmap threshold of {threshold >> 20} MiB at most: 64 MiB blocks are mmapped")
    _, fresh = run("default")
    assert fresh > 20 * PAGES // 2  # twenty steps' fresh 64 MiB blocks: at least half their pages faulted in
    assert kept < PAGES // 10  # the same twenty steps: the heap's pages reused


@glibc
def test_the_threshold_set_is_one_glibc_took():
    threshold, _ = run("keep")
    assert threshold in allocator.MMAP_THRESHOLDS


TRAIN = """
import hashlib, sys
import torch
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    from archspec.harness.training.allocator import keep_freed_memory
    keep_freed_memory()
import archspec
from archspec.compiler.memory_format import channels_last
from archspec.harness.training.train import train_step
torch.manual_seed(0)
model = channels_last(archspec.compile("A-LRN", num_classes=10, input="32x32x1", width=0.125, batch_norm=True), "cpu")
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for _ in range(3):
    x = torch.randn(64, 1, 32, 32).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
    train_step(model, opt, x, torch.randint(0, 10, (64,)), None)
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest())
"""


@glibc
def test_training_is_bit_identical_with_freed_memory_kept():
    def weights(mode: str) -> str:
        args = [sys.executable, "-c", TRAIN, mode]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout.split()[-1]

    assert weights("keep") == weights("default")  # where tensors live changes, not what is computed


def test_another_c_library_is_left_alone(monkeypatch):
    def no_glibc(name):
        raise ValueError(f"unrecognized configuration name {name!r}")  # as on musl

    monkeypatch.setattr(os, "confstr", no_glibc)
    assert allocator.keep_freed_memory.__wrapped__() == 0  # the uncached function: nothing set, nothing called
