"""The kernels compile for real GPUs on this CPU (benchmarks/triton_compile.py, issue 27): a subset
compiled now has no spills, one loop per kernel, and a last partial batch neither re-tunes nor
recompiles; the committed full results cover every shipped config and meet the targets."""

import json
import os
import subprocess
import sys
from pathlib import Path

from archspec.compiler.kernels import conv, linear

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "triton-compile.json"


def label(shape: tuple) -> str:
    bm, bn, bk, warps, stages = shape
    return f"{bm}x{bn}x{bk} w{warps} s{stages}"


def test_committed_results_cover_every_shipped_config_without_spills():
    """No spills, one loop, a cold start within 4 minutes, no recompile for a partial batch. (Compile seconds
    per config are reported, not asserted: they depend on the machine and its load.)"""
    doc = json.loads(RESULTS.read_text())
    met = doc["met"]
    assert met["spills"] and met["loops"] and met["cold_start_s"] and met["partial_batch"], met
    compiled = {(row["kernel"], row["target"], row["config"]) for row in doc["compiles"]}
    for kernel, shapes in [("conv", conv.CONFIGS), ("conv_pool", conv.CONFIGS), ("linear", linear.CONFIGS)]:
        for shape in shapes:
            for target in ("sm_90", "sm_80"):
                assert (kernel, target, label(shape)) in compiled
    assert {row["kernel"] for row in doc["compiles"]} == {"conv", "conv_pool", "linear", "lrn", "unpool"}


def test_a_subset_compiles_for_hopper_without_spills_in_one_loop(tmp_path):
    out = tmp_path / "compile.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real kernels, not the interpreter's
    cmd = [sys.executable, "-m", "benchmarks.triton_compile", "--nets", "A", "--targets", "sm_90", "--first", "1"]
    cmd += ["--kernels", "conv_pool", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    doc = json.loads(out.read_text())
    rows = doc["compiles"]
    assert [row["kernel"] for row in rows] == ["conv_pool"]  # A's first layer: conv + pool, K flattened
    assert all(row["spill_bytes"] == 0 and row["loops"] == 1 and row["registers"] <= 255 for row in rows), rows
    assert doc["partial_batch"] == {"net": "A", "batch": 61, "new_compiles": 0, "new_tunings": 0}
