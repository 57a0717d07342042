"""Conv2d + bias + ReLU + 2x2/2 max-pool in one Triton kernel: only the pooled map is written.

Each program computes a tile of pooled pixels: the four conv outputs of every
2x2 window (via `conv.conv_tile`), their max, then bias and ReLU (both commute
with max: relu(max(a) + b) = max(relu(a + b))). Odd H or W floor as
`nn.MaxPool2d` does: the last row/column is never computed. The kernel also
writes which of the four positions won (int8, 0..3 in row-major order, first
max on ties as torch does), so backward routes gradients without recomputing.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import needs_int64
from .conv import check_conv, configs, conv_tile, pack_weight


@triton.autotune(configs=configs(), key=["M", "C_in", "C_out", "KSIZE"])
@triton.jit
def _conv_pool_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    idx_ptr,
    M,
    H,
    W,
    HP,
    WP,
    C_in,
    C_out,
    sxn,
    sxc,
    sxh,
    sxw,
    syn,
    syc,
    syh,
    syw,
    KSIZE: tl.constexpr,
    INT64: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # pooled pixels
    if INT64:
        offs_m = offs_m.to(tl.int64)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_m = offs_m < M
    mask_n = offs_n < C_out
    n = offs_m // (HP * WP)
    ph = (offs_m // WP) % HP
    pw = offs_m % WP
    best = conv_tile(
        x_ptr,
        w_ptr,
        n,
        2 * ph,
        2 * pw,
        mask_m,
        offs_n,
        mask_n,
        H,
        W,
        C_in,
        C_out,
        sxn,
        sxc,
        sxh,
        sxw,
        KSIZE,
        1,
        KSIZE // 2,
        BLOCK_M,
        BLOCK_N,
        BLOCK_K,
    )
    arg = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int8)
    for q in tl.static_range(1, 4):
        acc = conv_tile(
            x_ptr,
            w_ptr,
            n,
            2 * ph + q // 2,
            2 * pw + q % 2,
            mask_m,
            offs_n,
            mask_n,
            H,
            W,
            C_in,
            C_out,
            sxn,
            sxc,
            sxh,
            sxw,
            KSIZE,
            1,
            KSIZE // 2,
            BLOCK_M,
            BLOCK_N,
            BLOCK_K,
        )
        win = acc > best  # strict: the first maximum wins, as in torch
        best = tl.where(win, acc, best)
        arg = tl.where(win, q, arg).to(tl.int8)
    best += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    best = tl.maximum(best, 0.0)
    where = (n * syn + ph * syh + pw * syw)[:, None] + offs_n[None, :] * syc
    mask = mask_m[:, None] & mask_n[None, :]
    tl.store(y_ptr + where, best.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(idx_ptr + where, arg, mask=mask)


def conv2d_bias_relu_pool(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, force_int64: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(max_pool2d(relu(conv2d(x, w, b, padding=k//2)), 2, 2), argmax in 0..3), both channels-last."""
    k = check_conv(x, weight, bias)
    n, _, h, w = x.shape
    if h < 2 or w < 2:
        raise ValueError(f"x: a 2x2 max-pool needs at least a 2x2 map, got {h}x{w}")
    c_in, c_out = weight.shape[1], weight.shape[0]
    hp, wp = h // 2, w // 2
    y = torch.empty((n, c_out, hp, wp), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    idx = torch.empty((n, c_out, hp, wp), device=x.device, dtype=torch.int8, memory_format=torch.channels_last)
    m = n * hp * wp

    def grid(meta):
        return triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(c_out, meta["BLOCK_N"])

    _conv_pool_kernel[grid](
        x,
        pack_weight(weight),
        bias,
        y,
        idx,
        m,
        h,
        w,
        hp,
        wp,
        c_in,
        c_out,
        *x.stride(),
        *y.stride(),
        KSIZE=k,
        INT64=force_int64 or needs_int64(x, y),
    )
    return y, idx
