"""Triton FC GEMM with bias (+ ReLU) epilogue against torch's linear."""

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler.kernels.linear import linear_bias_relu

from .conftest import tolerance

pytestmark = pytest.mark.usefixtures("on_device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("m, k, n, relu", [(2, 50, 33, True), (3, 200, 10, False), (1, 7, 130, True)])
def test_matches_torch(m, k, n, relu, dtype):
    x, w, b = torch.randn(m, k).to(dtype), (torch.randn(n, k) * 0.1).to(dtype), torch.randn(n).to(dtype)
    y = linear_bias_relu(x, w, b, relu)
    ref = F.linear(x.float(), w.float(), b.float())
    torch.testing.assert_close(y.float(), F.relu(ref) if relu else ref, **tolerance(dtype, "linear"))


def test_transposed_weight_view_and_int64_offsets():
    x, w, b = torch.randn(4, 20), torch.randn(20, 9).t(), torch.randn(9)  # non-contiguous (N, K) view
    torch.testing.assert_close(linear_bias_relu(x, w, b, force_int64=True), F.relu(F.linear(x, w, b)))


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="x has 5 features"):
        linear_bias_relu(torch.randn(2, 5), torch.randn(3, 6), torch.randn(3))


def test_relu_keeps_nan_as_torch_does():
    x, w, b = torch.randn(2, 8), torch.randn(5, 8), torch.randn(5)
    x[1, 3] = float("nan")
    y = linear_bias_relu(x, w, b)
    assert y[1].isnan().all() and not y[0].isnan().any()
    torch.testing.assert_close(y, F.relu(F.linear(x, w, b)), equal_nan=True, **tolerance(torch.float32, "linear"))
