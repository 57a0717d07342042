"""Conv2d + bias + ReLU + 2x2/2 max-pool as one GEMM in Triton: only the pooled map is written.

The M tile holds BLOCK_M/4 pooled pixels as four row blocks, one per position
of the 2x2 window (row-major: block q holds the conv outputs at (2ph + q//2,
2pw + q%2)). One K loop (`conv.conv_acc`) computes all four; the epilogue
reshapes the accumulator to (4, BLOCK_M/4, BLOCK_N), splits the four blocks and
scans them as torch's max-pool does (`v > max || isnan(v)`): the first maximum
wins ties and NaN propagates. (`tl.max` with indices would drop a NaN depending
on its reduction order, and a custom `tl.reduce` runs element by element in the
interpreter.) Then bias and ReLU (both commute with max:
relu(max(a) + b) = max(relu(a + b))). Odd H or W floor as `nn.MaxPool2d` does:
the last row/column is never computed. The kernel also writes which of the four
positions won (int8, 0..3), so backward routes gradients without recomputing.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check, gemm
from .conv import CONFIGS, INTERPRETER, check_conv, conv_acc, conv_flags, packed_weight, pixels, prune


@triton.jit
def _scan(best, arg, value, q: tl.constexpr):
    """One step of torch's max-pool scan in window order: a larger value or a NaN takes over, so ties keep
    the earlier position and a NaN propagates."""
    take = (value > best) | (value != value)
    return tl.where(take, value, best), tl.where(take, q, arg).to(tl.int8)


@gemm.tune(CONFIGS, INTERPRETER, key=["C_in", "C_out", "KSIZE"], pruner=prune)
@triton.jit(do_not_specialize=["M", "M_BUCKET", "H", "W", "HP", "WP"])
def _conv_pool_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    idx_ptr,
    M,
    M_BUCKET,
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
    FLAT: tl.constexpr,
    INT64: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    PIXELS: tl.constexpr = BLOCK_M // 4  # pooled pixels per tile
    pid_m, pid_n = gemm.tile(tl.program_id(0), M, C_out, PIXELS, BLOCK_N, GROUP_M)
    rows = tl.arange(0, BLOCK_M)
    q = rows // PIXELS  # [BLOCK_M] window position of the row
    offs_p, n, ph, pw = pixels(pid_m * PIXELS + rows % PIXELS, HP, WP, INT64)  # [BLOCK_M] the row's pooled pixel
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_n = offs_n < C_out
    acc = conv_acc(
        x_ptr,
        w_ptr,
        n,
        2 * ph + q // 2,
        2 * pw + q % 2,
        offs_p < M,
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
        FLAT,
        PRECISION,
        BLOCK_M,
        BLOCK_N,
        BLOCK_K,
    )
    # the four row blocks: (4, PIXELS, BLOCK_N) -> (PIXELS, BLOCK_N, q // 2, q % 2), split twice
    window = tl.reshape(tl.permute(tl.reshape(acc, (4, PIXELS, BLOCK_N)), (1, 2, 0)), (PIXELS, BLOCK_N, 2, 2))
    left, right = tl.split(window)  # q % 2 = 0, 1
    top_left, bottom_left = tl.split(left)
    top_right, bottom_right = tl.split(right)
    best, arg = _scan(top_left, tl.zeros((PIXELS, BLOCK_N), dtype=tl.int8), top_right, 1)
    best, arg = _scan(best, arg, bottom_left, 2)
    best, arg = _scan(best, arg, bottom_right, 3)  # [PIXELS, BLOCK_N]
    best = gemm.relu(best + tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :])
    offs_p, n, ph, pw = pixels(pid_m * PIXELS + tl.arange(0, PIXELS), HP, WP, INT64)
    where = (n * syn + ph * syh + pw * syw)[:, None] + offs_n[None, :] * syc
    mask = (offs_p < M)[:, None] & mask_n[None, :]
    tl.store(y_ptr + where, best.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(idx_ptr + where, arg, mask=mask)


def conv2d_bias_relu_pool(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    force_int64: bool = False,
    packed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(max_pool2d(relu(conv2d(x, w, b, padding=k//2)), 2, 2), argmax in 0..3), both channels-last;
    `packed`: `pack_weight(weight)` if the caller keeps it."""
    k = check_conv(x, weight, bias)
    n, _, h, w = x.shape
    check(h >= 2 and w >= 2, f"x: a 2x2 max-pool needs at least a 2x2 map, got {h}x{w}")
    c_in, c_out = weight.shape[1], weight.shape[0]
    hp, wp = h // 2, w // 2
    y = torch.empty((n, c_out, hp, wp), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    idx = torch.empty((n, c_out, hp, wp), device=x.device, dtype=torch.int8, memory_format=torch.channels_last)
    m = n * hp * wp

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"] // 4) * triton.cdiv(c_out, meta["BLOCK_N"]),)

    _conv_pool_kernel[grid](
        x,
        packed_weight(weight, packed),
        bias,
        y,
        idx,
        m,
        gemm.m_bucket(m),
        h,
        w,
        hp,
        wp,
        c_in,
        c_out,
        *x.stride(),
        *y.stride(),
        KSIZE=k,
        **conv_flags(x, c_in, y, force_int64=force_int64),
    )
    return y, idx
