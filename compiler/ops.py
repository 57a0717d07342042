"""Autograd functions around the Triton kernels, and the launchers' cached weights.

Forward runs the fused Triton kernel; backward uses torch ops: the ReLU mask
from the saved output, pool routing from the kernel's saved argmax by the
unpool kernel (no recompute), and `aten.convolution_backward` / matmuls for
input, weight and bias gradients. LRN's backward recomputes its (cheap) torch
formula.

`conv_weights` gives a conv's weight and bias in the compute dtype, with an
eval-mode batch norm folded in, and the weight packed for the kernel; they are
computed once per state of the parameters (their version counters), not on every
call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .kernels.conv import conv2d, pack_weight
from .kernels.conv_pool import conv2d_bias_relu_pool
from .kernels.linear import linear_bias_relu
from .kernels.lrn import local_response_norm
from .kernels.unpool import max_unpool

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> (key, value)


def cached(owner: nn.Module, tensors: list[torch.Tensor], dtype: torch.dtype, make: Callable):
    """`make()`, remembered for `owner` until one of `tensors` changes in place (its version counter: an
    optimizer step, `load_state_dict`) or is replaced (`.to()`), or `dtype` changes."""
    key = (dtype, *((id(t), t._version, t.data_ptr()) for t in tensors))
    hit = _CACHE.get(owner)
    if hit is None or hit[0] != key:
        hit = _CACHE[owner] = (key, make())
    return hit[1]


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) in `dtype`, with eval-mode batch norm folded in when `bn` is given."""
    bias = conv.bias if conv.bias is not None else torch.zeros_like(conv.weight[:, 0, 0, 0])
    if bn is None:
        return conv.weight.to(dtype), bias.to(dtype)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    weight = conv.weight * scale[:, None, None, None]  # (C_out, C_in, k, k)
    return weight.to(dtype), ((bias - bn.running_mean) * scale + bn.bias).to(dtype)


def conv_weights(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """(weight, bias, packed weight) for `Conv` / `ConvBiasReLUPool`, batch norm folded in when given. All
    three are cached while the parameters are unchanged; when autograd records, weight and bias are
    recomputed so that they carry the gradient to the parameters."""
    tensors = [t for t in (conv.weight, conv.bias) if t is not None]
    if bn is not None:
        tensors += [bn.weight, bn.bias, bn.running_mean, bn.running_var]

    def make():
        with torch.no_grad():
            weight, bias = _folded(conv, bn, dtype)
            return weight, bias, pack_weight(weight)

    weight, bias, packed = cached(conv, tensors, dtype, make)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        weight, bias = _folded(conv, bn, dtype)
    return weight, bias, packed


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
    def forward(ctx, x, weight, bias, stride: int, padding: int, relu: bool, residual=None, packed=None):
        y = conv2d(x, weight, bias, stride, padding, relu, residual, packed=packed)
        ctx.relu, ctx.stride, ctx.padding, ctx.residual = relu, stride, padding, residual is not None
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, grad = _through_relu(ctx, grad)
        dx, dw, db = _conv_backward(ctx, grad, x, weight, ctx.stride, ctx.padding)
        return dx, dw, db, None, None, None, grad if ctx.residual and ctx.needs_input_grad[6] else None, None


class ConvBiasReLUPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, packed=None):
        y, idx = conv2d_bias_relu_pool(x, weight, bias, packed=packed)
        ctx.save_for_backward(x, weight, y, idx)
        ctx.mark_non_differentiable(idx)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y, idx = ctx.saved_tensors
        pre = max_unpool(grad, y, idx, x.shape[-2:])  # (N, C, H, W): through the pool and the ReLU
        dx, dw, db = _conv_backward(ctx, pre, x, weight)
        return dx, dw, db, None


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
