"""The paper's test protocol (Sec. 3.2, Sec. 4): dense, multi-crop, both, over test scales, and fusion.

For each image and each test scale Q (smallest side rescaled to Q, decoded once):
- dense: the fully convolutional net (`compiler.dense`) on the whole image gives a class
  score map, spatially averaged; soft-max of the image and of its flip, averaged. The image is
  centred on the pixels the net's pooling uses (`centre_trim`), not cut at the bottom and right;
- multi-crop: a 5x5 regular grid of crops of the training crop size, each also flipped
  (50 views per scale), soft-max averaged;
- multi-crop & dense: the average of the two posteriors.
Posteriors are averaged over the scales; fusion averages several models' posteriors.
The centre-crop baseline (smallest side 256/224 of the crop, centre crop) compares with
model-zoo figures. `wrong` gives each image's top-1 and top-5 mistakes, which errors, intervals and
paired tests are computed from.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("dense", "multi-crop", "multi-crop & dense")
GRID = 5


def rescale(x: torch.Tensor, q: int) -> torch.Tensor:
    """Isotropic rescale so the smallest side is q. x: (B, C, H, W) float."""
    h, w = x.shape[-2:]
    size = (max(q, round(h * q / min(h, w))), max(q, round(w * q / min(h, w))))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=size[0] < h)


def grid_offsets(side: int, crop: int, n: int = GRID) -> list[int]:
    """n regularly spaced crop offsets from 0 to side - crop (both ends and the middle included)."""
    return sorted({round(i * (side - crop) / (n - 1)) for i in range(n)})


def centre_trim(x: torch.Tensor, stride: int) -> torch.Tensor:
    """The centre of x with sides cut down to multiples of `stride`. A net whose layers stride by `stride` in
    all uses only that many pixels: floor pooling drops the rest, all of it at the bottom and the right, so
    on an image of side 55 at stride 32 the net would see the top-left 32 pixels. The paper's test scales are
    multiples of 32 (nothing is cut); scaled down, they are not. x: (B, C, H, W)."""
    h, w = x.shape[-2:]
    th, tw = max(stride, h - h % stride), max(stride, w - w % stride)
    if (th, tw) == (h, w) or th > h or tw > w:
        return x
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top : top + th, left : left + tw]  # (B, C, th, tw)


def dense_posterior(dense: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Soft-max of the spatially averaged score map, averaged with the flipped image, and the score map's
    smaller side (1 means a single whole-image view, not a dense evaluation). x: (B, C, H, W), centred on
    the pixels the net uses (`centre_trim` by the dense form's `stride`)."""
    x = centre_trim(x, getattr(dense, "stride", 1))
    both = torch.cat([x, x.flip(-1)])  # (2B, C, H, W)
    scores = dense(both).float()  # (2B, K, h, w): the class score map
    p = scores.mean((2, 3)).softmax(1)  # (2B, K): spatially averaged
    return (p[: len(x)] + p[len(x) :]) / 2, min(scores.shape[-2:])


def multicrop_posterior(model: nn.Module, x: torch.Tensor, crop: int, chunk: int = 512) -> tuple[torch.Tensor, int]:
    """5x5 grid of crops x 2 flips per image, soft-max averaged, and the number of distinct views (50 unless
    the image is too small for 5 distinct offsets a side). x: (B, C, H, W) with H, W >= crop."""
    h, w = x.shape[-2:]
    views = [x[..., i : i + crop, j : j + crop] for i in grid_offsets(h, crop) for j in grid_offsets(w, crop)]
    distinct = 2 * len(views)
    views = torch.stack(views + [v.flip(-1) for v in views], 1)  # (B, V, C, crop, crop)
    views = views.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # (B*V, C, crop, crop)
    p = torch.cat([model(part).float().softmax(1) for part in views.split(chunk)])  # (B*V, K)
    return p.view(len(x), -1, p.shape[1]).mean(1), distinct


def centre_posterior(model: nn.Module, x: torch.Tensor, crop: int) -> torch.Tensor:
    """The model-zoo baseline: smallest side crop * 256/224, centre crop, one view."""
    x = rescale(x, round(crop * 256 / 224))
    h, w = x.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    view = x[..., top : top + crop, left : left + crop].contiguous(memory_format=torch.channels_last)
    return model(view).float().softmax(1)


@torch.no_grad()
def scale_posteriors(
    model: nn.Module,
    dense: nn.Module,
    x01: torch.Tensor,
    q: int,
    crop: int,
    normalise,
    methods: tuple[str, ...] = METHODS,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Dense and multi-crop posteriors at one test scale q for same-size images x01 in [0, 1]: {method: (B, K)},
    and the views behind them: {"dense_map": smaller side of the score map, "crop_views": distinct crops}."""
    xq = normalise(rescale(x01, q)).contiguous(memory_format=torch.channels_last)
    out, views = {}, {}
    if "dense" in methods or "multi-crop & dense" in methods:
        out["dense"], views["dense_map"] = dense_posterior(dense, xq)
    if "multi-crop" in methods or "multi-crop & dense" in methods:
        out["multi-crop"], views["crop_views"] = multicrop_posterior(model, xq, crop)
    return out, views


def combine(per_scale: dict[int, dict[str, torch.Tensor]], scales: list[int], methods: tuple[str, ...] = METHODS):
    """Average per-scale posteriors over `scales`; multi-crop & dense averages the two methods."""
    out = {
        m: sum(per_scale[q][m] for q in scales) / len(scales)
        for m in ("dense", "multi-crop")
        if m in per_scale[scales[0]]
    }
    if "multi-crop & dense" in methods:
        out["multi-crop & dense"] = (out["dense"] + out["multi-crop"]) / 2
    return {m: p for m, p in out.items() if m in methods}


def wrong(posterior: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image top-1 and top-5 mistakes (bool (N,) each) of posteriors (N, K)."""
    top = posterior.topk(min(5, posterior.shape[1]), 1).indices
    return (top[:, 0] != labels).numpy(), (~(top == labels[:, None]).any(1)).numpy()


def paper_scales(train_scales: tuple[int, int], crop: int) -> list[int]:
    """Sec. 3.2 multi-scale test: {S-32, S, S+32} for fixed S (32 scaled by crop/224, never below
    the crop); {Smin, (Smin+Smax)/2, Smax} for jittered S."""
    lo, hi = train_scales
    if lo != hi:
        return [lo, (lo + hi) // 2, hi]
    step = 32 * crop / 224
    return sorted({max(crop, round(lo - step)), lo, round(lo + step)})


def single_scale(train_scales: tuple[int, int]) -> list[int]:
    lo, hi = train_scales
    return [(lo + hi) // 2]
