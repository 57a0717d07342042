"""The paper's image transforms as batched tensor ops (Sec. 3.1 training, Sec. 3.2 single-scale test).

Training: isotropic rescale so the smallest side is S (S per image, from
[Smin, Smax]: scale jittering), a random crop, a random horizontal flip, then
AlexNet's PCA colour shift and subtraction of the training set's mean RGB.
Rescale + crop + flip of a batch is one `affine_grid` / `grid_sample` call
(bilinear, like resizing then cropping; no antialiasing, which matters only
when shrinking: folders are resized by Pillow in workers instead).
Pixels are scaled to [0, 1] before the mean is subtracted: the paper used
0..255, which differs only by a constant factor on the first layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from archspec.ir import Node


class Stats(Node):
    """Training-set colour statistics on [0, 1] pixels: mean and covariance eigen-decomposition."""

    mean: tuple[float, ...]
    eigval: tuple[float, ...] = Field(description="covariance eigenvalues (AlexNet's lambda)")
    eigvec: tuple[tuple[float, ...], ...] = Field(description="columns are eigenvectors")

    @classmethod
    def from_moments(cls, total: torch.Tensor, outer: torch.Tensor, count: int) -> Stats:
        """From per-channel pixel sums (C,), sums of outer products (C, C) and the pixel count."""
        mean = total.double() / count
        cov = outer.double() / count - torch.outer(mean, mean)
        eigval, eigvec = torch.linalg.eigh(cov)
        return cls(
            mean=tuple(mean.tolist()),
            eigval=tuple(eigval.clamp(min=0).tolist()),
            eigvec=tuple(tuple(r) for r in eigvec.tolist()),
        )

    @classmethod
    def of_images(cls, images: torch.Tensor) -> Stats:
        """From a uint8 tensor (N, C, H, W) of the whole training set."""
        c = images.shape[1]
        x = images.permute(1, 0, 2, 3).reshape(c, -1).double() / 255  # (C, pixels)
        return cls.from_moments(x.sum(1), x @ x.T, x.shape[1])


def sample_params(gen: torch.Generator, n: int, channels: int, scales: tuple[int, int], flip: bool, pca_std: float):
    """Per-image random draws for n images: S, crop position in [0, 1), flip, lighting alpha."""
    lo, hi = scales
    s = torch.randint(lo, hi + 1, (n,), generator=gen)
    pos = torch.rand(n, 2, generator=gen)  # (y, x) fraction of the free range
    flips = torch.rand(n, generator=gen) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    alpha = torch.randn(n, channels, generator=gen) * pca_std
    return s, pos, flips, alpha


def rescale_crop(x: torch.Tensor, s: torch.Tensor, pos: torch.Tensor, flips: torch.Tensor, crop: int) -> torch.Tensor:
    """Rescale each image so its smallest side is s[i], take the crop at pos[i], flip where flips[i].

    x: (N, C, H, W) float. Crop offsets are whole pixels of the rescaled image:
    floor(pos * (side - crop + 1)). Returns (N, C, crop, crop).
    """
    n, _, h, w = x.shape
    scale = s.double() / min(h, w)  # (N,)
    new_h, new_w = torch.round(h * scale), torch.round(w * scale)
    oy = torch.floor(pos[:, 0].double() * (new_h - crop + 1)).clamp(min=0)
    ox = torch.floor(pos[:, 1].double() * (new_w - crop + 1)).clamp(min=0)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = crop / (scale * w) * torch.where(flips, -1.0, 1.0)
    theta[:, 0, 2] = (crop + 2 * ox) / (scale * w) - 1
    theta[:, 1, 1] = crop / (scale * h)
    theta[:, 1, 2] = (crop + 2 * oy) / (scale * h) - 1
    grid = F.affine_grid(theta.to(x.device, torch.float32), [n, x.shape[1], crop, crop], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def centre(x: torch.Tensor, q: int, crop: int) -> torch.Tensor:
    """Single-scale test view: smallest side rescaled to q, centre crop."""
    n = x.shape[0]
    half = torch.full((n, 2), 0.5)
    return rescale_crop(x, torch.full((n,), q), half, torch.zeros(n, dtype=torch.bool), crop)


def normalise(x: torch.Tensor, stats: Stats, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """[0, 1] pixels -> AlexNet PCA colour shift (if alpha) -> minus the mean RGB. x: (N, C, h, w)."""
    mean = torch.tensor(stats.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    if alpha is not None:
        eigvec = torch.tensor(stats.eigvec, device=x.device, dtype=x.dtype)  # (C, C), columns
        eigval = torch.tensor(stats.eigval, device=x.device, dtype=x.dtype)  # (C,)
        shift = (alpha.to(x.device, x.dtype) * eigval) @ eigvec.T  # (N, C): sum_k alpha_k lambda_k p_k
        x = x + shift.view(*shift.shape, 1, 1)
    return x - mean
