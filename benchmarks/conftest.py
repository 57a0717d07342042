"""Benchmarks (not tests): run with `python -m pytest benchmarks`.

Each benchmark records its mean time under a key; at the end the run prints the
ratios against the baseline measured in the same run and writes them to
`benchmarks/results/latest-cpu.json` with the machine and versions; a benchmark
that names its label prefix in `NAMED` (e.g. "lrn") also gets its own file,
`benchmarks/results/<prefix>-<CPU model>.json` (e.g. `lrn-amd-epyc.json`).
"""

import json
import platform
import re
import sys
from pathlib import Path

import pytest

RESULTS: dict[str, float] = {}
EXTRA: dict[str, object] = {}
RATIOS: list[tuple[str, str, str]] = []  # (label, baseline key, candidate key)
NAMED: list[str] = []  # label prefixes whose ratios, results and extras also go to <prefix>-<CPU model>.json
OUT = Path(__file__).parent / "results"


@pytest.fixture
def record(benchmark):
    def _record(key: str) -> None:
        RESULTS[key] = benchmark.stats.stats.mean

    return _record


@pytest.fixture(autouse=True, scope="session")
def freed_memory_kept():
    """Freed memory kept for reuse, as in a process that trains or evaluates (`harness/training/allocator.py`)."""
    from archspec.harness.training.allocator import keep_freed_memory

    keep_freed_memory()


@pytest.fixture
def one_thread():
    """One torch thread, as in a `--jobs 2` worker on 2 cores; torch's count restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sgd_step(model, dtype: str, batch: int = 64, side: int = 32):
    """One SGD step (momentum 0.9) of `model` on a random batch of single-channel images in channels-last memory,
    under bf16 autocast if `dtype` is "bf16"; returns the step, to time."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, side, side).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
    y = torch.randint(0, 10, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def summary(prefix: str = "") -> dict:
    """The results, ratios and extras of this run whose labels start with `prefix`, with the machine."""
    import torch

    from archspec.harness.training.allocator import keep_freed_memory
    from archspec.harness.training.checkpoint import cpu_model
    from archspec.provenance import commit

    ratios = [(label, b, c) for label, b, c in RATIOS if label.startswith(prefix) and b in RESULTS and c in RESULTS]
    keys = {k for _, b, c in ratios for k in (b, c)}
    return {
        "results_s": {k: v for k, v in RESULTS.items() if not prefix or k in keys},
        "extra": {k: v for k, v in EXTRA.items() if k.startswith(prefix)},
        "ratios": {label: RESULTS[b] / RESULTS[c] for label, b, c in ratios},
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "platform": platform.platform(),
            "malloc: blocks below this many bytes reused (keep_freed_memory)": keep_freed_memory(),
        },
        "commit": commit(),
    }


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    from archspec.harness.training.checkpoint import cpu_model

    everything = summary()
    lines = [f"{key}: {value * 1e3:.2f} ms" for key, value in RESULTS.items()]
    lines += [f"{label}: {ratio:.2f}x" for label, ratio in everything["ratios"].items()]
    lines += [f"{k}: {v}" for k, v in EXTRA.items()]
    terminalreporter.write_sep("=", "archspec benchmark ratios (same run)")
    for line in lines:
        terminalreporter.write_line(line)
    OUT.mkdir(exist_ok=True)
    _write(OUT / "latest-cpu.json", everything)
    model = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-")
    for prefix in NAMED:
        own = summary(f"{prefix}:")
        if own["ratios"]:
            _write(OUT / f"{prefix}-{model}.json", own)


def _write(path: Path, result: dict) -> None:
    from archspec.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
