"""Batch norm whose training pass stays fast on narrow channels-last maps.

torch 2.13.0+cpu's batch norm over a channels-last map vectorises across the channels, so a map of fewer channels
than a vector holds runs almost scalar: a training step's batch norm over 64 x 4 x 32 x 32 took 2-3 ms forward
and backward on an AMD EPYC core, fp32 and bf16 alike, against about 0.4 ms for the same map in NCHW memory, and
copying the map to NCHW and back costs as much as it saves. The ResNet paper's CIFAR nets at a quarter of their
width have 4 channels on 32 x 32 maps in their first stage: a quarter of a training step was batch norm there.

So here such a map is read as a matrix whose rows hold the channels of k neighbouring pixels, about WIDE
elements a row (a view: the same memory), and each sum and each per-channel scale runs along those wide rows:
the column sums fold k times into the C channel sums, and a scale repeats k times along a row. The arithmetic is
batch norm's own in fp32 (the mean first, then the variance about it), so it equals nn.BatchNorm2d to rounding
(tests/compiler/test_batchnorm.py); `benchmarks/test_bench_batchnorm.py` states its speed against torch's. Small
maps keep torch's path, which is faster there: this one's dozen small per-channel operations cost more than the
map's passes.
"""

from __future__ import annotations

import torch
from torch import nn

WIDE = 256  # elements a row of the matrix view holds, at most
NARROW = 8  # channels below which a map takes this path: fewer than an AVX2 vector of fp32 holds
LARGE = 65_536  # elements a map needs (64 x 4 x 16 x 16) for this path to beat torch's (measured on an AMD EPYC)


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d (the same parameters, buffers and checkpoints); in training on a CPU, a large map of fewer
    than NARROW channels goes through `_BatchNorm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.device.type == "cpu" and x.dim() == 4 and x.shape[1] < NARROW and x.numel() >= LARGE:
            return self.train_forward(x)
        return super().forward(x)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise by the batch's statistics and update the running ones as nn.BatchNorm2d does."""
        self._check_input_dim(x)
        y, mean, var = _BatchNorm.apply(x, self.weight, self.bias, self.eps)
        self.track(mean, var)
        return y

    def track(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """One training batch's statistics into the running ones, as nn.BatchNorm2d does."""
        if not self.track_running_stats:
            return
        self.num_batches_tracked.add_(1)
        momentum = self.momentum
        if momentum is None:  # a cumulative average
            momentum = 1.0 / self.num_batches_tracked.item()
        with torch.no_grad():
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
            self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), momentum)


def _rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(N, C, H, W) in channels-last memory as a (N H W / k, k C) matrix, the same memory, k a power of two."""
    n, c, h, w = x.shape
    pixels, k = n * h * w, 1
    while 2 * k * c <= WIDE and pixels % (2 * k) == 0:
        k *= 2
    return x.permute(0, 2, 3, 1).reshape(pixels // k, k * c), k  # (NHW/k, kC)


def _sums(rows: torch.Tensor, k: int) -> torch.Tensor:
    return rows.sum(0, dtype=torch.float32).view(k, -1).sum(0)  # (NHW/k, kC) -> (C,): each channel's sum


def _image(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).permute(0, 3, 1, 2)  # (N, C, H, W), channels-last memory


class _BatchNorm(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over each channel of the batch, in fp32 (the mean first,
    then the variance about it: two passes, as exact as torch's); backward as torch's batch norm: d bias = sum dy,
    d weight = sum dy x_hat, dx = weight invstd (dy - mean dy - x_hat mean(dy x_hat))."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        x = x.contiguous(memory_format=torch.channels_last)  # (N, C, H, W)
        rows, k = _rows(x)  # (NHW/k, kC)
        n = rows.numel() // x.shape[1]
        rows = rows.float()  # mixed bf16-fp32 arithmetic takes a slow path: one conversion first
        mean = _sums(rows, k) / n  # (C,)
        centred = rows - mean.repeat(k)  # (NHW/k, kC)
        var = _sums(centred.square(), k) / n  # biased: what normalises
        invstd = (var + eps).rsqrt()
        scale = invstd * weight if weight is not None else invstd
        y = torch.addcmul(bias.repeat(k), centred, scale.repeat(k)) if bias is not None else centred * scale.repeat(k)
        ctx.save_for_backward(centred, weight, invstd)
        ctx.shape, ctx.k, ctx.n = x.shape, k, n
        unbiased = var * (n / max(n - 1, 1))  # what the running variance tracks, as nn.BatchNorm2d
        ctx.mark_non_differentiable(mean, unbiased)
        out = torch.empty_like(x)  # (N, C, H, W), channels-last: a tensor of its own (in-place ReLU follows)
        _rows(out)[0].copy_(y)
        return out, mean, unbiased

    @staticmethod
    def backward(ctx, dy, _mean, _var):
        centred, weight, invstd = ctx.saved_tensors
        k, n = ctx.k, ctx.n
        dyf = _rows(dy.contiguous(memory_format=torch.channels_last))[0].float()  # (NHW/k, kC)
        grad_bias = _sums(dyf, k)
        grad_weight = _sums(dyf * centred, k) * invstd  # sum dy x_hat
        scale = invstd * weight if weight is not None else invstd
        # dx = scale dy - scale mean(dy) - centred scale invstd mean(dy x_hat): two passes over the map
        grad_x = torch.addcmul((-scale * grad_bias / n).repeat(k), dyf, scale.repeat(k))
        grad_x.addcmul_(centred, (-scale * invstd * grad_weight / n).repeat(k))  # fp32
        grad_x = _image(grad_x.to(dy.dtype), ctx.shape)
        if weight is None:
            return grad_x, None, None, None
        return grad_x, grad_weight.to(weight.dtype), grad_bias.to(weight.dtype), None
