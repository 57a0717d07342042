"""Conv2d (any stride and zero padding, square k) + bias (+ residual) (+ ReLU) as an implicit GEMM in Triton.

GEMM view: M = N*OH*OW output pixels, N_gemm = C_out, K = k*k*C_in. Activations
are read through their strides, so NCHW and channels-last both work; channels-
last makes the C_in loads contiguous. Weights are packed once per call to
(k*k*C_in, C_out), rows ordered (kh, kw, c_in). Accumulation is fp32; the
output has the input's dtype and channels-last layout. The epilogue adds the
bias, then optionally a residual tensor of the output's shape (a ResNet block's
shortcut), then optionally applies ReLU: conv + folded batch norm + add + ReLU is
one launch.

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
    STRIDE: tl.constexpr,
    PAD: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """fp32 [BLOCK_M, BLOCK_N] conv outputs for output pixels (n, oh, ow) and channels offs_n."""
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    offs_k = tl.arange(0, BLOCK_K)
    for kh in tl.static_range(KSIZE):
        for kw in tl.static_range(KSIZE):
            ih = oh * STRIDE + (kh - PAD)
            iw = ow * STRIDE + (kw - PAD)
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


@triton.autotune(configs=configs(), key=["M", "C_in", "C_out", "KSIZE", "STRIDE"])
@triton.jit
def _conv_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    r_ptr,
    y_ptr,
    M,
    H,
    W,
    OH,
    OW,
    C_in,
    C_out,
    sxn,
    sxc,
    sxh,
    sxw,
    srn,
    src,
    srh,
    srw,
    syn,
    syc,
    syh,
    syw,
    KSIZE: tl.constexpr,
    STRIDE: tl.constexpr,
    PAD: tl.constexpr,
    RESIDUAL: tl.constexpr,
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
    n = offs_m // (OH * OW)
    oh = (offs_m // OW) % OH
    ow = offs_m % OW
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
        STRIDE,
        PAD,
        BLOCK_M,
        BLOCK_N,
        BLOCK_K,
    )
    acc += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    mask = mask_m[:, None] & mask_n[None, :]
    if RESIDUAL:
        res = r_ptr + (n * srn + oh * srh + ow * srw)[:, None] + offs_n[None, :] * src
        acc += tl.load(res, mask=mask, other=0.0).to(tl.float32)
    if RELU:
        acc = tl.maximum(acc, 0.0)
    out = y_ptr + (n * syn + oh * syh + ow * syw)[:, None] + offs_n[None, :] * syc
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=mask)


def check_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, same: bool = True) -> int:
    """Validate conv inputs; returns the kernel size. `same`: 'same' padding, which needs an odd kernel."""
    check_activation(x)
    c_out, c_in, kh, kw = weight.shape
    check(kh == kw and (kh % 2 == 1 or not same), f"weight: expected an odd square kernel, got {kh}x{kw}")
    check(x.shape[1] == c_in, f"x has {x.shape[1]} channels, weight expects {c_in}")
    check(bias.shape == (c_out,), f"bias: expected shape ({c_out},), got {tuple(bias.shape)}")
    check(
        weight.dtype == x.dtype == bias.dtype, f"dtypes differ: x {x.dtype}, weight {weight.dtype}, bias {bias.dtype}"
    )
    check(weight.device == x.device == bias.device, "x, weight and bias must be on one device")
    return kh


def out_side(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    stride: int = 1,
    padding: int | None = None,
    relu: bool = True,
    residual: torch.Tensor | None = None,
    force_int64: bool = False,
) -> torch.Tensor:
    """y = relu(conv2d(x, weight, bias, stride, padding) + residual); padding None is 'same' (k // 2); the
    residual and the ReLU are optional. y is channels-last, x's dtype."""
    k = check_conv(x, weight, bias, same=padding is None)
    pad = k // 2 if padding is None else padding
    check(stride >= 1 and 0 <= pad < k, f"stride {stride}, padding {pad}: expected stride >= 1, 0 <= padding < {k}")
    n, _, h, w = x.shape
    oh, ow = out_side(h, k, stride, pad), out_side(w, k, stride, pad)
    check(oh >= 1 and ow >= 1, f"x: a {h}x{w} map is smaller than the {k}x{k} kernel with padding {pad}")
    c_in, c_out = weight.shape[1], weight.shape[0]
    y = torch.empty((n, c_out, oh, ow), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    if residual is not None:
        check(residual.shape == y.shape, f"residual: expected shape {tuple(y.shape)}, got {tuple(residual.shape)}")
        check(residual.dtype == x.dtype and residual.device == x.device, "residual: expected x's dtype and device")
    m = n * oh * ow

    def grid(meta):
        return triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(c_out, meta["BLOCK_N"])

    r = residual if residual is not None else y  # never read without RESIDUAL
    _conv_kernel[grid](
        x,
        pack_weight(weight),
        bias,
        r,
        y,
        m,
        h,
        w,
        oh,
        ow,
        c_in,
        c_out,
        *x.stride(),
        *r.stride(),
        *y.stride(),
        KSIZE=k,
        STRIDE=stride,
        PAD=pad,
        RESIDUAL=residual is not None,
        RELU=relu,
        INT64=force_int64 or needs_int64(x, y, r),
    )
    return y


def conv2d_bias_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool = True, force_int64: bool = False
) -> torch.Tensor:
    """y = relu(conv2d(x, weight, bias, padding=k//2)); y is channels-last, x's dtype."""
    return conv2d(x, weight, bias, relu=relu, force_int64=force_int64)
