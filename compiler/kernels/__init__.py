"""Triton kernels, one op per file (the Triton tutorials' layout).

Each file has a private `@triton.jit` kernel with masks on every load and store,
a public wrapper that checks its inputs, allocates and launches, and autotune
configs from a function. Without CUDA the kernels run only under the Triton
interpreter: `TRITON_INTERPRET=1` must be set before this package is imported.
"""

from __future__ import annotations

import os

import torch

INT32_MAX = 2**31 - 1


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def needs_int64(*tensors: torch.Tensor) -> bool:
    """True when an element offset into any tensor can pass 2**31 (then kernels index in int64): the
    largest offset of a strided view, which can exceed its numel (a slice of a larger tensor)."""
    return any(sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride(), strict=True)) > INT32_MAX for t in tensors)


def check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def check_tensor(x: torch.Tensor, dims: int, layout: str, name: str = "x") -> None:
    check(x.dim() == dims, f"{name}: expected {layout}, got shape {tuple(x.shape)}")
    check(x.dtype in (torch.float32, torch.float16, torch.bfloat16), f"{name}: unsupported dtype {x.dtype}")
    check(x.is_cuda or interpreted(), f"{name}: Triton kernels need a CUDA tensor (or TRITON_INTERPRET=1 on CPU)")


def check_activation(x: torch.Tensor, name: str = "x") -> None:
    check_tensor(x, 4, "(N, C, H, W)", name)
