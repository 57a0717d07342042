"""`archspec eval`: the test protocol on trained checkpoints, one process or sharded over many.

A source is a run folder (`archspec train` output: network, classes, colour statistics
and training scale come from its run.json) or a torchvision-format weights file with
`--spec` (ImageNet mean/std normalisation, crop 224, trained at S = 256: the model-zoo
setting). Every source sees the same validation images in the same order; each image
is decoded once and rescaled once per test scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import Progress
from torch import nn

import archspec
from archspec.compiler.dense import to_dense
from archspec.compiler.weights import load_pretrained
from archspec.errors import ArchspecError

from . import checkpoint
from .config import DataConfig, TrainConfig
from .data import FolderData, load_small
from .distributed import Context, launch
from .protocol import METHODS, centre_posterior, combine, errors, paper_scales, scale_posteriors, single_scale

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class Source:
    label: str  # the paper's Table 6 notation: config/train scale
    model: nn.Module
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop: int
    train_scales: tuple[int, int]
    data: DataConfig

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def scale_label(scales: tuple[int, int]) -> str:
    return str(scales[0]) if scales[0] == scales[1] else f"[{scales[0]};{scales[1]}]"


def load_source(path: str, spec: str | None = None, device: torch.device | str = "cpu") -> Source:
    p = Path(path)
    if p.is_dir():
        cfg, net, classes, stats = checkpoint.read_run(p)
        model = load_pretrained(archspec.compile(net), checkpoint.weights_of(p))
        scales, crop = cfg.data.scales, cfg.data.crop_size
        label = cfg.name or f"{net.name}/{scale_label(scales)}"
        std = (1.0,) * len(stats.mean)
        model = model.to(device, memory_format=torch.channels_last).eval()
        return Source(label, model, classes, stats.mean, std, crop, scales, cfg.data)
    if spec is None:
        raise ArchspecError(f"{path}: a weights file needs --spec (the network it belongs to), or pass a run folder")
    model = load_pretrained(archspec.compile(spec), p)
    classes = [str(i) for i in range(model.net.layers[-2].out_features)]
    data = DataConfig(source="imagenet", crop=224, scale=(256, 256))
    model = model.to(device, memory_format=torch.channels_last).eval()
    return Source(f"{model.net.name}/256", model, classes, IMAGENET_MEAN, IMAGENET_STD, 224, (256, 256), data)


def val_images(data: DataConfig, rank: int, world: int, limit: int | None):
    """(number of images, iterator of (index, uint8 batch (B, C, H, W), labels)) for this rank's share;
    B = 1 for folders, whose images differ in size."""
    if data.small:
        d = load_small(data)
        n = min(limit or len(d.val_y), len(d.val_y))
        mine = torch.arange(rank, n, world)
        return len(mine), ((part, d.val_x[part], d.val_y[part]) for part in mine.split(64))
    folder = FolderData(data)
    n = min(limit or len(folder.val_items), len(folder.val_items))
    return len(range(rank, n, world)), _folder_images(folder, rank, world, n)


def _folder_images(folder: FolderData, rank: int, world: int, n: int):
    from PIL import Image

    for i in range(rank, n, world):
        path, label = folder.val_items[i]
        try:
            with Image.open(path) as im:
                x = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)
        except Exception:
            continue  # unreadable: left out of the evaluation (counted by the caller)
        yield torch.tensor([i]), x[None], torch.tensor([label])


def parse_scales(text: str) -> list[int]:
    try:
        scales = [int(q) for q in text.replace(";", ",").strip("{}[] ").split(",") if q.strip()]
    except ValueError:
        scales = []
    if not scales or min(scales) < 1:
        raise ArchspecError(f"scales {text!r}: expected test scales such as 256,384,512")
    return scales


@dataclass
class EvalJob:
    sources: list[str]
    spec: str | None = None
    data: str | None = None
    scales: list[int] | None = None
    methods: tuple[str, ...] = METHODS
    limit: int | None = None
    progress: bool = True


def _run(job: EvalJob, ctx: Context) -> list[dict]:
    sources = [load_source(s, job.spec, ctx.device) for s in job.sources]
    first = sources[0]
    data = first.data if job.data is None else first.data.model_copy(update={"source": job.data})
    if any(s.classes != first.classes for s in sources):
        raise ArchspecError(f"{job.sources}: the checkpoints were trained on different classes; expected the same")
    plans = []  # (source, protocol name, scales)
    for s in sources:
        multi = job.scales or paper_scales(s.train_scales, s.crop)
        plans += [(s, "single", single_scale(s.train_scales)), (s, "multi", multi)]
    dense = {id(s): to_dense(s.model) for s in sources}
    probs: dict[tuple[int, str, str], list[torch.Tensor]] = {}
    index, labels = [], []
    count, images = val_images(data, ctx.rank, ctx.world, job.limit)
    with Progress(console=Console(stderr=True), disable=not (job.progress and ctx.main), transient=True) as bar:
        task = bar.add_task(f"evaluating {', '.join(s.label for s in sources)}", total=count)
        for idx, x, y in images:
            x01 = x.to(ctx.device).float() / 255
            index.append(idx)
            labels.append(y)
            per_scale = {}  # (source, q) -> {method: posterior}: each scale computed once
            for k, (s, name, scales) in enumerate(plans):
                for q in scales:
                    if (id(s), q) not in per_scale:
                        per_scale[id(s), q] = scale_posteriors(s.model, dense[id(s)], x01, q, s.crop, s.normalise,
                                                               job.methods)  # fmt: skip
                out = combine({q: per_scale[id(s), q] for q in scales}, scales, job.methods)
                if name == "single":
                    out["centre"] = centre_posterior(s.model, s.normalise(x01), s.crop)
                for method, p in out.items():
                    probs.setdefault((k, name, method), []).append(p.cpu())
            bar.advance(task, len(y))
    index, labels = torch.cat(index), torch.cat(labels)
    stacked = {key: torch.cat(v) for key, v in probs.items()}
    if ctx.world > 1:  # gather every rank's share on rank 0, in image order
        parts = [None] * ctx.world
        dist.all_gather_object(parts, (index, labels, stacked))
        index = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        stacked = {key: torch.cat([p[2][key] for p in parts]) for key in stacked}
    order = index.argsort()
    labels = labels[order]
    stacked = {key: p[order] for key, p in stacked.items()}
    return report(plans, stacked, labels)


def report(plans, stacked: dict, labels: torch.Tensor) -> list[dict]:
    rows = []
    for (k, name, method), p in stacked.items():
        s, _, scales = plans[k]
        q = ",".join(map(str, scales)) if method != "centre" else f"{round(s.crop * 256 / 224)} (crop {s.crop})"
        top1, top5 = errors(p, labels)
        rows.append({"model": f"{s.label}/{q}" if method != "centre" else s.label, "protocol": name,
                     "method": method, "test_scales": q, "top1_err": round(top1, 2), "top5_err": round(top5, 2),
                     "images": len(labels)})  # fmt: skip
    if (
        len({id(plans[k][0]) for k, _, _ in stacked}) > 1
    ):  # fusion: average the posteriors of all models, per protocol and method
        for name in ("single", "multi"):
            for method in METHODS:
                keys = [key for key in stacked if key[1] == name and key[2] == method]
                if len(keys) > 1:
                    top1, top5 = errors(sum(stacked[key] for key in keys) / len(keys), labels)
                    label = " + ".join(f"{plans[k][0].label}/{','.join(map(str, plans[k][2]))}" for k, _, _ in keys)
                    rows.append({"model": label, "protocol": name, "method": f"fusion: {method}",
                                 "test_scales": "per model", "top1_err": round(top1, 2), "top5_err": round(top5, 2),
                                 "images": len(labels)})  # fmt: skip
    return rows


def evaluate_checkpoints(job: EvalJob, devices: int = 1, cuda: bool | None = None) -> list[dict]:
    """Run the protocol on every source (sharded over `devices` processes); one row per (model, method)."""
    for s in job.sources:
        if not Path(s).exists():
            raise ArchspecError(f"{s}: no such run folder or weights file; expected an archspec train run")
    cfg = TrainConfig(spec="eval", devices=devices, cuda=cuda, out=str(Path(job.sources[0]) / "eval"),
                      progress=job.progress)  # fmt: skip
    return launch(_Eval(job), cfg)


class _Eval:
    """A picklable entry point for the launcher's worker processes."""

    def __init__(self, job: EvalJob) -> None:
        self.job = job

    def __call__(self, cfg, ctx):
        return _run(self.job, ctx)
