"""Cross-channel local response normalisation (Krizhevsky et al. 2012) in Triton.

y_c = x_c / (k + alpha * sum_{j in window(c)} x_j^2) ** beta, with `alpha`
already in the "sum" convention (no division by `size`; pass torch's alpha
times size). The window is torch's: channels c - size//2 .. c + (size-1)//2.
One program normalises BLOCK_P pixels across all channels; channels-last input
makes each pixel's channels contiguous.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check_activation, needs_int64


@triton.jit
def _lrn_kernel(
    x_ptr,
    y_ptr,
    P,
    HW,
    W,
    C,
    sxn,
    sxc,
    sxh,
    sxw,
    syn,
    syc,
    syh,
    syw,
    alpha,
    beta,
    k,
    SIZE: tl.constexpr,
    INT64: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    if INT64:
        offs_p = offs_p.to(tl.int64)
    offs_c = tl.arange(0, BLOCK_C)
    mask_p = offs_p < P
    n = offs_p // HW
    h = (offs_p // W) % (HW // W)
    w = offs_p % W
    base = n * sxn + h * sxh + w * sxw  # [BLOCK_P]
    mask = mask_p[:, None] & (offs_c[None, :] < C)
    x = tl.load(x_ptr + base[:, None] + offs_c[None, :] * sxc, mask=mask, other=0.0).to(tl.float32)
    sq = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for d in tl.static_range(SIZE):
        c = offs_c + (d - SIZE // 2)
        v = tl.load(
            x_ptr + base[:, None] + c[None, :] * sxc,
            mask=mask_p[:, None] & (c[None, :] >= 0) & (c[None, :] < C),
            other=0.0,
        ).to(tl.float32)
        sq += v * v
    y = x * tl.exp2(-beta * tl.log2(k + alpha * sq))
    out = y_ptr + (n * syn + h * syh + w * syw)[:, None] + offs_c[None, :] * syc
    tl.store(out, y.to(y_ptr.dtype.element_ty), mask=mask)


def local_response_norm(x: torch.Tensor, size: int, alpha_sum: float, beta: float, k: float) -> torch.Tensor:
    """LRN over channels with AlexNet's (sum) alpha; output channels-last."""
    check_activation(x)
    n, c, h, w = x.shape
    y = torch.empty_like(x, memory_format=torch.channels_last)
    p = n * h * w
    block_c = triton.next_power_of_2(c)
    block_p = max(1, min(64, 4096 // block_c))
    _lrn_kernel[(triton.cdiv(p, block_p),)](
        x,
        y,
        p,
        h * w,
        w,
        c,
        *x.stride(),
        *y.stride(),
        alpha_sum,
        beta,
        k,
        SIZE=size,
        INT64=needs_int64(x, y),
        BLOCK_P=block_p,
        BLOCK_C=block_c,
    )
    return y
