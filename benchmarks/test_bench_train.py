"""Issue 4's speed target: the harness must not be slower than a plain hand-written PyTorch loop.

Same net (A, width 1/4, 10 classes, 32x32x1), same data (the embedded Fashion-MNIST
subset), same steps (3 epochs, batch 128), same per-image work (rescale to S, random
crop, flip, mean subtraction) and a validation pass per epoch (the paper's lr schedule
needs it); each side includes its own setup (reading the data, building the model).
The harness also does PCA lighting, top-5, checkpoints, metrics and a plot; it wins back
that time with channels-last activations, which a plain NCHW loop does not use.
"""

import tempfile

import torch
import torch.nn.functional as F

import archspec
from archspec.harness import Recipe, TrainConfig, train
from archspec.harness.training.data import embedded_root, load_idx_split

from .conftest import RATIOS

RATIOS.append(("train: harness vs plain loop (speed-up, >= 1 means not slower)", "plain_loop", "harness"))
BATCH, WIDTH, EPOCHS = 128, 0.25, 3


def harness_epoch():
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            spec="A",
            width=WIDTH,
            out=out,
            backend="torch",
            progress=False,
            recipe=Recipe(epochs=EPOCHS, batch=BATCH, init="glorot"),
        )
        return train(cfg).metrics[-1]


def plain_epoch():
    x, y = load_idx_split(embedded_root(), "train")
    vx, vy = load_idx_split(embedded_root(), "val")
    mean = x.float().mean() / 255
    model = archspec.compile("A", num_classes=10, input="32x32x1", width=WIDTH)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(len(y))
        for step in range(len(y) // BATCH):
            idx = order[step * BATCH : (step + 1) * BATCH]
            xb = F.interpolate(x[idx].float() / 255, size=(36, 36), mode="bilinear", align_corners=False)
            i, j = torch.randint(0, 5, (2,)).tolist()
            xb = xb[..., i : i + 32, j : j + 32]
            xb = torch.where(torch.rand(len(idx), 1, 1, 1) < 0.5, xb.flip(-1), xb) - mean
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            xv = F.interpolate(vx.float() / 255, size=(36, 36), mode="bilinear", align_corners=False)
            correct = sum(
                (model(b[..., 2:34, 2:34] - mean).argmax(1) == t).sum().item()
                for b, t in zip(xv.split(BATCH), vy.split(BATCH), strict=True)
            )
    return correct


def test_harness_epoch(benchmark, record):
    benchmark.pedantic(harness_epoch, rounds=3, iterations=1, warmup_rounds=1)
    record("harness")


def test_plain_loop_epoch(benchmark, record):
    benchmark.pedantic(plain_epoch, rounds=3, iterations=1, warmup_rounds=1)
    record("plain_loop")
