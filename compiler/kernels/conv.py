"""Conv2d (stride 1, "same" padding, odd k) + bias (+ ReLU) as an implicit GEMM in Triton.

GEMM view: M = N*H*W output pixels, N_gemm = C_out, K = k*k*C_in. Activations
are read through their strides, so NCHW and channels-last both work; channels-
last makes the C_in loads contiguous. Weights are packed once per call to
(k*k*C_in, C_out), rows ordered (kh, kw, c_in). Accumulation is fp32; the
output has the input's dtype and channels-last layout.

`conv_tile` is the shared main loop: `conv_pool.py` calls it four times per
pooled pixel.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check, check_activation, interpreted, needs_int64


def configs() -> list[triton.Config]:
    if interpreted():  # every config would be run by the slow interpreter: one large tile
        return [triton.Config({"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 16}, num_warps=4)]
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
        for bm, bn, bk, w, s in [
            (128, 128, 32, 8, 3),
            (128, 64, 32, 4, 4),
            (64, 128, 32, 4, 4),
            (128, 128, 64, 8, 3),
            (64, 64, 32, 4, 4),
            (128, 32, 32, 4, 4),
            (64, 32, 16, 4, 4),
            (256, 64, 32, 8, 3),
        ]
    ]


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, k, k) -> (k*k*C_in, C_out), rows ordered (kh, kw, c_in)."""
    c_out = weight.shape[0]
    return weight.permute(2, 3, 1, 0).reshape(-1, c_out).contiguous()


@triton.jit
def conv_tile(
    x_ptr,
    w_ptr,
    n,
    oh,
    ow,
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
    KSIZE: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """fp32 [BLOCK_M, BLOCK_N] conv outputs for pixels (n, oh, ow) and channels offs_n."""
    PAD: tl.constexpr = KSIZE // 2
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    offs_k = tl.arange(0, BLOCK_K)
    for kh in tl.static_range(KSIZE):
        for kw in tl.static_range(KSIZE):
            ih = oh + (kh - PAD)
            iw = ow + (kw - PAD)
            inside = mask_m & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)  # zero padding
            base = n * sxn + ih * sxh + iw * sxw  # [BLOCK_M]
            for c0 in range(0, C_in, BLOCK_K):
                c = c0 + offs_k  # [BLOCK_K]
                a = tl.load(
                    x_ptr + base[:, None] + c[None, :] * sxc,
                    mask=inside[:, None] & (c[None, :] < C_in),
                    other=0.0,
                )  # [BLOCK_M, BLOCK_K]
                row = (kh * KSIZE + kw) * C_in + c
                b = tl.load(
                    w_ptr + row[:, None] * C_out + offs_n[None, :],
                    mask=(c[:, None] < C_in) & mask_n[None, :],
                    other=0.0,
                )  # [BLOCK_K, BLOCK_N]
                acc = tl.dot(a, b, acc)
    return acc


@triton.autotune(configs=configs(), key=["M", "C_in", "C_out", "KSIZE"])
@triton.jit
def _conv_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    M,
    H,
    W,
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
    RELU: tl.constexpr,
    INT64: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    if INT64:
        offs_m = offs_m.to(tl.int64)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_m = offs_m < M
    mask_n = offs_n < C_out
    n = offs_m // (H * W)
    oh = (offs_m // W) % H
    ow = offs_m % W
    acc = conv_tile(
        x_ptr,
        w_ptr,
        n,
        oh,
        ow,
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
        BLOCK_M,
        BLOCK_N,
        BLOCK_K,
    )
    acc += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    if RELU:
        acc = tl.maximum(acc, 0.0)
    out = y_ptr + (n * syn + oh * syh + ow * syw)[:, None] + offs_n[None, :] * syc
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])


def check_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> int:
    """Validate conv inputs; returns the kernel size."""
    check_activation(x)
    c_out, c_in, kh, kw = weight.shape
    check(kh == kw and kh % 2 == 1, f"weight: expected an odd square kernel, got {kh}x{kw}")
    check(x.shape[1] == c_in, f"x has {x.shape[1]} channels, weight expects {c_in}")
    check(bias.shape == (c_out,), f"bias: expected shape ({c_out},), got {tuple(bias.shape)}")
    check(
        weight.dtype == x.dtype == bias.dtype, f"dtypes differ: x {x.dtype}, weight {weight.dtype}, bias {bias.dtype}"
    )
    check(weight.device == x.device == bias.device, "x, weight and bias must be on one device")
    return kh


def conv2d_bias_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool = True, force_int64: bool = False
) -> torch.Tensor:
    """y = relu(conv2d(x, weight, bias, padding=k//2)); y is channels-last, x's dtype."""
    k = check_conv(x, weight, bias)
    n, _, h, w = x.shape
    c_in, c_out = weight.shape[1], weight.shape[0]
    y = torch.empty((n, c_out, h, w), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    m = n * h * w

    def grid(meta):
        return triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(c_out, meta["BLOCK_N"])

    _conv_kernel[grid](
        x,
        pack_weight(weight),
        bias,
        y,
        m,
        h,
        w,
        c_in,
        c_out,
        *x.stride(),
        *y.stride(),
        KSIZE=k,
        RELU=relu,
        INT64=force_int64 or needs_int64(x, y),
    )
    return y
