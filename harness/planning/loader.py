"""How many training images a second one core of this machine decodes and augments with the harness's own
ImageNet-folder loader (`harness.training.data.FolderImages`: decode, rescale to S, random crop, flip): what the
Slurm scripts size their CPUs and memory by, so that the loaders keep the GPUs fed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from archspec.errors import ArchspecError
from archspec.views import PAPER_CROP

# Measured on this project's test machine (AMD EPYC, 1 core, shared) by `loader_rate` on 64 JPEGs of 500 x 375 (82 kB),
# ILSVRC-2012's typical size, crop 224 from S = 256 (docs/plan.md); used where no --data folder is given.
DEFAULT_RATE = 125.0
IMAGES_TRIED = 64  # images decoded at most, each once after a warm-up on the first


def loader_rate(
    folder: str | Path,
    crop: int = PAPER_CROP,
    scale: tuple[int, int] | None = None,  # None: the paper's S = 256 at this crop (DataConfig's default)
    images: int = IMAGES_TRIED,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Training images a second on one core: `images` of the folder's JPEGs through the harness's loader."""
    import torch

    from ..training.config import DataConfig
    from ..training.data import IMAGE_SUFFIXES, FolderImages

    root = Path(folder)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:images]
    if not paths:
        raise ArchspecError(f"{root}: no images; expected a folder of JPEGs (an ImageNet layout's train/ will do)")
    cfg = DataConfig(source=str(root), crop=crop, scale=scale)
    ds = FolderImages([(str(p), 0) for p in paths], cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds[(0, 0, "train")]  # warm-up: imports, the first file's page cache
        start = clock()
        decoded = sum(ds[(i, i, "train")] is not None for i in range(len(paths)))
        seconds = clock() - start
    finally:
        torch.set_num_threads(before)
    if not decoded:
        raise ArchspecError(f"{root}: no readable image among {len(paths)}; expected decodable JPEGs")
    return decoded / seconds
