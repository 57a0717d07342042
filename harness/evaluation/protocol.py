"""The paper's test protocol (Sec. 3.2, Sec. 4): dense, multi-crop, both, over test scales, and ensembles.

For each image and each test scale Q (smallest side rescaled to Q, decoded once):
- dense: the fully convolutional net (`compiler.dense`) on the whole image gives a class
  score map, spatially averaged; soft-max of the image and of its flip, averaged. Its windows cover every
  pixel at every scale (`dense_views`): where a side is not a multiple of the net's stride (floor pooling
  would drop the remainder), the net also scores the image shifted by that remainder, so that, as in the
  paper at Q = 256 (windows at offsets 0 and Q - 224), the windows reach both edges;
- multi-crop: a 5x5 regular grid of crops of the training crop size, each also flipped
  (50 views per scale), soft-max averaged;
- multi-crop & dense: the average of the two posteriors.
Posteriors are averaged over the scales; an ensemble (the paper's fusion) averages several models' posteriors.
The centre-crop baseline (smallest side 256/224 of the crop, centre crop) compares with
model-zoo figures. `wrong` gives each image's top-1 and top-5 mistakes, which errors, intervals and
paired tests are computed from.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archspec.views import DENSE_FIT, RATIO, SCALED, axis, dense_windows, grid_offsets, window_starts

METHODS = tuple(m.name for m in SCALED)  # the methods a test scale gives


def rescale(x: torch.Tensor, q: int) -> torch.Tensor:
    """Isotropic rescale so the smallest side is q. x: (B, C, H, W) float."""
    h, w = x.shape[-2:]
    size = (max(q, round(h * q / min(h, w))), max(q, round(w * q / min(h, w))))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=size[0] < h)


def dense_views(x: torch.Tensor, stride: int, fit: str = DENSE_FIT) -> list[torch.Tensor]:
    """The inputs of the dense pass, whose score-map windows together cover x. A net whose layers stride by
    `stride` in all scores windows at multiples of it, so on a side that is not a multiple floor pooling drops
    the remainder r. `shift`: the largest multiple of the stride, at offsets 0 and r on each axis (up to 4
    views; every window inside the image, as the paper's are); `pad`: one view, padded to the next multiple
    with zeros (the mean colour after mean subtraction), as the conv layers' own zero padding, split evenly.
    A side below the stride is left whole. x: (B, C, H, W)."""
    (oh, lh), (ow, lw) = (axis(n, stride, fit) for n in x.shape[-2:])
    if fit == "pad":
        ph, pw = lh - x.shape[-2], lw - x.shape[-1]
        return [F.pad(x, (-ow[0], pw + ow[0], -oh[0], ph + oh[0]))]
    return [x[..., i : i + lh, j : j + lw] for i in oh for j in ow]


def dense_posterior(dense: nn.Module, x: torch.Tensor, crop: int, fit: str = DENSE_FIT) -> tuple[torch.Tensor, dict]:
    """Soft-max of the class score map averaged over every window of `dense_views`, averaged with the flipped
    image, and {"dense_map": window positions along the smaller side (1: a single whole-image view, not a
    dense evaluation), "dense_cover": share of the image's pixels the windows cover}. A net of stride 1 uses
    every pixel (`floor_stride`): its map side is the score map's. x: (B, C, H, W)."""
    stride, step = getattr(dense, "stride", 1), getattr(dense, "window_step", None)
    if step and min(x.shape[-2:]) >= crop:  # a net scored on windows of its own size, `step` apart
        return _window_posterior(dense.model, x, crop, step, fit)
    total, cells = 0, 0
    for v in dense_views(x, stride, fit):
        scores = dense(torch.cat([v, v.flip(-1)])).float()  # (2B, K, h, w): the class score map
        total, cells = total + scores.sum((2, 3)), cells + scores.shape[-2] * scores.shape[-1]
    p = (total / cells).softmax(1)  # (2B, K): averaged over every window
    if stride == 1:
        seen = {"dense_map": min(scores.shape[-2:]), "dense_cover": 1.0}
    else:
        (mh, ch), (mw, cw) = (dense_windows(n, stride, crop, fit) for n in x.shape[-2:])
        seen = {"dense_map": min(mh, mw), "dense_cover": round(ch * cw, 4)}
    return (p[: len(x)] + p[len(x) :]) / 2, seen


def _window_posterior(model: nn.Module, x: torch.Tensor, crop: int, step: int, fit: str) -> tuple[torch.Tensor, dict]:
    """`dense_posterior` for a net without a floor chain of strides: its logits on every crop-size window at
    `window_starts` (`step` apart, the last one at the far edge), and flipped, averaged, then soft-max."""
    ih, iw = (window_starts(n, step, crop, fit) for n in x.shape[-2:])
    ch, cw = (dense_windows(n, step, crop, fit)[1] for n in x.shape[-2:])
    total = 0
    for i in ih:
        for j in iw:
            v = x[..., i : i + crop, j : j + crop].contiguous(memory_format=torch.channels_last)
            total = total + model(torch.cat([v, v.flip(-1)])).float()  # (2B, K) logits of one window
    p = (total / (len(ih) * len(iw))).softmax(1)
    return (p[: len(x)] + p[len(x) :]) / 2, {"dense_map": min(len(ih), len(iw)), "dense_cover": round(ch * cw, 4)}


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
    """The model-zoo baseline: smallest side crop x RATIO (256/224), centre crop, one view."""
    x = rescale(x, round(crop * RATIO))
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
    dense_fit: str = DENSE_FIT,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Dense and multi-crop posteriors at one test scale q for same-size images x01 in [0, 1]: {method: (B, K)},
    and the views behind them: {"dense_map": window positions along the smaller side, "dense_cover": share of
    the image the dense windows cover, "crop_views": distinct crops}."""
    xq = normalise(rescale(x01, q)).contiguous(memory_format=torch.channels_last)
    out, views = {}, {}
    if "dense" in methods or "multi-crop & dense" in methods:
        out["dense"], seen = dense_posterior(dense, xq, crop, dense_fit)
        views |= seen
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
