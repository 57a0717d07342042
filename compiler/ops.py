"""Autograd functions around the Triton kernels.

Forward runs the fused Triton kernel; backward uses torch ops: the ReLU mask
from the saved output, pool routing from the kernel's saved argmax (no
recompute), and `aten.convolution_backward` / matmuls for input, weight and
bias gradients. LRN's backward recomputes its (cheap) torch formula.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .kernels.conv import conv2d
from .kernels.conv_pool import conv2d_bias_relu_pool
from .kernels.linear import linear_bias_relu
from .kernels.lrn import local_response_norm


def _conv_backward(ctx, grad_pre: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: int = 1, pad=None):
    pad = weight.shape[-1] // 2 if pad is None else pad
    mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
    return torch.ops.aten.convolution_backward(
        grad_pre, x, weight, [weight.shape[0]], [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1, mask
    )


def _forward_bias_relu(ctx, kernel, x, weight, bias, relu: bool):
    """Run a bias(+ReLU) kernel, keeping what backward needs: inputs and the output (its ReLU mask)."""
    y = kernel(x, weight, bias, relu)
    ctx.relu = relu
    ctx.save_for_backward(x, weight, y)
    return y


def _through_relu(ctx, grad):
    """(x, weight, gradient before the ReLU) from the saved tensors."""
    x, weight, y = ctx.saved_tensors
    return x, weight, grad * (y > 0) if ctx.relu else grad


class Conv(torch.autograd.Function):
    """relu(conv2d(x, weight, bias, stride, padding) + residual), ReLU and residual optional: strided convs,
    conv + folded batch norm (+ ReLU), and a residual block's conv + batch norm + add + ReLU."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int, relu: bool, residual=None):
        y = conv2d(x, weight, bias, stride, padding, relu, residual)
        ctx.relu, ctx.stride, ctx.padding, ctx.residual = relu, stride, padding, residual is not None
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, grad = _through_relu(ctx, grad)
        dx, dw, db = _conv_backward(ctx, grad, x, weight, ctx.stride, ctx.padding)
        return dx, dw, db, None, None, None, grad if ctx.residual and ctx.needs_input_grad[6] else None


class ConvBiasReLUPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        y, idx = conv2d_bias_relu_pool(x, weight, bias)
        ctx.save_for_backward(x, weight, y, idx)
        ctx.mark_non_differentiable(idx)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y, idx = ctx.saved_tensors
        grad = grad * (y > 0)  # (N, C, Hp, Wp)
        n, c, hp, wp = grad.shape
        quads = torch.stack([torch.where(idx == q, grad, 0) for q in range(4)], dim=-1)  # (N, C, Hp, Wp, 4)
        pre = quads.view(n, c, hp, wp, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * hp, 2 * wp)
        h, w = x.shape[-2:]
        if (h, w) != (2 * hp, 2 * wp):  # floor pooling: the odd last row/column gets no gradient
            pre = F.pad(pre, (0, w - 2 * wp, 0, h - 2 * hp))
        dx, dw, db = _conv_backward(ctx, pre.contiguous(memory_format=torch.channels_last), x, weight)
        return dx, dw, db


class LinearBiasReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, relu: bool = True):
        return _forward_bias_relu(ctx, linear_bias_relu, x, weight, bias, relu)

    @staticmethod
    def backward(ctx, grad):
        x, weight, grad = _through_relu(ctx, grad)  # grad: (M, N)
        dx = grad @ weight if ctx.needs_input_grad[0] else None  # (M, K)
        dw = grad.t() @ x if ctx.needs_input_grad[1] else None  # (N, K)
        db = grad.sum(0) if ctx.needs_input_grad[2] else None
        return dx, dw, db, None


class LocalResponseNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size: int, alpha_sum: float, beta: float, k: float):
        ctx.save_for_backward(x)
        ctx.args = (size, alpha_sum, beta, k)
        return local_response_norm(x, size, alpha_sum, beta, k)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        size, alpha_sum, beta, k = ctx.args
        with torch.enable_grad():
            xr = x.detach().requires_grad_()
            y = F.local_response_norm(xr, size, alpha=alpha_sum * size, beta=beta, k=k)
            (dx,) = torch.autograd.grad(y, xr, grad)
        return dx, None, None, None, None
