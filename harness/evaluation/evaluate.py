"""`archspec eval`: the test protocol on trained checkpoints, one process or sharded over many.

A source is a run folder (`archspec train` output: network, classes, colour statistics
and training scale come from its run.json) or a torchvision-format weights file with
`--spec` (ImageNet mean/std normalisation, crop 224, trained at S = 256: the model-zoo
setting). Every source sees the same validation images in the same order; each image
is decoded once and rescaled once per test scale.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import Progress
from torch import nn

from archspec import memory
from archspec.choices import Precision
from archspec.compiler import compile
from archspec.compiler.dense import to_dense
from archspec.compiler.eager import fold_batchnorm
from archspec.compiler.memory_format import channels_last
from archspec.compiler.weights import load_pretrained
from archspec.errors import ArchspecError
from archspec.files import folder
from archspec.infer import infer
from archspec.views import CENTRE, DENSE_FIT, METHODS, MULTI, PAPER_CROP, PROTOCOLS, RATIO, SCALED, SINGLE

from ..report.stats import wilson
from ..training import checkpoint
from ..training.allocator import keep_freed_memory
from ..training.config import DataConfig, Launch
from ..training.data import MAX_PIXELS, FolderData, TensorData, class_folders, load_small, open_rgb8
from ..training.distributed import Context, autocast_dtype, launch, within_cores
from . import looks
from .protocol import combine, image_posteriors, view_budget, wrong

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
    named: bool = True  # classes are the names trained on (a weights file's are only numbered)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def scale_label(scales: tuple[int, int]) -> str:
    return str(scales[0]) if scales[0] == scales[1] else f"[{scales[0]};{scales[1]}]"


@cache
def code_hash() -> str:
    """sha256 (12 hex) of the source of the evaluation path, everything between weights and posteriors: a cached
    evaluation made by other code is recomputed, never silently reused."""
    import sys

    from archspec.compiler import dense, eager, weights

    from ..training import data
    from . import protocol

    h = hashlib.sha256(torch.__version__.encode())
    for module in (dense, eager, weights, data, protocol, sys.modules[__name__]):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:12]


def load_source(
    path: str, spec: str | None = None, device: torch.device | str = "cpu", weights: str = "final"
) -> Source:
    p = Path(path)
    if p.is_dir():
        cfg, net, classes, stats = checkpoint.read_run(p)
        model = load_pretrained(compile(net), checkpoint.weights_of(p, weights))
        scales, crop = cfg.data.scales, cfg.data.crop_size
        label = cfg.name or f"{net.name}/{scale_label(scales)}"
        std = (1.0,) * len(stats.mean)
        model = channels_last(fold_batchnorm(model.eval()), device)
        return Source(label, model, classes, stats.mean, std, crop, scales, cfg.data)
    if spec is None:
        raise ArchspecError(f"{path}: a weights file needs --spec (the network it belongs to), or pass a run folder")
    model = load_pretrained(compile(spec), p)
    last = next((layer for layer in reversed(model.net.layers) if layer.kind == "fc"), None)
    if last is None:
        raise ArchspecError(f"--spec {spec!r}: has no FC layer; expected a classifier network")
    classes = [str(i) for i in range(last.out_features)]
    data = DataConfig(source="imagenet", crop=PAPER_CROP)  # the paper's crop and S = 256
    model = channels_last(fold_batchnorm(model.eval()), device)
    s = data.scales
    return Source(
        f"{model.net.name}/{s[0]}", model, classes, IMAGENET_MEAN, IMAGENET_STD, data.crop_size, s, data, named=False
    )


def val_images(
    data: DataConfig,
    rank: int,
    world: int,
    limit: int | None,
    loaded: TensorData | None = None,
    split: str = "val",
    side: int | None = None,
    skipped: list[str] | None = None,
):
    """(number of images, iterator of (index, uint8 batch (B, C, H, W), labels)) for this rank's share of the
    scored split (`val`) or of the held-out training images (`holdout`, the split recipe choices are made on);
    B = 1 for folders, whose images differ in size. `loaded`: the small set, if already read. A folder's image
    that cannot be read, or would exceed MAX_PIXELS with its shorter side rescaled to `side` (the largest test
    scale), is left out and its path added to `skipped`."""
    if data.small:
        d = loaded or load_small(data)
        xs, ys = (d.holdout_x, d.holdout_y) if split == "holdout" else (d.val_x, d.val_y)
        n = min(limit or len(ys), len(ys))
        mine = torch.arange(rank, n, world)
        return len(mine), ((part, xs[part], ys[part]) for part in mine.split(64))
    folder = FolderData(data)
    items = folder.holdout_items if split == "holdout" else folder.val_items
    n = min(limit or len(items), len(items))
    images = _folder_images(items, rank, world, n, side or data.test_scale, [] if skipped is None else skipped)
    return len(range(rank, n, world)), images


def _folder_images(items: list, rank: int, world: int, n: int, side: int, skipped: list[str]):
    for i in range(rank, n, world):
        path, label = items[i]
        img = open_rgb8(path, side)
        if img is None:
            skipped.append(path)
            continue
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
        yield torch.tensor([i]), x[None], torch.tensor([label])


def _check_data(source: Source, data: DataConfig, given: str | None, loaded: TensorData | None) -> None:
    """The scored data (`loaded`, for a small set) must have the run's classes, by name for every source
    that knows them, and its channels: anything else is one line, not a traceback or a table of errors
    scored against other classes."""
    if loaded is not None:
        classes, channels = loaded.classes, loaded.channels
    else:
        what = "the scored data as --data (an ImageNet-layout folder or embedded, fashion-mnist, mnist)"
        if data.source == "imagenet":  # a weights file's own setting: no folder of that name is meant
            raise ArchspecError(f"{data.source}: no such folder; expected {what}")
        classes = class_folders(folder(data.source, what) / "train")
        channels = 3
    where = f"--data {given}" if given else data.source
    if len(classes) != len(source.classes) or (source.named and classes != source.classes):

        def names(c):
            return ", ".join(c[:3]) + (", ..." if len(c) > 3 else "")

        raise ArchspecError(
            f"{where}: {len(classes)} classes ({names(classes)}); expected the {len(source.classes)} "
            f"classes {source.label} was trained on ({names(source.classes)})"
        )
    want = source.model.net.input.channels
    if channels != want:
        raise ArchspecError(f"{where}: {channels}-channel images; expected {want} channels, as {source.label} takes")


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
    methods: tuple[str, ...] = tuple(m.name for m in SCALED)
    limit: int | None = None
    weights: str = "final"  # a run's final weights, or "best" (selected on its held-out split)
    protocols: tuple[str, ...] = tuple(PROTOCOLS)
    threads: int | None = None  # torch CPU threads (default: torch's own)
    progress: bool = True
    precision: Precision = Precision.fp32  # bf16: convs and matmuls under autocast (posteriors in fp32)
    dense_fit: str = DENSE_FIT  # how dense windows cover a side that is not a multiple of the stride
    split: str = "val"  # val: the scored images; holdout: the run's held-out training images (for choices)


@dataclass
class Part:
    """One (source, protocol, method): the posteriors over the scored images and the views behind them."""

    label: str  # the source in Table 6 notation
    protocol: str  # single | multi
    method: str  # dense | multi-crop | multi-crop & dense | centre
    test_scales: str
    posterior: torch.Tensor  # (N, K)
    dense_map: int | None = None  # window positions along the smaller side at the largest scale (min over images)
    crop_views: int | None = None  # distinct multi-crop views at the smallest scale (min over images)
    dense_cover: float | None = None  # share of the image the dense windows cover (min over scales and images)


@dataclass
class Evaluation:
    labels: torch.Tensor  # (N,) in image order
    parts: list[Part]

    def rows(self) -> list[dict]:
        """One row per part, plus ensemble rows (posteriors averaged over sources) when there are several."""
        rows = [
            _row(
                METHODS[p.method].row(p.label, p.test_scales),
                p.protocol,
                p.method,
                p.test_scales,
                p.posterior,
                self.labels,
                p.dense_map,
                p.crop_views,
                p.dense_cover,
            )
            for p in self.parts
        ]
        for fused in ensemble(self.parts):  # several sources: one ensemble row per protocol and method
            rows.append(
                _row(
                    fused.label,
                    fused.protocol,
                    fused.method,
                    fused.test_scales,
                    fused.posterior,
                    self.labels,
                    fused.dense_map,
                    fused.crop_views,
                    fused.dense_cover,
                )
            )
        return rows


def ensemble(parts: list[Part]) -> list[Part]:
    """An ensemble (the paper's "fusion", Sec. 4.4): per protocol and method, every source's posteriors averaged."""
    out = []
    for name in PROTOCOLS:
        for method in (m.name for m in SCALED):
            same = [p for p in parts if p.protocol == name and p.method == method]
            if len(same) > 1:
                maps = [p.dense_map for p in same if p.dense_map is not None]
                views = [p.crop_views for p in same if p.crop_views is not None]
                covers = [p.dense_cover for p in same if p.dense_cover is not None]
                out.append(
                    Part(
                        " + ".join(f"{p.label}/{p.test_scales}" for p in same),
                        name,
                        f"ensemble: {method}",
                        "per model",
                        sum(p.posterior for p in same) / len(same),
                        min(maps) if maps else None,
                        min(views) if views else None,
                        min(covers) if covers else None,
                    )
                )
    return out


def _row(model, protocol, method, test_scales, posterior, labels, dense_map, crop_views, dense_cover) -> dict:
    """Errors with 95% Wilson intervals over the scored images: the first len(posterior) of them (a suite's
    multi-crop rows may score a prefix, `Settings.multi_crop_images`)."""
    n = len(posterior)
    wrong1, wrong5 = wrong(posterior, labels[:n])
    top1, top5 = int(wrong1.sum()), int(wrong5.sum())
    (lo1, hi1), (lo5, hi5) = wilson(top1, n), wilson(top5, n)
    return {
        "model": model,
        "protocol": protocol,
        "method": method,
        "test_scales": test_scales,
        "top1_err": round(100 * top1 / n, 2),
        "top1_lo": round(lo1, 2),
        "top1_hi": round(hi1, 2),
        "top5_err": round(100 * top5 / n, 2),
        "top5_lo": round(lo5, 2),
        "top5_hi": round(hi5, 2),
        "images": n,
        "dense_map": dense_map,
        "dense_cover": dense_cover,
        "crop_views": crop_views,
    }


@torch.inference_mode()
def _run(job: EvalJob, ctx: Context) -> Evaluation:
    if job.threads:
        torch.set_num_threads(job.threads)
    keep_freed_memory()
    sources = [load_source(s, job.spec, ctx.device, job.weights) for s in job.sources]
    first = sources[0]
    data = first.data if job.data is None else first.data.model_copy(update={"source": job.data})
    if any(s.classes != first.classes for s in sources):
        raise ArchspecError(f"{job.sources}: the checkpoints were trained on different classes; expected the same")
    plans = []  # (source, protocol name, scales)
    for s in sources:
        multi = job.scales or MULTI.scales(s.train_scales, s.crop)
        both = ((s, SINGLE.name, SINGLE.scales(s.train_scales, s.crop)), (s, MULTI.name, multi))
        plans += [plan for plan in both if plan[1] in job.protocols]
    for s in sources:  # a huge --scales is refused before an image is rescaled
        scales = [q for src, _, qs in plans if src is s for q in qs]
        need = memory.needed(infer(s.model.net), 2 * (64 if data.small else 1)) * (max(scales) / s.crop) ** 2
        if ctx.device.type == "cpu" and (have := memory.available()) and need > have:
            raise ArchspecError(
                f"--scales {max(scales)}: evaluating {s.label} at that scale needs about {need / 2**30:.0f} GiB; "
                f"expected at most the {have / 2**30:.1f} GiB available"
            )
        if min(scales) < s.crop:
            raise ArchspecError(
                f"--scales {min(scales)}: smaller than {s.label}'s crop {s.crop}; expected test "
                f"scales of at least {s.crop}"
            )
    dense = {id(s): to_dense(s.model) for s in sources}
    probs: dict[tuple[int, str], list[torch.Tensor]] = {}
    views: dict[tuple[int, int], dict[str, int]] = {}  # (source index, q) -> fewest views over images
    at = {id(s): i for i, s in enumerate(sources)}
    index, labels = [], []
    loaded = load_small(data) if data.small else None  # read once: checked, then scored
    _check_data(first, data, job.data, loaded)
    skipped: list[str] = []
    side = max(q for _, _, scales in plans for q in scales)  # the largest an image is rescaled to
    count, images = val_images(data, ctx.rank, ctx.world, job.limit, loaded, job.split, side, skipped)
    amp = autocast_dtype(Precision(job.precision), ctx.device)
    budget = view_budget(ctx.device)
    with (
        Progress(console=Console(stderr=True), disable=not (job.progress and ctx.main), transient=True) as bar,
        torch.autocast(ctx.device.type, dtype=amp or torch.float32, enabled=amp is not None),
    ):
        task = bar.add_task(f"evaluating {', '.join(s.label for s in sources)}", total=count)
        for idx, x, y in images:
            x01 = x.to(ctx.device).float() / 255
            index.append(idx)
            labels.append(y)
            for s in sources:  # every view of this batch of images through s's net together
                mine = [(k, name, scales) for k, (src, name, scales) in enumerate(plans) if src is s]
                got = image_posteriors(
                    s.model,
                    dense[id(s)],
                    x01,
                    sorted({q for _, _, scales in mine for q in scales}),
                    s.crop,
                    s.normalise,
                    job.methods,
                    job.dense_fit,
                    centre=any(PROTOCOLS[name].centre for _, name, _ in mine),
                    budget=budget,
                )
                for q, seen in got.views.items():
                    fewest = views.setdefault((at[id(s)], q), seen)
                    for key, v in seen.items():
                        fewest[key] = min(fewest[key], v)
                for k, name, scales in mine:
                    out = combine({q: got.scales[q] for q in scales}, scales, job.methods)
                    if PROTOCOLS[name].centre:
                        out[CENTRE.name] = got.centre
                    for method, p in out.items():
                        probs.setdefault((k, method), []).append(p.cpu())
            bar.advance(task, len(y))
    if job.progress and ctx.main and not bar.console.is_terminal:  # no live bar off a terminal: one line
        bar.console.print(
            f"evaluated {', '.join(s.label for s in sources)} on {count:,} images (rank 0's share)"
            if ctx.world > 1
            else f"evaluated {', '.join(s.label for s in sources)} on {count:,} images",
            markup=False,
        )
    if skipped:  # said once, with how many: the rows are over the images that were scored
        warnings.warn(
            f"{data.source}: left {len(skipped)} of {count} images out of the evaluation: they cannot be read, or "
            f"would exceed {MAX_PIXELS:,} pixels at Q = {side} (the first: {skipped[0]})",
            stacklevel=2,
        )
    if not index:
        raise ArchspecError(f"{data.source}: no readable image in the scored split; expected decodable image files")
    index, labels = torch.cat(index), torch.cat(labels)
    stacked = {key: torch.cat(v) for key, v in probs.items()}
    if ctx.world > 1:  # gather every rank's share on rank 0, in image order
        parts = [None] * ctx.world
        dist.all_gather_object(parts, (index, labels, stacked, views))
        index = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        stacked = {key: torch.cat([p[2][key] for p in parts]) for key in stacked}
        views = {key: {m: min(p[3][key][m] for p in parts) for m in views[key]} for key in views}
    order = index.argsort()
    result = []
    for (k, method), p in stacked.items():
        s, name, scales = plans[k]
        if method == CENTRE.name:
            result.append(Part(s.label, name, method, f"{round(s.crop * RATIO)} (crop {s.crop})", p[order]))
            continue
        uses = METHODS[method].parts
        dense_map = views[at[id(s)], max(scales)].get("dense_map") if "dense" in uses else None
        cover = min(views[at[id(s)], q]["dense_cover"] for q in scales) if "dense" in uses else None
        crop_views = min(views[at[id(s)], q]["crop_views"] for q in scales) if "multi-crop" in uses else None
        part = Part(s.label, name, method, ",".join(map(str, scales)), p[order], dense_map, crop_views, cover)
        result.append(part)
    return Evaluation(labels[order], result)


def evaluate_sources(job: EvalJob, devices: int = 1, cuda: bool | None = None) -> Evaluation:
    """Run the protocol on every source (sharded over `devices` processes): posteriors per (source, method)."""
    within_cores(job.threads, "--threads")
    for s in job.sources:
        try:
            found = Path(s).exists()
        except OSError as e:  # no permission to look is not "no such file"
            raise ArchspecError(
                f"{s}: cannot read ({e.strerror}); expected a readable run folder or weights file"
            ) from None
        if not found:
            raise ArchspecError(f"{s}: no such run folder or weights file; expected an archspec train run")
    lc = Launch(devices=devices, cuda=cuda, errors=str(Path(job.sources[0]) / "eval"))
    return launch(_Eval(job), lc, None)


def evaluate_checkpoints(job: EvalJob, devices: int = 1, cuda: bool | None = None) -> list[dict]:
    """Rows (model, protocol, method, errors with 95% Wilson intervals, views) for every source and ensemble. An
    evaluation on the scored split goes on its data set's record of looks as it ends (`looks.py`)."""
    result = evaluate_sources(job, devices, cuda)
    if job.split == "val":
        looks.record_eval(job.sources, job.data, len(result.labels))
    return result.rows()


class _Eval:
    """A picklable entry point for the launcher's worker processes."""

    def __init__(self, job: EvalJob) -> None:
        self.job = job

    def __call__(self, arg, ctx):
        return _run(self.job, ctx)
