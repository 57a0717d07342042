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
model-zoo figures. Every view of a batch of images, at every scale and for every method, is queued first and
then goes through the net together, in inference mode and channels-last: one batch per view shape, cut into
passes whose activations fit a byte budget (`Views`, `view_budget`). `wrong` gives each image's top-1 and top-5
mistakes, which errors, intervals and paired tests are computed from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archspec import memory
from archspec.views import (
    BOTH,
    DENSE,
    DENSE_FIT,
    MULTI_CROP,
    RATIO,
    SCALED,
    axis,
    dense_windows,
    grid_offsets,
    method,
    window_starts,
)

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


VIEW_BYTES = 16 * 2**20  # activations a forward pass of views may hold on a CPU (`view_budget`)

Pending = Callable[[], tuple[torch.Tensor, dict]]  # a part's posterior (B, K) and its views, once `Views.run` ran


def view_budget(device: torch.device) -> int:
    """Bytes of activations (`archspec.memory.needed`: the two largest consecutive outputs) that one forward pass of
    views may hold. On a CPU, VIEW_BYTES, as measured on one AVX2 core (AMD EPYC, CPU time) with D at width 1/8 on
    64 images at Q = 37, 55, 73 (multi-crop & dense): 29 images/s at 8 and 16 MiB a pass (128 and 256 views of
    32 x 32), 26 at 32 MiB, 22 at 4 and at 64 MiB, 20 at 128 MiB, where the activations no longer stay in cache;
    and never more than a quarter of the memory available. On a GPU, a quarter of its free memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] // 4
    have = memory.available()
    return VIEW_BYTES if have is None else max(1, min(VIEW_BYTES, have // 4))


class Views:
    """The views of one batch of same-size images that the protocol scores: each method queues its views (`add`)
    as it cuts them, and `run` puts every queued view of one shape through the net as one batch, whichever scale,
    crop, window or flip it comes from, channels-last, in passes of at most `budget` bytes of activations. A
    crop-size view goes through the net itself, any other through its dense form, whose class score map on a
    crop-size view is the net's logits (`compiler.dense`): both give score maps (N, K, h, w), 1 x 1 for the net."""

    def __init__(self, model: nn.Module, dense: nn.Module | None, crop: int, budget: int = VIEW_BYTES) -> None:
        self.model, self.dense, self.crop, self.budget = model, dense, crop, budget
        self._queued: dict[tuple[int, int], list[torch.Tensor]] = {}
        self._scores: dict[tuple[int, int], torch.Tensor] = {}

    def add(self, views: list[torch.Tensor]) -> Callable[[], torch.Tensor]:
        """Queue `views`, each (B, C, H, W) of one shape; the function returned gives their score maps
        (len(views) * B, K, h, w), in the order given, once `run` has run."""
        shape = tuple(views[0].shape[-2:])
        queue = self._queued.setdefault(shape, [])
        start = sum(len(v) for v in queue)
        queue += views
        stop = start + sum(len(v) for v in views)
        return lambda: self._scores[shape][start:stop]

    def run(self) -> None:
        for shape, queue in self._queued.items():
            net = self._net if shape == (self.crop, self.crop) else self.dense
            x = torch.cat(queue).contiguous(memory_format=torch.channels_last)  # (N, C, H, W): the shape's views
            self._scores[shape] = torch.cat([net(part).float() for part in x.split(self.per_pass(shape))])
        self._queued = {}

    def per_pass(self, shape: tuple[int, int]) -> int:
        """How many views of `shape` one forward pass takes: as many as `budget` holds, at least one."""
        stats = self.model.stats
        at_crop = memory.needed(stats, 1) - memory.needed(stats, 0)  # bytes of a crop-size view's activations
        return max(1, int(self.budget // (at_crop * shape[0] * shape[1] / self.crop**2)))

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[..., None, None]  # (N, K, 1, 1): the logits as a 1 x 1 score map


@torch.inference_mode()
def image_posteriors(
    model: nn.Module,
    dense: nn.Module,
    x01: torch.Tensor,
    scales: list[int],
    crop: int,
    normalise,
    methods: tuple[str, ...] = METHODS,
    dense_fit: str = DENSE_FIT,
    centre: bool = False,
    budget: int = VIEW_BYTES,
) -> Posteriors:
    """Dense and multi-crop posteriors at every test scale in `scales` for same-size images x01 (B, C, H, W) in
    [0, 1], and the centre crop's if `centre`: every view of the batch through the net together (`Views`)."""
    views = Views(model, dense, crop, budget)
    parts = {part for name in methods for part in method(name).parts}
    pending: dict[int, dict[str, Pending]] = {}
    for q in scales:
        xq = normalise(rescale(x01, q)).contiguous(memory_format=torch.channels_last)  # (B, C, H, W) at Q
        pending[q] = {}
        if DENSE.name in parts:
            pending[q][DENSE.name] = _dense(views, xq, crop, dense_fit)
        if MULTI_CROP.name in parts:
            pending[q][MULTI_CROP.name] = _crops(views, xq, crop)
    middle = _centre(views, normalise(x01), crop) if centre else None
    views.run()
    out = Posteriors({}, {}, middle()[0] if middle else None)
    for q, mine in pending.items():
        out.scales[q], out.views[q] = {}, {}
        for part, posterior in mine.items():
            out.scales[q][part], seen = posterior()
            out.views[q] |= seen
    return out


@dataclass
class Posteriors:
    """One batch of images' posteriors: {Q: {"dense" | "multi-crop": (B, K)}} at each test scale, the views behind
    them ({Q: {"dense_map": window positions along the smaller side, "dense_cover": share of the image the dense
    windows cover, "crop_views": distinct crops}}), and the centre crop's (B, K) where asked for."""

    scales: dict[int, dict[str, torch.Tensor]]
    views: dict[int, dict[str, float]]
    centre: torch.Tensor | None


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
    """`image_posteriors` at the one test scale q: {part: (B, K)} and the views behind them."""
    out = image_posteriors(model, dense, x01, [q], crop, normalise, methods, dense_fit)
    return out.scales[q], out.views[q]


@torch.inference_mode()
def centre_posterior(model: nn.Module, x: torch.Tensor, crop: int) -> torch.Tensor:
    """The model-zoo baseline alone (`image_posteriors` with `centre` gives it with the other views)."""
    views = Views(model, None, crop)
    posterior = _centre(views, x, crop)
    views.run()
    return posterior()[0]


def _dense(views: Views, x: torch.Tensor, crop: int, fit: str) -> Pending:
    """Queue the dense pass of images x (B, C, H, W): soft-max of the class score map averaged over every window of
    `dense_views`, averaged with the flipped image; its views: {"dense_map": window positions along the smaller
    side (1: a single whole-image view, not a dense evaluation), "dense_cover": share of the image's pixels the
    windows cover}. A net of stride 1 uses every pixel (`floor_stride`): its map side is the score map's."""
    stride, step = getattr(views.dense, "stride", 1), getattr(views.dense, "window_step", None)
    if step and min(x.shape[-2:]) >= crop:  # a net scored on windows of its own size, `step` apart
        return _windows(views, x, crop, step, fit)
    parts = dense_views(x, stride, fit)  # V x (B, C, h, w)
    scores = views.add(parts + [v.flip(-1) for v in parts])

    def posterior() -> tuple[torch.Tensor, dict]:
        maps = scores()  # (2 V B, K, h, w): the class score maps of the views, then of their flips
        total = maps.sum((2, 3)).unflatten(0, (2, len(parts), len(x))).sum(1)  # (2, B, K)
        p = (total / (len(parts) * maps.shape[-2] * maps.shape[-1])).softmax(-1)  # (2, B, K): over every window
        if stride == 1:
            return p.mean(0), {"dense_map": min(maps.shape[-2:]), "dense_cover": 1.0}
        (mh, ch), (mw, cw) = (dense_windows(n, stride, crop, fit) for n in x.shape[-2:])
        return p.mean(0), {"dense_map": min(mh, mw), "dense_cover": round(ch * cw, 4)}

    return posterior


def _windows(views: Views, x: torch.Tensor, crop: int, step: int, fit: str) -> Pending:
    """`_dense` for a net without a floor chain of strides: its logits on every crop-size window at
    `window_starts` (`step` apart within each of `dense_views`, the last one at the far edge, or in the padding),
    and flipped, averaged, then soft-max."""
    ih, iw = (window_starts(n, step, crop, fit) for n in x.shape[-2:])
    ch, cw = (dense_windows(n, step, crop, fit)[1] for n in x.shape[-2:])
    parts = [  # V x (B, C, crop, crop)
        v[..., i : i + crop, j : j + crop]
        for v in dense_views(x, step, fit)
        for i in range(0, v.shape[-2] - crop + 1, step)
        for j in range(0, v.shape[-1] - crop + 1, step)
    ]
    scores = views.add(parts + [v.flip(-1) for v in parts])
    seen = {"dense_map": min(len(ih), len(iw)), "dense_cover": round(ch * cw, 4)}

    def posterior() -> tuple[torch.Tensor, dict]:
        logits = scores().flatten(1).unflatten(0, (2, len(parts), len(x))).mean(1)  # (2, B, K): over the windows
        return logits.softmax(-1).mean(0), seen

    return posterior


def _crops(views: Views, x: torch.Tensor, crop: int) -> Pending:
    """Queue the 5x5 grid of crops x 2 flips of images x (B, C, H, W), H, W >= crop: soft-max averaged over the
    views; its views: {"crop_views": distinct views (50 unless the image is too small for 5 distinct offsets a
    side)}."""
    h, w = x.shape[-2:]
    parts = [x[..., i : i + crop, j : j + crop] for i in grid_offsets(h, crop) for j in grid_offsets(w, crop)]
    scores = views.add(parts + [v.flip(-1) for v in parts])

    def posterior() -> tuple[torch.Tensor, dict]:
        p = scores().flatten(1).softmax(1)  # (2 V B, K)
        return p.unflatten(0, (2 * len(parts), len(x))).mean(0), {"crop_views": 2 * len(parts)}

    return posterior


def _centre(views: Views, x: torch.Tensor, crop: int) -> Pending:
    """Queue the model-zoo baseline: smallest side crop x RATIO (256/224), centre crop, one view."""
    x = rescale(x, round(crop * RATIO))
    h, w = x.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    scores = views.add([x[..., top : top + crop, left : left + crop]])
    return lambda: (scores().flatten(1).softmax(1), {})


def combine(per_scale: dict[int, dict[str, torch.Tensor]], scales: list[int], methods: tuple[str, ...] = METHODS):
    """Average per-scale posteriors over `scales`; multi-crop & dense averages the two methods."""
    out = {
        m: sum(per_scale[q][m] for q in scales) / len(scales)
        for m in (DENSE.name, MULTI_CROP.name)
        if m in per_scale[scales[0]]
    }
    if BOTH.name in methods:
        out[BOTH.name] = sum(out[part] for part in BOTH.parts) / len(BOTH.parts)
    return {m: p for m, p in out.items() if m in methods}


def wrong(posterior: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image top-1 and top-5 mistakes (bool (N,) each) of posteriors (N, K)."""
    top = posterior.topk(min(5, posterior.shape[1]), 1).indices
    return (top[:, 0] != labels).numpy(), (~(top == labels[:, None]).any(1)).numpy()
