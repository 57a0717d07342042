"""2x2 max-unpool for the backward of the fused conv + ReLU + pool, in one pass.

Each full-resolution element takes its window's pooled gradient if it is the
position the forward kernel chose (`idx`, 0..3 row-major) and the pooled output
passed the ReLU (y > 0), else zero; the odd last row/column of a floor-pooled map
gets zero. One program writes BLOCK contiguous elements of the channels-last
output, so no zero fill, mask, permute or pad pass is needed around it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check, check_activation, needs_int64


@triton.jit(do_not_specialize=["TOTAL", "H", "W", "HP", "WP"])
def _unpool_kernel(
    g_ptr,
    y_ptr,
    idx_ptr,
    out_ptr,
    TOTAL,
    C,
    H,
    W,
    HP,
    WP,
    sgn,
    sgc,
    sgh,
    sgw,
    syn,
    syc,
    syh,
    syw,
    INT64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if INT64:
        offs = offs.to(tl.int64)
    c = offs % C  # channels-last: channels fastest
    w = (offs // C) % W
    h = (offs // (C * W)) % H
    n = offs // (C * W * H)
    inside = (offs < TOTAL) & (h < 2 * HP) & (w < 2 * WP)
    ph, pw = h // 2, w // 2
    pooled = n * syn + c * syc + ph * syh + pw * syw  # y and idx share their layout
    chosen = tl.load(idx_ptr + pooled, mask=inside, other=-1) == ((h % 2) * 2 + w % 2)
    alive = tl.load(y_ptr + pooled, mask=inside, other=0.0) > 0
    g = tl.load(g_ptr + n * sgn + c * sgc + ph * sgh + pw * sgw, mask=inside & chosen & alive, other=0.0)
    tl.store(out_ptr + offs, g, mask=offs < TOTAL)


def max_unpool(grad: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The (N, C, H, W) gradient before conv_bias_relu_pool's ReLU + pool, channels-last, from the pooled
    gradient `grad`, the pooled output `y` and the argmax `idx` (both as the forward returned them)."""
    check_activation(grad, "grad")
    check(grad.shape == y.shape == idx.shape, "grad, y and idx: expected one shape")
    check(y.stride() == idx.stride() and idx.dtype == torch.int8, "y and idx: expected the forward's outputs")
    n, c, hp, wp = grad.shape
    h, w = size
    check(h // 2 == hp and w // 2 == wp, f"size {h}x{w} does not pool to {hp}x{wp}")
    out = torch.empty((n, c, h, w), device=grad.device, dtype=grad.dtype, memory_format=torch.channels_last)
    total, block = out.numel(), 1024
    _unpool_kernel[(triton.cdiv(total, block),)](
        grad,
        y,
        idx,
        out,
        total,
        c,
        h,
        w,
        hp,
        wp,
        *grad.stride(),
        *y.stride(),
        INT64=needs_int64(out, grad, y),
        BLOCK=block,
    )
    return out
