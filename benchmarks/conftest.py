"""Benchmarks (not tests): run with `python -m pytest benchmarks`.

Each benchmark records its mean time under a key; at the end the run prints the
ratios against the baseline measured in the same run and writes them to
`benchmarks/results/<name>.json` with the machine and versions.
"""

import json
import platform
import sys
from pathlib import Path

import pytest

RESULTS: dict[str, float] = {}
EXTRA: dict[str, object] = {}
RATIOS: list[tuple[str, str, str]] = []  # (label, baseline key, candidate key)
OUT = Path(__file__).parent / "results"


@pytest.fixture
def record(benchmark):
    def _record(key: str) -> None:
        RESULTS[key] = benchmark.stats.stats.mean

    return _record


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    import torch

    lines = [f"{key}: {value * 1e3:.2f} ms" for key, value in RESULTS.items()]
    summary = {"results_s": RESULTS, "extra": EXTRA, "ratios": {}}
    for label, base, cand in RATIOS:
        if base in RESULTS and cand in RESULTS:
            ratio = RESULTS[base] / RESULTS[cand]
            summary["ratios"][label] = ratio
            lines.append(f"{label}: {ratio:.1f}x")
    lines += [f"{k}: {v}" for k, v in EXTRA.items()]
    summary["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    terminalreporter.write_sep("=", "archspec benchmark ratios (same run)")
    for line in lines:
        terminalreporter.write_line(line)
    OUT.mkdir(exist_ok=True)
    (OUT / "latest-cpu.json").write_text(json.dumps(summary, indent=2) + "\n")
