"""`archspec bench --jobs 2` against `--jobs 1` on 2 cores: the same four trainings and evaluations.

Four independent runs of net A (width 1/8, batch norm) on the embedded Fashion-MNIST subset, two epochs
each, then their single-scale evaluations; one run at a time with the machine's threads, or two side by
side with one thread each. Each round starts from an empty bench folder.
"""

import shutil
import tempfile
from pathlib import Path

from archspec.harness.bench.run import run_suite

from .conftest import RATIOS

RATIOS.append(("bench: --jobs 2 vs --jobs 1 (speed-up)", "bench_jobs1", "bench_jobs2"))

SUITE = """
[suite]
name = "jobs"
data = "embedded"
crop = 32
width = 0.125
batch_norm = true
epochs = 2
batch = 64
lr = 0.05
init = "torchvision"
seeds = 2

[[train]]
id = "A/256"
spec = "A"
scale = "256"

[[train]]
id = "A-LRN/256"
spec = "A-LRN"
scale = "256"

[[table]]
name = "T"
title = "single scale"
rows = [
  { label = "A", train = ["A/256"], protocol = "single" },
  { label = "A-LRN", train = ["A-LRN/256"], protocol = "single" },
]
"""


def bench_once(jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.toml"
        path.write_text(SUITE)
        assert run_suite(str(path), str(Path(tmp) / "out"), log=lambda line: None, jobs=jobs).complete
        shutil.rmtree(Path(tmp) / "out")


def test_bench_jobs1(benchmark, record):
    benchmark.pedantic(bench_once, args=(1,), rounds=2, iterations=1)
    record("bench_jobs1")


def test_bench_jobs2(benchmark, record):
    benchmark.pedantic(bench_once, args=(2,), rounds=2, iterations=1)
    record("bench_jobs2")
