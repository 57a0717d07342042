"""Per-epoch metrics: a CSV row per epoch and a PNG plot of loss, top-1/top-5 error and learning rate.

The CSV is rewritten every epoch; the plot (a few hundred ms to draw) is redrawn at most once
a minute and always at the end of training, so short epochs are not slowed down.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.files import read_text

PLOT_EVERY_S = 60.0

FIELDS = [
    "epoch",
    "lr",
    "train_loss",
    "train_top1_err",
    "holdout_loss",
    "holdout_top1_err",
    "holdout_top5_err",
    "images_per_s",
    "seconds",
    "skipped_images",
]


def read(path: Path) -> list[dict]:
    """The rows of a metrics.csv (none where there is no file); an unreadable one is one line naming the row."""
    if not path.exists():
        return []
    rows = csv.DictReader(io.StringIO(read_text(path, "a metrics.csv written by archspec train", 64 << 20)))
    out = []
    for row in rows:
        try:
            out.append({k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v not in ("", None)})
        except (TypeError, ValueError) as e:
            raise ArchspecError(
                f"{path}:{rows.line_num}:1: found {str(e)[:80]}; expected the numbers archspec train writes"
            ) from None
    return out


def write(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def plot(path: Path, rows: list[dict], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # the object API: no pyplot import, no global state

    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(13, 3.6))
    FigureCanvasAgg(fig)
    loss, err, lr = fig.subplots(1, 3)
    loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    if all("holdout_loss" in r for r in rows):
        loss.plot(epochs, [r["holdout_loss"] for r in rows], label="held-out")
    loss.set(title="loss", xlabel="epoch")
    err.plot(epochs, [r["train_top1_err"] for r in rows], label="train top-1")
    if all("holdout_top1_err" in r for r in rows):
        err.plot(epochs, [r["holdout_top1_err"] for r in rows], label="held-out top-1")
        err.plot(epochs, [r["holdout_top5_err"] for r in rows], label="held-out top-5")
    err.set(title="error (%)", xlabel="epoch")
    lr.plot(epochs, [r["lr"] for r in rows])
    lr.set(title="learning rate", xlabel="epoch", yscale="log")
    for ax in (loss, err):
        ax.legend()
        ax.ticklabel_format(axis="y", useOffset=False)  # an offset ("+2.302") makes a flat loss look like progress
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
