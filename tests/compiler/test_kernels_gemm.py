"""What the GEMM kernels share (gemm.py, the package's checks): launch order, config pruning, the autotune
key, the dot's precision from torch's flags, int64 offsets."""

import pytest
import torch
import triton
import triton.language as tl

from archspec.compiler import kernels
from archspec.compiler.kernels import conv, conv_pool, gemm, linear


@triton.jit
def _tiles(out_ptr, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    pid_m, pid_n = gemm.tile(pid, M, N, BLOCK_M, BLOCK_N, GROUP_M)
    tl.store(out_ptr + 2 * pid, pid_m)
    tl.store(out_ptr + 2 * pid + 1, pid_n)


@pytest.mark.parametrize("grid_m, grid_n", [(7, 3), (8, 2), (1, 5)])
def test_grouped_order_visits_every_tile_once(grid_m, grid_n):
    out = torch.empty(grid_m * grid_n, 2, dtype=torch.int32)
    _tiles[(grid_m * grid_n,)](out, grid_m * 16, grid_n * 16, BLOCK_M=16, BLOCK_N=16, GROUP_M=4)
    assert sorted(map(tuple, out.tolist())) == [(m, n) for m in range(grid_m) for n in range(grid_n)]
    if grid_m > 4:  # the first 4 * grid_n programs sweep the first group of 4 row tiles over every column
        assert {m for m, _ in out[: 4 * grid_n].tolist()} == {0, 1, 2, 3}


def config(bm, bn):
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": 32})


def test_prune_drops_tiles_wider_than_the_output_but_keeps_the_narrowest():
    cs = [config(128, 128), config(64, 64), config(64, 32), config(128, 32)]
    assert gemm.prune(cs, {"C_out": 64}, width="C_out") == cs[1:]
    assert gemm.prune(cs, {"C_out": 20}, width="C_out") == cs[2:]
    assert gemm.prune(cs, {"C_out": 512}, width="C_out", PRECISION="ieee") == [cs[2]]  # fp32 FMA: small tiles
    assert gemm.prune(cs[:1], {"C_out": 512}, width="C_out", PRECISION="ieee") == cs[:1]
    assert conv.prune(cs, {"C_out": 512, "C_in": 64}, FLAT=False, PRECISION="tf32") == cs
    # a flattened K, or unaligned rows (C_in not a multiple of 16): at most 64x64
    assert conv.prune(cs, {"C_out": 512, "C_in": 3}, FLAT=True, PRECISION="tf32") == cs[1:]
    assert conv.prune(cs, {"C_out": 512, "C_in": 24}, FLAT=False, PRECISION="tf32") == cs[1:]


def test_the_autotune_key_buckets_m():  # no recompile either: test_kernels_compile.py
    for kernel in (conv._conv_kernel, conv_pool._conv_pool_kernel, linear._linear_kernel):
        assert "M" not in kernel.keys and kernel.keys[-1] == "M_BUCKET"
    assert gemm.m_bucket(61 * 224 * 224) == gemm.m_bucket(64 * 224 * 224)  # a last partial batch: no re-tune


def test_fp32_dots_follow_torchs_tf32_flags(monkeypatch):
    x16 = torch.randn(2, 3, dtype=torch.float16)
    for flag in (True, False):
        assert gemm.precision(torch.randn(2, 3), flag) == ("tf32" if flag else "ieee")
        assert gemm.precision(x16, flag) == "tf32"  # half-precision inputs: no fp32 to round
    seen = {}

    class Capture:
        def __init__(self, name):
            self.name = name

        def __getitem__(self, grid):
            return lambda *args, **kw: seen.setdefault(self.name, kw["PRECISION"])

    for module, name in [(conv, "_conv_kernel"), (conv_pool, "_conv_pool_kernel"), (linear, "_linear_kernel")]:
        monkeypatch.setattr(module, name, Capture(name))
    torch.backends.cudnn.allow_tf32 = False  # restored by tests/conftest.py's _no_leaks
    torch.backends.cuda.matmul.allow_tf32 = True
    x, w, b = torch.randn(1, 3, 4, 4), torch.randn(2, 3, 3, 3), torch.randn(2)
    conv.conv2d(x, w, b)
    conv_pool.conv2d_bias_relu_pool(x, w, b)
    linear.linear_bias_relu(torch.randn(2, 3), torch.randn(4, 3), torch.randn(4))
    assert seen == {"_conv_kernel": "ieee", "_conv_pool_kernel": "ieee", "_linear_kernel": "tf32"}


def test_int64_offsets_follow_the_largest_strided_offset_not_numel():
    assert not kernels.needs_int64(torch.empty(4, 8, device="meta"))
    view = torch.empty(2**31 + 16, device="meta")[:: 2**20]  # 2049 elements, the last at offset 2**31
    assert view.numel() < 2**31 - 1 and kernels.needs_int64(view)
