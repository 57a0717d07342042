"""LRN costs no more than a conv layer (issue 35): one SGD step of A-LRN with the compiler's LRN (`compiler/lrn.py`)
against A, the same net without LRN, and against A-LRN with torch's `nn.LocalResponseNorm`. Width 1/8 with batch
norm, batch 64 at crop 32 (32x32x1, the small suite's), channels-last as training runs, one torch thread as in a
`--jobs 2` worker, timed in CPU time. Goal: A-LRN within 1.2x of A's time per image, in fp32 and in bf16 autocast.
bf16 runs only on a CPU with bf16 units: elsewhere oneDNN emulates it about 90x slower, and `precision = "auto"`
never picks it there. Freed memory is kept for reuse, as in a process that trains (`benchmarks/conftest.py`). Results
also in `benchmarks/results/lrn-<CPU model>.json`."""

import random
import statistics
import time

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler import eager
from archspec.compiler.memory_format import channels_last
from archspec.harness.training.distributed import cpu_bf16_units
from archspec.harness.training.init import initialise

from .conftest import EXTRA, NAMED, RATIOS, RESULTS, sgd_step

NAMED.append("lrn")
for _dtype in ("fp32", "bf16"):
    RATIOS.append((f"lrn: A-LRN step time over A's, {_dtype} (goal: at most 1.2)", f"a_lrn_{_dtype}", f"a_{_dtype}"))
    RATIOS.append(
        (f"lrn: speed-up of this LRN over torch's, A-LRN step, {_dtype}", f"a_lrn_torch_{_dtype}", f"a_lrn_{_dtype}")
    )
EXTRA["lrn: CPU bf16 units"] = cpu_bf16_units()
ROUNDS, WARMUP = 40, 3  # rounds timed, after the warm-up rounds (whose steps are left out of the medians)
# CPU time of this process, not wall time: with one torch thread it is the step's own work, and other jobs on the
# shared cores (which stretched the wall time of one variant to 1.9x in one run and not in the next) do not count
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.benchmark(timer=time.process_time)]


def model(spec: str) -> nn.Module:
    torch.manual_seed(0)
    m = archspec.compile(spec, num_classes=10, input="32x32x1", width=0.125, batch_norm=True)
    initialise(m, "torchvision", 0.01)
    return channels_last(m.train(), "cpu")


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_training_steps_interleaved(benchmark, monkeypatch, dtype):
    """A round is one step of each net, in a shuffled order: a slow spell of the shared machine falls on all three
    alike, where timing one net's rounds after another's let it fall on one (A-LRN over A read 0.96-1.23x in fp32
    over six runs that way). Each net's time is the median of its own steps' CPU times."""
    if dtype == "bf16" and not cpu_bf16_units():
        pytest.skip("bf16 is emulated on a CPU without bf16 units (AMX, AVX512-BF16), about 90x slower")
    steps = {"a": sgd_step(model("A"), dtype), "a_lrn": sgd_step(model("A-LRN"), dtype)}
    with monkeypatch.context() as m:  # the same net, built with torch's LocalResponseNorm
        m.setattr(eager.LAYERS, "LocalResponseNorm", nn.LocalResponseNorm)
        steps["a_lrn_torch"] = sgd_step(model("A-LRN"), dtype)
    times: dict[str, list[float]] = {net: [] for net in steps}
    order = random.Random(0)

    def one_round() -> None:
        for net in order.sample(sorted(steps), len(steps)):
            start = time.process_time()
            steps[net]()
            times[net].append(time.process_time() - start)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    for net, each in times.items():
        RESULTS[f"{net}_{dtype}"] = statistics.median(each[WARMUP:])
