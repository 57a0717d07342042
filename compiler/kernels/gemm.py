"""What the GEMM kernels (conv, conv + pool, linear) share: autotune configs and their pruning, the
autotune key's M bucket, grouped launch order, NaN-propagating ReLU and the dot's input precision.
"""

from __future__ import annotations

from functools import partial

import torch
import triton
import triton.language as tl

from . import interpreted


def configs(shapes: list[tuple[int, int, int, int, int]], interpreter: tuple[int, int, int]) -> list[triton.Config]:
    """`shapes`: (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages). The interpreter would run every config
    (slowly): it gets the one tile `interpreter` (BLOCK_M, BLOCK_N, BLOCK_K)."""
    if interpreted():
        bm, bn, bk = interpreter
        return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_warps=4)]
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_warps=w, num_stages=s)
        for bm, bn, bk, w, s in shapes
    ]


def label(config: triton.Config | None) -> str:
    """A config in a few characters: "128x64x32 w4 s4" (BLOCK_M x BLOCK_N x BLOCK_K, warps, stages)."""
    if config is None:
        return "fixed"
    blocks = "x".join(str(v) for k, v in config.kwargs.items() if k.startswith("BLOCK"))
    return f"{blocks} w{config.num_warps} s{config.num_stages}"


# An fp32 dot without TF32 runs on FMA units with every product unrolled: compile time and registers grow with
# the tile's volume, and above this one pass 3 CPU-s or come close (on sm_90: conv 64x128x32 4.2 s, 64x64x32
# 2.5 s; FC 128x128x64 7.1 s, 16x64x128 3.8 s).
FMA_VOLUME = 64 * 32 * 32


def volume(config: triton.Config) -> int:
    return config.kwargs["BLOCK_M"] * config.kwargs["BLOCK_N"] * config.kwargs["BLOCK_K"]


def prune(configs: list[triton.Config], named_args: dict, *, width: str, **kwargs) -> list[triton.Config]:
    """Drop configs whose BLOCK_N exceeds the output width (named `width`): their extra columns would be
    masked off; the narrowest stay when every config is wider. Without TF32 (PRECISION "ieee"), tiles up to
    FMA_VOLUME, or the smallest."""
    smallest = min(c.kwargs["BLOCK_N"] for c in configs)
    kept = [c for c in configs if c.kwargs["BLOCK_N"] <= max(named_args[width], smallest)]
    if kwargs.get("PRECISION") == "ieee":
        return [c for c in kept if volume(c) <= FMA_VOLUME] or [min(kept, key=volume)]
    return kept


def m_bucket(m: int) -> int:
    """The autotune key's M: the next power of two, so a last partial batch does not re-tune (and, with M
    unspecialised, does not recompile)."""
    return triton.next_power_of_2(m)


def tune(shapes, interpreter, key: list[str], width: str = "", pruner=None):
    """`triton.autotune` with these configs, keyed on `key` and the M bucket, pruned by `pruner` or else
    by `prune` on the argument named `width`."""
    return triton.autotune(
        configs=configs(shapes, interpreter),
        key=[*key, "M_BUCKET"],
        prune_configs_by={"early_config_prune": pruner or partial(prune, width=width)},
    )


def precision(x: torch.Tensor, allow_tf32: bool) -> str:
    """`tl.dot`'s input precision for fp32 inputs from torch's own flag; half-precision inputs ignore it."""
    return "tf32" if allow_tf32 or x.dtype != torch.float32 else "ieee"


@triton.jit
def tile(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """(pid_m, pid_n) in grouped order: GROUP_M row tiles sweep all column tiles together, so the rows they
    read stay in L2 (the Triton matmul tutorial's swizzle)."""
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * grid_n
    first_m = (pid // group) * GROUP_M
    size_m = min(grid_m - first_m, GROUP_M)
    return first_m + (pid % group) % size_m, (pid % group) // size_m


@triton.jit
def relu(x):
    """max(x, 0) that keeps NaN, as torch.relu does (tl.maximum would turn NaN into 0)."""
    return tl.where(x < 0, 0.0, x)
