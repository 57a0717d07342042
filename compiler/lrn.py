"""Cross-channel LRN (the `LRN` kind's module) as a channel-window sum torch runs fast.

`torch.nn.LocalResponseNorm` sums x^2 over each channel's window with a 3-D average pool on a padded 5-D view and
raises the result to -beta with `pow`, which torch does not vectorise on a CPU; its backward does both again. A-LRN
at width 1/8 trained at 840 images/s there against A's 1,446, its one LRN layer costing more than the rest of the
net (issue 35). Here the window sum is a product with a band matrix over the channels (a 1-D convolution over
channels, C MACs an element: less than a ninth of a 3x3 convolution's on the same channels) in the input's own
memory format; d^-beta is exp(-beta log d), or d^-1/2 d^-1/4 for AlexNet's beta = 0.75, all vectorised; and the
backward is written out, reusing the forward's d^-beta: one more window sum and a few elementwise products.

Same arguments, numbers and (no) state as `nn.LocalResponseNorm`: b_c = a_c / (k + alpha / size * S_c)^beta, S_c the
sum of a_j^2 over channels j = c - size // 2 ... c + (size - 1) // 2 (zeros beyond the edges). Equal to it within 1e-6
in fp32, forward and gradients (tests/compiler/test_lrn.py); `benchmarks/test_bench_lrn.py` times both in a step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


class LocalResponseNorm(nn.LocalResponseNorm):
    """`nn.LocalResponseNorm` (same arguments, no state) on (N, C, H, W) maps, computed by `local_response_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting():
            return super().forward(x)  # the same function in torch's own ops, which .pt2 and ONNX (its LRN) write
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)


def local_response_norm(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """`F.local_response_norm(x, size, alpha, beta, k)` (alpha divided by size) on (N, C, H, W). Under autocast it
    runs in fp32, a normalisation's sums kept exact (torch's too gives fp32 there: its pool is on autocast's fp32
    list)."""
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return _LRN.apply(x.float(), size, alpha / size, beta, k)
    return _LRN.apply(x, size, alpha / size, beta, k)


class _LRN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, size: int, a: float, beta: float, k: float) -> torch.Tensor:
        c = x.shape[1]
        weight = torch.full((c, c), a, dtype=x.dtype, device=x.device).triu_(-(size // 2)).tril_((size - 1) // 2)
        d = _window_sum(x * x, weight, torch.full((c,), k, dtype=x.dtype, device=x.device))  # (N, C, H, W): k + a S
        p = _inverse_power(d, beta)  # (N, C, H, W): d^-beta
        y = x * p  # (N, C, H, W)
        if ctx.needs_input_grad[0]:  # evaluation (no_grad, inference_mode) skips a pass over the map
            ctx.save_for_backward(x, p, y / d, weight)  # y / d: x d^(-beta - 1)
            ctx.beta = beta
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        # dx_i = g_i d_i^-beta - 2 beta x_i sum_c weight[c, i] g_c x_c d_c^(-beta - 1), weight = a on the band
        x, p, y_over_d, weight = ctx.saved_tensors
        with torch.autocast(grad.device.type, enabled=False):  # in the forward's precision, even under autocast
            held = _window_sum(grad * y_over_d, weight.T)  # (N, C, H, W)
            return (grad * p).addcmul_(x, held, value=-2 * ctx.beta), None, None, None, None


def _inverse_power(d: torch.Tensor, beta: float) -> torch.Tensor:
    """d^-beta as exp(-beta log d), both vectorised (torch's pow with a float exponent is not, on a CPU); AlexNet's
    beta = 0.75 as d^-1/2 (d^-1/2)^1/2, cheaper still."""
    if beta == 0.75:
        root = d.rsqrt()  # d^-1/2
        return root.mul_(root.sqrt())
    return d.log().mul_(-beta).exp_()


def _window_sum(t: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """bias[c] + sum_j weight[c, j] t[:, j] for every channel c, in t's memory format: a 1x1 convolution in
    channels-last memory (oneDNN's fast path there), a batched matrix product in NCHW (where that is not)."""
    if t.is_contiguous(memory_format=torch.channels_last):
        return F.conv2d(t, weight[:, :, None, None], bias)  # (N, C, H, W) in channels-last memory
    n, c, h, w = t.shape
    s = weight @ t.reshape(n, c, h * w)  # (N, C, H * W)
    return (s if bias is None else s.add_(bias[:, None])).view(n, c, h, w)
