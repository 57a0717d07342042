"""Conv2d (any stride and zero padding, square k) + bias (+ residual) (+ ReLU) as an implicit GEMM in Triton.

GEMM view: M = N*OH*OW output pixels, N_gemm = C_out, K = k*k*C_in. Activations
are read through their strides, so NCHW and channels-last both work; channels-
last makes the C_in loads contiguous. Weights are packed to (k*k*C_in, C_out),
rows ordered (kh, kw, c_in) (the caller may pass them packed, see `ops.py`).
Accumulation is fp32; fp32 inputs use TF32 exactly when torch's convs do
(`torch.backends.cudnn.allow_tf32`). The output has the input's dtype and
channels-last layout. The epilogue adds the bias, then optionally a residual
tensor of the output's shape (a ResNet block's shortcut), then optionally a ReLU
that keeps NaN as torch's does: conv + folded batch norm + add + ReLU is one launch.

`conv_acc` is the main loop, shared with `conv_pool.py`: one K loop of
k*k*ceil(C_in/BLOCK_K) steps (tap x channel block), which Triton software-
pipelines, rather than k*k separate loops of one or two steps each. A first layer
(C_in < 16) flattens K instead: 3x3x3 = 27 is padded to 32, not each tap to BLOCK_K.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check, check_activation, gemm, needs_int64

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages), compiled for sm_90 and sm_80 by
# benchmarks/triton_compile.py (results/triton-compile.json): none spills, each compiles in about 3 CPU-s or less.
# - 4 warps at most: Triton miscompiles this flattened tap loop at 8 warps (pytorch issue 173068; Inductor
#   caps its conv template at 4). 8-warp configs stay out until a GPU check passes.
# - Not shipped: 128x128 (243-255 registers; spills 116 bytes with the residual epilogue and 200 in the pool
#   epilogue on sm_90), BLOCK_K 64 and 256-row tiles (registers at the 255 limit, or 8 warps).
CONFIGS = [
    (128, 64, 32, 4, 4),
    (64, 128, 32, 4, 4),
    (64, 64, 32, 4, 4),
    (128, 32, 32, 4, 4),
    (64, 32, 32, 4, 4),
]
INTERPRETER = (64, 32, 16)  # BLOCK_K 16: C_in = 20 in the tests takes a full and a partial channel block
FLAT_BELOW = 16  # C_in below this (the first layer) flattens K
# Gathered (flattened K) or unaligned (C_in not a multiple of 16: no vector loads) rows cost registers:
# 128x64 spills on sm_80 with a flattened K and sits at 255 registers on sm_90 with C_in = 24.
SMALL_TILE = 64 * 64


def prune(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    """`gemm.prune` on C_out; tiles up to SMALL_TILE elements where K is flattened or C_in is unaligned."""
    configs = gemm.prune(configs, named_args, width="C_out", **kwargs)
    if kwargs["FLAT"] or named_args["C_in"] % 16:
        return [c for c in configs if c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"] <= SMALL_TILE] or configs[-1:]
    return configs


@triton.jit
def pixels(offs, OH, OW, INT64: tl.constexpr):
    """Flat indices of (n, oh, ow) pixels -> (offs, n, oh, ow), in int64 when INT64."""
    if INT64:
        offs = offs.to(tl.int64)
    return offs, offs // (OH * OW), (offs // OW) % OH, offs % OW


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, k, k) -> (k*k*C_in, C_out), rows ordered (kh, kw, c_in)."""
    c_out = weight.shape[0]
    return weight.permute(2, 3, 1, 0).reshape(-1, c_out).contiguous()


@triton.jit
def conv_acc(
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
    FLAT: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """fp32 [BLOCK_M, BLOCK_N] conv outputs at output pixels (n, oh, ow) [BLOCK_M], channels offs_n."""
    ih0 = oh * STRIDE - PAD
    iw0 = ow * STRIDE - PAD
    corner = n * sxn + ih0 * sxh + iw0 * sxw  # [BLOCK_M] the window's top-left offset (maybe in the padding)
    offs_k = tl.arange(0, BLOCK_K)
    if FLAT:
        steps = tl.cdiv(KSIZE * KSIZE * C_in, BLOCK_K)
    else:
        blocks = tl.cdiv(C_in, BLOCK_K)
        steps = KSIZE * KSIZE * blocks
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for i in range(steps):
        if FLAT:  # BLOCK_K rows of K = (tap, c_in), gathered
            k = i * BLOCK_K + offs_k
            tap = k // C_in
            c = k % C_in
            valid = k < KSIZE * KSIZE * C_in
        else:  # one tap, BLOCK_K of its channels
            tap = tl.zeros([1], tl.int32) + i // blocks  # [1]: the tap's terms below stay per row
            c = (i % blocks) * BLOCK_K + offs_k
            valid = c < C_in
        kh = tap // KSIZE
        kw = tap % KSIZE
        ih = ih0[:, None] + kh[None, :]
        iw = iw0[:, None] + kw[None, :]
        inside = mask_m[:, None] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W) & valid[None, :]  # zero padding
        a = tl.load(x_ptr + corner[:, None] + (kh * sxh + kw * sxw + c * sxc)[None, :], mask=inside, other=0.0)
        row = tap * C_in + c  # the packed weight's row
        b = tl.load(w_ptr + row[:, None] * C_out + offs_n[None, :], mask=valid[:, None] & mask_n[None, :], other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    return acc


@gemm.tune(CONFIGS, INTERPRETER, key=["C_in", "C_out", "KSIZE", "STRIDE"], pruner=prune)
@triton.jit(do_not_specialize=["M", "M_BUCKET", "H", "W", "OH", "OW"])
def _conv_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    r_ptr,
    y_ptr,
    M,
    M_BUCKET,
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
    FLAT: tl.constexpr,
    RESIDUAL: tl.constexpr,
    RELU: tl.constexpr,
    INT64: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    pid_m, pid_n = gemm.tile(tl.program_id(0), M, C_out, BLOCK_M, BLOCK_N, GROUP_M)
    offs_m, n, oh, ow = pixels(pid_m * BLOCK_M + tl.arange(0, BLOCK_M), OH, OW, INT64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_m = offs_m < M
    mask_n = offs_n < C_out
    acc = conv_acc(
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
        FLAT,
        PRECISION,
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
        acc = gemm.relu(acc)
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


def packed_weight(weight: torch.Tensor, packed: torch.Tensor | None) -> torch.Tensor:
    """`packed` if given (checked against `weight`), else `weight` packed now."""
    if packed is None:
        return pack_weight(weight)
    c_out, c_in, k, _ = weight.shape
    check(packed.shape == (k * k * c_in, c_out) and packed.is_contiguous(), "packed: not pack_weight(weight)'s")
    check(packed.dtype == weight.dtype and packed.device == weight.device, "packed: expected weight's dtype, device")
    return packed


def conv_flags(x: torch.Tensor, c_in: int, *tensors: torch.Tensor, force_int64: bool = False) -> dict:
    """The constexprs conv and conv + pool share: flattened K, int64 offsets, the dot's input precision."""
    return {
        "FLAT": c_in < FLAT_BELOW,
        "INT64": force_int64 or needs_int64(x, *tensors),
        "PRECISION": gemm.precision(x, torch.backends.cudnn.allow_tf32),
    }


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
    packed: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = relu(conv2d(x, weight, bias, stride, padding) + residual); padding None is 'same' (k // 2); the
    residual and the ReLU are optional; `packed`: `pack_weight(weight)` if the caller keeps it. y is
    channels-last, x's dtype."""
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
        return (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(c_out, meta["BLOCK_N"]),)

    r = residual if residual is not None else y  # never read without RESIDUAL
    _conv_kernel[grid](
        x,
        packed_weight(weight, packed),
        bias,
        r,
        y,
        m,
        gemm.m_bucket(m),
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
        **conv_flags(x, c_in, y, r, force_int64=force_int64),
    )
    return y


def conv2d_bias_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool = True, force_int64: bool = False
) -> torch.Tensor:
    """y = relu(conv2d(x, weight, bias, padding=k//2)); y is channels-last, x's dtype."""
    return conv2d(x, weight, bias, relu=relu, force_int64=force_int64)
