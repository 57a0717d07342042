"""FC layer as a Triton GEMM: y = x @ weight.T + bias (+ ReLU), fp32 accumulation.

`weight` is torch's Linear layout (N, K), read through its strides, so no
transposed copy is made. Grouped launch order keeps tiles of `x` in L2. fp32
inputs use TF32 exactly when torch's matmuls do (`torch.backends.cuda.matmul.allow_tf32`,
off by default); the ReLU keeps NaN as torch's does.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import check, check_tensor, gemm, needs_int64

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages); see benchmarks/results/triton-compile.json.
CONFIGS = [
    (128, 128, 64, 8, 3),
    (64, 128, 64, 4, 4),
    (128, 64, 64, 4, 4),
    (64, 64, 64, 4, 4),
    (32, 128, 64, 4, 4),
    (16, 128, 128, 4, 4),
    (16, 64, 128, 4, 5),
    (32, 64, 128, 4, 4),
    (32, 64, 32, 4, 4),  # the one within gemm.FMA_VOLUME: fp32 without TF32 (torch's default for matmuls)
]


@gemm.tune(CONFIGS, (16, 64, 64), key=["N", "K"], width="N")
@triton.jit(do_not_specialize=["M", "M_BUCKET"])
def _linear_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    M,
    M_BUCKET,
    N,
    K,
    sxm,
    sxk,
    swn,
    swk,
    sym,
    syn,
    RELU: tl.constexpr,
    INT64: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    pid_m, pid_n = gemm.tile(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    if INT64:
        offs_m = offs_m.to(tl.int64)
        offs_n = offs_n.to(tl.int64)
    offs_k = tl.arange(0, BLOCK_K)
    mask_m = offs_m < M
    mask_n = offs_n < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + offs_k
        a = tl.load(
            x_ptr + offs_m[:, None] * sxm + k[None, :] * sxk, mask=mask_m[:, None] & (k[None, :] < K), other=0.0
        )  # [BLOCK_M, BLOCK_K]
        b = tl.load(
            w_ptr + offs_n[None, :] * swn + k[:, None] * swk, mask=mask_n[None, :] & (k[:, None] < K), other=0.0
        )  # [BLOCK_K, BLOCK_N]
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    acc += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    if RELU:
        acc = gemm.relu(acc)
    out = y_ptr + offs_m[:, None] * sym + offs_n[None, :] * syn
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])


def linear_bias_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool = True, force_int64: bool = False
) -> torch.Tensor:
    """y = relu(x @ weight.T + bias) for x (M, K), weight (N, K), bias (N,)."""
    check_tensor(x, 2, "(M, K)")
    check_tensor(weight, 2, "(N, K)", "weight")
    m, k = x.shape
    n = weight.shape[0]
    check(weight.shape[1] == k, f"x has {k} features, weight expects {weight.shape[1]}")
    check(bias.shape == (n,), f"bias: expected shape ({n},), got {tuple(bias.shape)}")
    check(x.dtype == weight.dtype == bias.dtype, f"dtypes differ: x {x.dtype}, weight {weight.dtype}")
    y = torch.empty((m, n), device=x.device, dtype=x.dtype)

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(n, meta["BLOCK_N"]),)

    _linear_kernel[grid](
        x,
        weight,
        bias,
        y,
        m,
        gemm.m_bucket(m),
        n,
        k,
        *x.stride(),
        *weight.stride(),
        *y.stride(),
        RELU=relu,
        INT64=force_int64 or needs_int64(x, weight, y),
        PRECISION=gemm.precision(x, torch.backends.cuda.matmul.allow_tf32),
    )
    return y
