"""Training data: in-memory sets (idx files, the embedded subset, synthetic) and ImageNet-layout folders.

Both kinds yield, per step, the rank's share of the global batch as normalised
float tensors on the training device. Every random draw is a function of
(seed, epoch, step, position in the global batch), so a run resumed at any
step, or split over any number of processes, sees exactly the same images and
augmentations as one uninterrupted process.

- `TensorData`: small sets decoded once into a uint8 tensor; augmentation is a
  batched op on the training device (`augment.py`).
- `FolderData`: `train/<class>/*`, `val/<class>/*`; Pillow decodes and resizes
  in DataLoader workers; unreadable images, and those that would exceed MAX_PIXELS once rescaled, are
  skipped, counted and warned about once. Mean and PCA statistics are computed once and cached.

Three splits, never mixed: `train` (what SGD sees), `holdout` (a stratified
share of the training set, carved by `holdout_split` with a fixed seed, so
every run and every seed holds out the same images; the learning-rate plateau
rule and `best` weights look only at it) and `val` (the scored split: the
idx files' test set or the folder's val/, read only by `archspec eval`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import random
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from archspec import memory
from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.files import folder, read_json, regular

from .augment import Stats, centre, normalise, rescale_crop, sample_params
from .config import DataConfig

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEFAULT_ROOTS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}


HOLDOUT_SEED = 1409_1556  # the paper's arXiv number: fixed, so every run holds out the same images


def seeded(*key: int) -> torch.Generator:
    """A generator whose state is a pure function of the key (seed, epoch, step, ...)."""
    return torch.Generator().manual_seed(hash(key) & 0x7FFF_FFFF_FFFF_FFFF)


def holdout_split(labels: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices), sorted: `fraction` of each class (rounded, at least one image of
    every class with two or more), drawn with a fixed seed. The same labels always give the same split."""
    gen = torch.Generator().manual_seed(HOLDOUT_SEED)
    held = []
    for c in labels.unique(sorted=True).tolist():
        members = (labels == c).nonzero().flatten()
        k = round(fraction * len(members))
        if fraction > 0 and len(members) > 1:
            k = min(max(k, 1), len(members) - 1)
        held.append(members[torch.randperm(len(members), generator=gen)[:k]])
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[torch.cat(held)] = True
    return (~mask).nonzero().flatten(), mask.nonzero().flatten()


# ---------------------------------------------------------------- idx files


def read_idx(path: Path) -> np.ndarray:
    """An idx file (MNIST's format), gzipped or not. The header's dimensions size the data, which is checked
    against the memory available before it is read (a small .gz file may expand to gigabytes)."""
    regular(path, "an idx file")
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
            if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
                raise ValueError("bad magic number")
            dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            size = math.prod(dims)
            memory.require(size, f"{path}", "the header's dimensions decide it", f"{dims} uint8 values")
            raw = f.read(size + 1)
        if len(raw) != size:
            raise ValueError(f"{len(raw):,} bytes of data for dimensions {dims}; expected {size:,}")
        return np.frombuffer(raw, np.uint8).reshape(dims)
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as e:
        raise ArchspecError(f"{path}: not a readable idx file ({e}); expected MNIST's idx format") from None


def _idx_file(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise ArchspecError(f"{root}: no {stem}[.gz]; expected MNIST-style idx files (train-*, t10k-* or val-*)")


def load_idx_split(root: Path, split: str, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(path := _idx_file(root, f"{split}-images-idx3-ubyte"))
    labels = read_idx(label_path := _idx_file(root, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or len(images) != len(labels) or len(images) == 0:
        raise ArchspecError(f"{root}: {split} images {images.shape} and labels {labels.shape} do not pair up")
    if 0 in images.shape[1:]:
        raise ArchspecError(f"{path}: images of {images.shape[1]}x{images.shape[2]} pixels; expected at least 1x1")
    if labels.max() >= classes:
        raise ArchspecError(f"{label_path}: found label {labels.max()}; expected labels 0 to {classes - 1}")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------- in-memory sets


@dataclass
class TensorData:
    """A small set held in memory: uint8 images (N, C, H, W) and int64 labels. The training set given is
    split into train and holdout (`holdout_index`: positions in it); val is the scored split."""

    cfg: DataConfig
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    stats: Stats = field(init=False)
    holdout_index: torch.Tensor = field(init=False)
    skipped: int = 0

    def __post_init__(self) -> None:
        keep, self.holdout_index = holdout_split(self.train_y, self.cfg.holdout)
        self.holdout_x, self.holdout_y = self.train_x[self.holdout_index], self.train_y[self.holdout_index]
        self.train_x, self.train_y = self.train_x[keep], self.train_y[keep]
        self.stats = Stats.of_images(self.train_x)

    def holdout_record(self) -> dict:
        """What run.json's holdout.json records: which training images were held out."""
        return {
            "source": self.cfg.source,
            "fraction": self.cfg.holdout,
            "seed": HOLDOUT_SEED,
            "count": len(self.holdout_y),
            "train": len(self.train_y),
            "indices": self.holdout_index.tolist(),
        }

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    def steps(self, batch: int) -> int:
        return max(1, len(self.train_y) // batch)

    def train_batches(
        self,
        epoch: int,
        batch: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        start: int = 0,
        device: torch.device | str = "cpu",
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.train_y)
        order = torch.randperm(n, generator=seeded(seed, epoch))
        share = batch // world
        for step in range(start, self.steps(batch)):
            idx = order[step * batch : (step + 1) * batch]
            s, pos, flips, alpha = sample_params(
                seeded(seed, epoch, step), len(idx), self.channels, self.cfg.scales, self.cfg.flip, self.cfg.pca_std
            )
            mine = slice(rank * share, (rank + 1) * share)
            x = self.train_x[idx[mine]].to(device).float().div_(255)  # (B/world, C, H, W) in [0, 1]
            x = rescale_crop(x, s[mine], pos[mine], flips[mine], self.cfg.crop_size)  # (B/world, C, crop, crop)
            yield normalise(x, self.stats, alpha[mine]), self.train_y[idx[mine]].to(device)

    def holdout_batches(
        self, batch: int, device: torch.device | str = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The held-out images at the single test scale, centre crop (what the plateau rule watches)."""
        for i in range(0, len(self.holdout_y), batch):
            x = self.holdout_x[i : i + batch].to(device).float().div_(255)
            x = centre(x, self.cfg.test_scale, self.cfg.crop_size)
            yield normalise(x, self.stats), self.holdout_y[i : i + batch].to(device)


def embedded_root() -> Path:
    return Path(str(files("archspec.harness") / "embedded"))


def _padded(x: torch.Tensor, pad: int) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, C, H + 2 pad, W + 2 pad), the border background (0, as in (Fashion-)MNIST)."""
    if not pad:
        return x
    n, c, h, w = x.shape
    memory.require(n * c * (h + 2 * pad) * (w + 2 * pad), f"--pad {pad}", "use a smaller --pad", f"{n:,} images")
    return torch.nn.functional.pad(x, (pad,) * 4)


def load_small(cfg: DataConfig) -> TensorData:
    if cfg.source == "synthetic":
        n, classes, side = cfg.synthetic
        gen = torch.Generator().manual_seed(1)
        x = torch.randint(0, 256, (n + n // 8, 3, side, side), dtype=torch.uint8, generator=gen)
        y = torch.randint(0, classes, (n + n // 8,), generator=gen)
        names = [f"class{i}" for i in range(classes)]
        return TensorData(cfg, names, _padded(x[:n], cfg.pad), y[:n], _padded(x[n:], cfg.pad), y[n:])
    if cfg.source == "embedded":
        root, val_split = embedded_root(), "val"
    else:
        root, val_split = Path(cfg.root or DEFAULT_ROOTS[cfg.source]), "t10k"
        hint = " (apt-get install dataset-fashion-mnist)" if cfg.source == "fashion-mnist" else ""
        folder(root, f"{cfg.source} idx files{hint}, or pass --data-root")
    names = FASHION_CLASSES if cfg.source in ("embedded", "fashion-mnist") else [str(i) for i in range(10)]
    tx, ty = load_idx_split(root, "train", len(names))
    vx, vy = load_idx_split(root, val_split, len(names))
    tx, vx = _padded(tx, cfg.pad), _padded(vx, cfg.pad)
    return TensorData(cfg, names, tx, ty, vx, vy)


# ---------------------------------------------------------------- folders


def class_folders(split_dir: Path) -> list[str]:
    """The class folders of one split of an ImageNet-layout folder, sorted; one line where there are none or the
    folder cannot be listed."""
    expected = f"expected {split_dir.name}/<class>/<images>"
    folder(split_dir, f"{split_dir.name}/<class>/<images>")
    try:
        found = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    except OSError as e:
        raise ArchspecError(f"{split_dir}: {e.strerror}; {expected} that can be listed") from None
    if not found:
        raise ArchspecError(f"{split_dir}: no class folders; {expected}")
    return found


def _scan(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[str, int]]]:
    found = class_folders(split_dir)
    classes = classes or found
    items = []
    for name in found:
        if name not in classes:
            raise ArchspecError(f"{split_dir / name}: class not in train/; expected one of train/'s classes")
        folder(split_dir / name, "a class folder of images")  # rglob would skip one it cannot list, silently
        images = sorted(
            p for p in (split_dir / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )  # regular files only: a FIFO named x.jpg would block a worker forever
        if not images:
            raise ArchspecError(f"{split_dir / name}: no images; expected .jpg, .jpeg, .png (or similar) files")
        items += [(str(p), classes.index(name)) for p in images]
    return classes, items


MAX_PIXELS = 1 << 25  # 33.5 megapixels (ImageNet's largest images are about a third of this)


def rescaled_pixels(width: int, height: int, side: int) -> float:
    """Pixels of a width x height image once its shorter side is rescaled to `side` (a 1 x 2,000,000 strip at
    side 37 has 2.7 billion)."""
    return width * height * (side / min(width, height)) ** 2


def open_rgb8(path: str, side: int, draft: int | None = None):
    """An image file decoded as 8-bit RGB (JPEG: at about `draft` pixels a side where given), or None where it
    cannot be read, or has more than MAX_PIXELS pixels as stored or once its shorter side is rescaled to `side`:
    its header says so before any pixel is decoded or resized."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if max(im.width * im.height, rescaled_pixels(im.width, im.height, side)) > MAX_PIXELS:
                return None
            if draft:
                im.draft("RGB", (draft, draft))
            return to_rgb8(im)
    except Exception:  # truncated, corrupt or unsupported files (and decompression bombs) are skipped, not fatal
        return None


def to_rgb8(im):
    """An image as 8-bit RGB; 16- and 32-bit greyscale by its real range (Pillow's convert would saturate)."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        return Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


class FolderImages(torch.utils.data.Dataset):
    """Decodes one image per item. An item is (index, seed, mode): mode 'train' draws S, crop,
    flip and lighting from `seed`; 'val' rescales to Q and centre-crops; 'stats' returns a small image."""

    def __init__(self, items: list[tuple[str, int]], cfg: DataConfig) -> None:
        self.items, self.cfg = items, cfg

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int, str]):
        from PIL import Image

        index, seed, mode = key
        path, label = self.items[index]
        rnd = random.Random(seed)
        side = {"train": rnd.randint(*self.cfg.scales), "val": self.cfg.test_scale, "stats": 64}[mode]
        img = open_rgb8(path, side, 64 if mode == "stats" else None)
        if img is None:
            return None
        crop = self.cfg.crop_size
        w, h = img.size
        scale = side / min(w, h)
        img = img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.Resampling.BILINEAR)
        if mode != "stats":
            w, h = img.size
            x0 = rnd.randint(0, w - crop) if mode == "train" else (w - crop) // 2
            y0 = rnd.randint(0, h - crop) if mode == "train" else (h - crop) // 2
            img = img.crop((x0, y0, x0 + crop, y0 + crop))
            if mode == "train" and self.cfg.flip and rnd.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)  # (3, h, w) uint8
        alpha = torch.tensor([rnd.gauss(0, self.cfg.pca_std) for _ in range(3)])
        return x, label, alpha


def _collate(batch):
    kept = [b for b in batch if b is not None]
    skipped = len(batch) - len(kept)
    if not kept:
        return None, skipped
    xs, ys, alphas = zip(*kept, strict=True)
    return (torch.stack(xs), torch.tensor(ys), torch.stack(alphas)), skipped


def _stats_cache(root: Path, items: list[tuple[str, int]]) -> Path:
    """The statistics' cache file, keyed on every training image's path, size and modification time:
    replacing, adding or removing an image gives a new key."""
    h = hashlib.sha1(str(root.resolve()).encode())
    for path, _ in items:
        st = os.stat(path)
        h.update(f"|{path}|{st.st_size}|{st.st_mtime_ns}".encode())
    key = h.hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "archspec"
    return cache / f"stats-{key}.json"


class FolderData:
    """An ImageNet-layout folder: root/train/<class>/*, root/val/<class>/*."""

    channels = 3

    def __init__(self, cfg: DataConfig, progress=None) -> None:
        root = folder(cfg.source, "an ImageNet-layout folder with train/ and val/")
        self.cfg, self.root = cfg, root
        self.classes, items = _scan(root / "train")
        keep, held = holdout_split(torch.tensor([label for _, label in items]), cfg.holdout)
        self.train_items = [items[i] for i in keep.tolist()]
        self.holdout_items = [items[i] for i in held.tolist()]
        _, self.val_items = _scan(root / "val", self.classes)
        self.skipped, self._warned = 0, False
        self.stats = self._stats(progress)

    def _loader(self, items, keys, batch):
        ds = FolderImages(items, self.cfg)
        sampler = [keys[i : i + batch] for i in range(0, len(keys), batch)]
        return torch.utils.data.DataLoader(
            ds,
            batch_sampler=sampler,
            num_workers=self.cfg.workers,
            collate_fn=_collate,
            pin_memory=torch.cuda.is_available(),
        )

    def _count(self, skipped: int) -> None:
        self.skipped += skipped
        if skipped and not self._warned:
            warnings.warn(
                f"{self.root}: skipping images that cannot be read or would exceed {MAX_PIXELS:,} pixels once "
                "rescaled (counted in the run's metrics)",
                stacklevel=2,
            )
            self._warned = True

    def _stats(self, progress) -> Stats:
        """Mean RGB and PCA over the training set (at 64 px), computed once and cached."""
        cache = _stats_cache(self.root, self.train_items)
        if cache.is_file():
            try:
                stats = Stats.model_validate(read_json(cache, "a colour-statistics cache", 1 << 20))
                if len(stats.mean) == self.channels:
                    return stats
                warnings.warn(f"{cache}: statistics of {len(stats.mean)} channels; recomputing them", stacklevel=2)
            except ArchspecError as e:  # never trust a cache that does not parse: rebuild it
                warnings.warn(f"{e}; recomputing the colour statistics", stacklevel=2)
            except ValueError as e:
                warnings.warn(f"{cache}: not a colour-statistics cache ({str(e)[:80]}); recomputing it", stacklevel=2)
        total, outer, count = torch.zeros(3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64), 0
        keys = [(i, 0, "stats") for i in range(len(self.train_items))]
        task = progress.add_task("mean RGB and PCA", total=len(keys), ips=0.0, loss=float("nan")) if progress else None
        for out, skipped in self._loader(self.train_items, keys, 1):
            self._count(skipped)
            if out is not None:
                x = out[0][0].reshape(3, -1).double() / 255
                total, outer, count = total + x.sum(1), outer + x @ x.T, count + x.shape[1]
            if progress:
                progress.advance(task)
        if count == 0:
            raise ArchspecError(f"{self.root / 'train'}: no readable images; expected decodable image files")
        stats = Stats.from_moments(total, outer, count)
        try:
            with atomic_path(cache) as tmp:
                tmp.write_text(json.dumps(stats.model_dump()))
        except ArchspecError as e:  # a read-only cache folder costs the next run a recomputation, nothing more
            warnings.warn(f"colour statistics not cached: {e}", stacklevel=2)
        return stats

    def steps(self, batch: int) -> int:
        return max(1, len(self.train_items) // batch)

    def train_batches(self, epoch, batch, seed, rank=0, world=1, start=0, device="cpu"):
        order = torch.randperm(len(self.train_items), generator=seeded(seed, epoch)).tolist()
        share = batch // world
        keys = []
        for step in range(start, self.steps(batch)):
            for j in range(rank * share, (rank + 1) * share):
                if step * batch + j < len(order):  # a batch larger than the set takes the whole set
                    keys.append((order[step * batch + j], hash((seed, epoch, step, j)) & 0x7FFF_FFFF, "train"))
        for out, skipped in self._loader(self.train_items, keys, share):
            self._count(skipped)
            if out is not None:
                x, y, alpha = out
                x = x.to(device, non_blocking=True).float().div_(255)
                yield normalise(x, self.stats, alpha), y.to(device)

    def holdout_record(self) -> dict:
        return {
            "source": str(self.root),
            "fraction": self.cfg.holdout,
            "seed": HOLDOUT_SEED,
            "count": len(self.holdout_items),
            "train": len(self.train_items),
            "files": [path for path, _ in self.holdout_items],
        }

    def holdout_batches(self, batch, device="cpu"):
        keys = [(i, 0, "val") for i in range(len(self.holdout_items))]
        for out, skipped in self._loader(self.holdout_items, keys, batch):
            self._count(skipped)
            if out is not None:
                x, y, _ = out
                yield normalise(x.to(device).float().div_(255), self.stats), y.to(device)


def load(cfg: DataConfig, progress=None) -> TensorData | FolderData:
    return load_small(cfg) if cfg.small else FolderData(cfg, progress)
