"""Conv + bias + ReLU + 2x2 max-pool fused kernel: pooled values and argmax against torch."""

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler.kernels.conv_pool import conv2d_bias_relu_pool

from .conftest import tolerance

pytestmark = pytest.mark.usefixtures("on_device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize(
    "shape", [(2, 3, 8, 16, 16, 3), (1, 5, 20, 7, 9, 5), (2, 12, 17, 5, 6, 1), (1, 3, 6, 3, 2, 3), (1, 20, 40, 9, 7, 3)]
)
def test_pooled_values_and_argmax_match_torch(shape, dtype):
    n, ci, co, h, w, k = shape
    x = torch.randn(n, ci, h, w, dtype=dtype).to(memory_format=torch.channels_last)
    wt, b = (torch.randn(co, ci, k, k) * 0.3).to(dtype), torch.randn(co).to(dtype)
    y, idx = conv2d_bias_relu_pool(x, wt, b)
    pre = F.conv2d(x.float(), wt.float(), b.float(), padding=k // 2)
    expected, where = F.max_pool2d(pre, 2, 2, return_indices=True)  # floor on odd sizes
    assert y.shape == (n, co, h // 2, w // 2) and idx.dtype == torch.int8
    torch.testing.assert_close(y.float(), F.relu(expected), **tolerance(dtype, "conv"))
    quadrant = (where // w % 2) * 2 + where % w % 2  # torch's flat index -> 0..3 in the 2x2 window
    agree = (idx.long() == quadrant).float().mean().item()
    assert agree == 1.0 if dtype == torch.float32 else agree > 0.98  # fp16 may reorder near-ties


def test_ties_pick_the_first_position_like_torch():
    x = torch.ones(1, 1, 4, 4)
    w, b = torch.zeros(2, 1, 1, 1), torch.tensor([1.0, -1.0])  # constant maps: all four positions tie
    y, idx = conv2d_bias_relu_pool(x, w, b)
    assert (idx == 0).all() and torch.equal(y[0, :, 0, 0], torch.tensor([1.0, 0.0]))


def test_nan_wins_its_window_as_in_torch():
    x, w, b = torch.randn(1, 2, 4, 6), torch.rand(3, 2, 1, 1) + 0.1, torch.randn(3)
    x[0, 0, 1, 1] = float("nan")  # window (0, 0), position 3
    x[0, 1, 0, 2] = x[0, 1, 1, 3] = float("nan")  # window (0, 1), positions 0 and 3: the last NaN wins
    y, idx = conv2d_bias_relu_pool(x, w, b)
    expected, where = F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2, 2, return_indices=True)
    torch.testing.assert_close(y, expected, equal_nan=True)
    assert idx[0, :, 0, 0].tolist() == [3, 3, 3] and idx[0, :, 0, 1].tolist() == [3, 3, 3]
    nan = expected.isnan()
    assert torch.equal(((where // 6 % 2) * 2 + where % 6 % 2)[nan], idx.long()[nan])


def test_int64_offsets_give_the_same_result():
    x, w, b = torch.randn(1, 4, 9, 7), torch.randn(6, 4, 3, 3), torch.randn(6)
    y32, i32 = conv2d_bias_relu_pool(x, w, b)
    y64, i64 = conv2d_bias_relu_pool(x, w, b, force_int64=True)
    assert torch.equal(y32, y64) and torch.equal(i32, i64)


def test_map_smaller_than_the_window_is_rejected():
    with pytest.raises(ValueError, match="at least a 2x2 map"):
        conv2d_bias_relu_pool(torch.randn(1, 3, 1, 4), torch.randn(4, 3, 3, 3), torch.randn(4))
