"""Autograd of the fused ops: gradients equal torch's for the same computation."""

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler import ops

from .conftest import tolerance

pytestmark = pytest.mark.usefixtures("on_device")

TOL = tolerance(torch.float32, "conv")


def grads(fn, *tensors):
    tensors = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*tensors)
    out.backward(torch.linspace(-1, 1, out.numel()).view(out.shape))  # a non-uniform upstream gradient
    return out.detach(), [t.grad for t in tensors]


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 8, 9, 7, 3), (1, 5, 6, 5, 5, 1), (1, 4, 5, 6, 6, 5)])
def test_conv_bias_relu_gradients(shape, relu):
    n, ci, co, h, w, k = shape
    x, wt, b = torch.randn(n, ci, h, w), torch.randn(co, ci, k, k) * 0.3, torch.randn(co) * 0.1
    y1, g1 = grads(lambda x, w, b: ops.Conv.apply(x, w, b, 1, k // 2, relu), x, wt, b)
    ref = lambda x, w, b: F.relu(F.conv2d(x, w, b, padding=k // 2)) if relu else F.conv2d(x, w, b, padding=k // 2)  # noqa: E731
    y2, g2 = grads(ref, x, wt, b)
    torch.testing.assert_close(y1, y2, **TOL)
    for a, e in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 8, 9, 7, 3, 2, 1), (1, 5, 6, 9, 9, 1, 2, 0), (1, 3, 4, 12, 11, 7, 2, 3)])
def test_strided_conv_with_a_residual_gradients(shape):
    n, ci, co, h, w, k, s, p = shape
    x, wt, b = torch.randn(n, ci, h, w), torch.randn(co, ci, k, k) * 0.3, torch.randn(co) * 0.1
    r = torch.randn(F.conv2d(x, wt, stride=s, padding=p).shape)
    y1, g1 = grads(lambda x, w, b, r: ops.Conv.apply(x, w, b, s, p, True, r), x, wt, b, r)
    y2, g2 = grads(lambda x, w, b, r: F.relu(F.conv2d(x, w, b, stride=s, padding=p) + r), x, wt, b, r)
    torch.testing.assert_close(y1, y2, **TOL)
    for a, e in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8, 8, 3), (1, 4, 6, 7, 9, 3), (2, 5, 3, 5, 4, 1)])
def test_conv_bias_relu_pool_gradients_route_through_the_saved_argmax(shape):
    n, ci, co, h, w, k = shape
    x, wt, b = torch.randn(n, ci, h, w), torch.randn(co, ci, k, k) * 0.3, torch.randn(co) * 0.1
    y1, g1 = grads(ops.ConvBiasReLUPool.apply, x, wt, b)
    y2, g2 = grads(lambda x, w, b: F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=k // 2)), 2, 2), x, wt, b)
    torch.testing.assert_close(y1, y2, **TOL)
    for a, e in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize("relu", [True, False])
def test_linear_gradients(relu):
    x, w, b = torch.randn(3, 40), torch.randn(12, 40) * 0.2, torch.randn(12)
    y1, g1 = grads(lambda x, w, b: ops.LinearBiasReLU.apply(x, w, b, relu), x, w, b)
    y2, g2 = grads(lambda x, w, b: F.relu(F.linear(x, w, b)) if relu else F.linear(x, w, b), x, w, b)
    torch.testing.assert_close(y1, y2, **TOL)
    for a, e in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_lrn_gradients():
    x = torch.randn(2, 9, 3, 4) * 3
    y1, (g1,) = grads(lambda x: ops.LocalResponseNorm.apply(x, 5, 1e-3, 0.75, 2.0), x)
    y2, (g2,) = grads(lambda x: F.local_response_norm(x, 5, alpha=5e-3, beta=0.75, k=2.0), x)
    torch.testing.assert_close(y1, y2, **TOL)
    torch.testing.assert_close(g1, g2, **TOL)


def test_conv_weights_are_cached_until_a_parameter_changes():
    conv, bn = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4).eval()
    bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2), bn.weight.data.normal_()
    with torch.no_grad():
        weight, bias, packed = ops.conv_weights(conv, bn, torch.float32)
        assert ops.conv_weights(conv, bn, torch.float32)[2] is packed  # no repacking while nothing changed
        x = torch.randn(2, 3, 6, 6)
        torch.testing.assert_close(F.conv2d(x, weight, bias), bn(conv(x)), **TOL)  # batch norm folded in
        assert torch.equal(packed, ops.pack_weight(weight))
        bn.running_var.mul_(2)  # in place, as a training step's statistics update: a new version
        assert ops.conv_weights(conv, bn, torch.float32)[2] is not packed
        assert ops.conv_weights(conv, bn, torch.float16)[2].dtype == torch.float16
    weight, bias, _ = ops.conv_weights(conv, None, torch.float32)  # autograd records: weight carries the gradient
    assert weight.requires_grad and bias.requires_grad
