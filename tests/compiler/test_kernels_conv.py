"""Triton conv + bias (+ ReLU) kernel against torch's conv2d, under the interpreter."""

import re

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler import kernels
from archspec.compiler.kernels.conv import conv2d_bias_relu, pack_weight

from .conftest import tolerance

SHAPES = [  # (N, C_in, C_out, H, W, k): odd sizes, C_in = 3, channel counts that are not multiples of 16
    (2, 3, 8, 16, 16, 3),
    (1, 5, 20, 7, 9, 5),
    (2, 12, 17, 5, 6, 1),
    (1, 3, 33, 11, 4, 3),
]


def reference(x, w, b, relu=True):
    y = F.conv2d(x.float(), w.float(), b.float(), padding=w.shape[-1] // 2)
    return F.relu(y) if relu else y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch(shape, dtype):
    n, ci, co, h, w, k = shape
    x = torch.randn(n, ci, h, w, dtype=dtype).to(memory_format=torch.channels_last)
    wt, b = (torch.randn(co, ci, k, k) * 0.3).to(dtype), torch.randn(co).to(dtype)
    y = conv2d_bias_relu(x, wt, b)
    assert y.dtype == dtype and y.shape == (n, co, h, w) and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y.float(), reference(x, wt, b), **tolerance(dtype))


def test_nchw_input_without_relu_and_int64_offsets():
    x, wt, b = torch.randn(2, 7, 9, 5), torch.randn(10, 7, 3, 3), torch.randn(10)
    y = conv2d_bias_relu(x, wt, b, relu=False, force_int64=True)
    torch.testing.assert_close(y, reference(x, wt, b, relu=False), **tolerance(torch.float32))
    assert (y < 0).any()


def test_weight_packing_order():
    w = torch.arange(2 * 3 * 3 * 3.0).view(2, 3, 3, 3)  # (C_out, C_in, kh, kw)
    packed = pack_weight(w)
    assert packed.shape == (27, 2) and packed[(1 * 3 + 2) * 3 + 1, 1] == w[1, 1, 1, 2]


@pytest.mark.parametrize(
    "x, w, b, message",
    [
        (torch.randn(1, 3, 4, 4), torch.randn(4, 3, 2, 2), torch.randn(4), "odd square kernel"),
        (torch.randn(1, 3, 4, 4), torch.randn(4, 5, 3, 3), torch.randn(4), "x has 3 channels"),
        (torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3), torch.randn(5), "bias: expected shape"),
        (torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3).half(), torch.randn(4), "dtypes differ"),
        (torch.randn(3, 4, 4), torch.randn(4, 3, 3, 3), torch.randn(4), "expected (N, C, H, W)"),
        (torch.randn(1, 3, 4, 4).double(), torch.randn(4, 3, 3, 3), torch.randn(4), "unsupported dtype"),
    ],
)
def test_wrapper_rejects_bad_inputs(x, w, b, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        conv2d_bias_relu(x, w, b)


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    monkeypatch.setattr(kernels, "interpreted", lambda: False)
    with pytest.raises(ValueError, match="need a CUDA tensor"):
        conv2d_bias_relu(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3), torch.randn(4))
