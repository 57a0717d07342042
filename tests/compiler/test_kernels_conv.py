"""Triton conv + bias (+ ReLU) kernel against torch's conv2d, under the interpreter."""

import re

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler import kernels
from archspec.compiler.kernels.conv import conv2d, conv2d_bias_relu, pack_weight

from .conftest import tolerance

pytestmark = pytest.mark.usefixtures("on_device")

SHAPES = [  # (N, C_in, C_out, H, W, k): odd sizes, channel counts that are not multiples of 16
    (2, 3, 8, 16, 16, 3),  # C_in < 16: K flattened (27 padded to the block)
    (1, 5, 20, 7, 9, 5),
    (2, 12, 17, 5, 6, 1),
    (1, 3, 33, 11, 4, 3),
    (1, 20, 40, 6, 5, 3),  # per-tap channel blocks: a full and a partial one (BLOCK_K 16 here); 2 column tiles
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
    torch.testing.assert_close(y.float(), reference(x, wt, b), **tolerance(dtype, "conv"))


def test_nchw_input_without_relu_and_int64_offsets():
    x, wt, b = torch.randn(2, 7, 9, 5), torch.randn(10, 7, 3, 3), torch.randn(10)
    y = conv2d_bias_relu(x, wt, b, relu=False, force_int64=True)
    torch.testing.assert_close(y, reference(x, wt, b, relu=False), **tolerance(torch.float32, "conv"))
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
    x, w, b = torch.randn(1, 3, 4, 4, device="cpu"), torch.randn(4, 3, 3, 3, device="cpu"), torch.randn(4, device="cpu")
    with pytest.raises(ValueError, match="need a CUDA tensor"):
        conv2d_bias_relu(x, w, b)


def test_relu_keeps_nan_as_torch_does():
    x, wt, b = torch.randn(1, 4, 5, 5), torch.randn(6, 4, 3, 3), torch.randn(6)
    x[0, 1, 2, 2] = float("nan")  # reaches the 3x3 neighbourhood of (2, 2) in every output channel
    y = conv2d_bias_relu(x, wt, b)
    assert y.isnan().sum() == 6 * 9
    torch.testing.assert_close(y, reference(x, wt, b), equal_nan=True, **tolerance(torch.float32, "conv"))


STRIDED = [  # (N, C_in, C_out, H, W, k, stride, padding): ResNet's stem, a downsampling 3x3, a projection
    (1, 3, 8, 15, 13, 7, 2, 3),
    (2, 6, 10, 9, 8, 3, 2, 1),
    (2, 5, 7, 7, 7, 1, 2, 0),
    (1, 3, 6, 12, 12, 4, 4, 1),  # an even kernel with written padding
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", STRIDED)
def test_strided_and_padded_convs_with_a_residual_match_torch(shape, dtype):
    n, ci, co, h, w, k, s, p = shape
    x = torch.randn(n, ci, h, w, dtype=dtype).to(memory_format=torch.channels_last)
    wt, b = (torch.randn(co, ci, k, k) * 0.3).to(dtype), torch.randn(co).to(dtype)
    pre = F.conv2d(x.float(), wt.float(), b.float(), stride=s, padding=p)
    r = torch.randn(pre.shape).to(dtype)  # NCHW: the residual is read through its strides
    y = conv2d(x, wt, b, stride=s, padding=p, relu=True, residual=r)
    assert y.shape == pre.shape and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y.float(), F.relu(pre + r.float()), **tolerance(dtype, "conv"))
    y = conv2d(x, wt, b, stride=s, padding=p, relu=False)
    torch.testing.assert_close(y.float(), pre, **tolerance(dtype, "conv"))


def test_the_residual_must_have_the_outputs_shape():
    x, wt, b = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    with pytest.raises(ValueError, match=re.escape("residual: expected shape (1, 4, 4, 4)")):
        conv2d(x, wt, b, stride=2, padding=1, residual=torch.randn(1, 4, 8, 8))
