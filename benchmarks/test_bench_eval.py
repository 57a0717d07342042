"""Evaluation as fast as its FLOPs allow (issue 35): the small suite's multi-scale multi-crop & dense evaluation of
D (width 1/8 with batch norm folded, 32x32x1, 10 classes; Q = 37, 55, 73 as for D/[256;512]) on one batch of 64
images, the protocol's every view of the batch in one pass per view shape
(`harness.evaluation.protocol.image_posteriors`) against the per-scale path it replaced (commit fec8f42, kept
below as the baseline: each scale's dense views, a pass each, then its 50 crops in passes of 512). One torch thread
as in a `--jobs 2` worker, timed in CPU time as the LRN benchmark is (other jobs on shared cores do not count).
Each path's images/s is stated against the FLOPs of its views per image (`harness.planning.cost.eval_flops`, from
`archspec.views` and the IR) as a share of the fp32 GEMM peak per core measured in the same run
(`harness.training.peak`). Results also in `benchmarks/results/eval-<CPU model>.json`."""

import os
import time

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler.dense import to_dense
from archspec.compiler.eager import fold_batchnorm
from archspec.compiler.memory_format import channels_last
from archspec.harness.evaluation.protocol import dense_views, image_posteriors, rescale, view_budget
from archspec.harness.planning import cost as plan
from archspec.harness.training import peak
from archspec.harness.training.init import initialise
from archspec.views import BOTH, grid_offsets

from .conftest import EXTRA, NAMED, RATIOS

NAMED.append("eval")
RATIOS.append(("eval: every view of a batch together vs per scale, D multi-crop & dense (speed-up)", "old", "new"))
SCALES, CROP, IMAGES = [37, 55, 73], 32, 64
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.benchmark(timer=time.process_time)]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = archspec.compile("D", num_classes=10, input="32x32x1", width=0.125, batch_norm=True)
    initialise(m, "torchvision", 0.01)
    return channels_last(fold_batchnorm(m.eval()), "cpu")  # as `evaluation.load_source` makes it


@pytest.fixture(scope="module")
def gemm_peak():
    measured = peak.measure()
    EXTRA["eval: load average (1 min) at the start, on shared cores"] = round(os.getloadavg()[0], 2)
    EXTRA["eval: GEMM peak per core, GFLOPS (fp32, bf16)"] = [
        round(measured.fp32.gflops, 1),
        round(measured.bf16.gflops, 2),
    ]
    return measured.fp32.gflops


@pytest.mark.parametrize("path", ["old", "new"])
def test_multicrop_and_dense(benchmark, record, net, gemm_peak, path):
    x01 = torch.rand(IMAGES, 1, CROP, CROP)  # (B, C, H, W): one batch of the small set, padded to the crop
    dense = to_dense(net)
    if path == "new":
        budget = view_budget(torch.device("cpu"))
        run = lambda: image_posteriors(net, dense, x01, SCALES, CROP, lambda t: t, (BOTH.name,), budget=budget)  # noqa: E731
        baseline = per_scale(net, dense, x01)
        for q, parts in run().scales.items():  # the same posteriors as the baseline's
            for part, p in parts.items():
                torch.testing.assert_close(p, baseline[q][part], rtol=0, atol=1e-5)
    else:
        run = lambda: per_scale(net, dense, x01)  # noqa: E731
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    record(path)
    flops = sum(plan.eval_flops(net.net, (BOTH,), q) for q in SCALES)  # per image, every scale's views
    per_s = IMAGES / benchmark.stats.stats.mean
    EXTRA[f"eval: {path} path, images/s"] = round(per_s, 1)
    EXTRA[f"eval: {path} path, share of the fp32 GEMM peak"] = round(flops * per_s / (gemm_peak * 1e9), 3)
    EXTRA["eval: GFLOP per image (views of Q = 37, 55, 73)"] = round(flops / 1e9, 3)


@torch.no_grad()
def per_scale(model: nn.Module, dense: nn.Module, x01: torch.Tensor) -> dict[int, dict[str, torch.Tensor]]:
    """The per-scale path of commit fec8f42 for a flat net (the baseline): {Q: {part: (B, K)}}."""
    out = {}
    for q in SCALES:
        xq = rescale(x01, q).contiguous(memory_format=torch.channels_last)  # (B, C, H, W) at Q
        out[q] = {"dense": _dense(dense, xq), "multi-crop": _crops(model, xq)}
    return out


def _dense(dense: nn.Module, x: torch.Tensor) -> torch.Tensor:
    total, cells = 0, 0
    for v in dense_views(x, dense.stride):
        scores = dense(torch.cat([v, v.flip(-1)])).float()  # (2B, K, h, w): one view and its flip, one pass
        total, cells = total + scores.sum((2, 3)), cells + scores.shape[-2] * scores.shape[-1]
    p = (total / cells).softmax(1)  # (2B, K)
    return (p[: len(x)] + p[len(x) :]) / 2


def _crops(model: nn.Module, x: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    h, w = x.shape[-2:]
    views = [x[..., i : i + CROP, j : j + CROP] for i in grid_offsets(h, CROP) for j in grid_offsets(w, CROP)]
    views = torch.stack(views + [v.flip(-1) for v in views], 1)  # (B, V, C, crop, crop)
    views = views.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # (B*V, C, crop, crop)
    p = torch.cat([model(part).float().softmax(1) for part in views.split(chunk)])  # (B*V, K)
    return p.view(len(x), -1, p.shape[1]).mean(1)
