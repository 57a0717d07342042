"""The LRN kind's module against torch's own `nn.LocalResponseNorm`: outputs and gradients to 1e-6 in fp32."""

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler.lrn import LocalResponseNorm

ALEXNET = (5, 5e-4, 0.75, 2.0)  # size, alpha (torch's: the IR's 1e-4 times size), beta, k, as the IR compiles LRN
STRONG = (5, 2.0, 0.75, 1.0)  # a large alpha: the window sum dominates, so a wrong window cannot hide
EVEN = (4, 1.0, 0.5, 1.0)  # an even window: two channels below, one above
SHAPES = [(2, 8, 5, 5), (3, 3, 4, 4), (2, 1, 3, 2), (1, 16, 7, 6), (4, 64, 2, 3)]  # C < size among them


def run(module, x, grad):
    """module(x) and the gradient of x under the output gradient `grad`."""
    xr = x.detach().clone().requires_grad_()
    y = module(xr)
    y.backward(grad)
    return y, xr.grad


def both(args, x):
    """(ours, torch's) outputs and input gradients on x under the same random output gradient."""
    grad = torch.randn(x.shape).contiguous(memory_format=torch.channels_last)
    return run(LocalResponseNorm(*args), x, grad), run(nn.LocalResponseNorm(*args), x, grad)


@pytest.mark.parametrize("args", [ALEXNET, STRONG, EVEN])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_lrn_equals_torchs_forward_and_gradients_in_fp32(args, shape, memory_format):
    torch.manual_seed(0)
    x = (torch.randn(shape) * 4).contiguous(memory_format=memory_format)
    (y, dx), (y_ref, dx_ref) = both(args, x)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dx, dx_ref, rtol=1e-6, atol=1e-6)
    assert y.is_contiguous(memory_format=memory_format)  # the net's memory format is kept, as torch's does


def test_lrn_gradient_matches_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LocalResponseNorm(*STRONG), (x,))


def test_lrn_under_bf16_autocast_runs_in_fp32():
    """torch's squares in bf16 and sums in fp32 under autocast; this one runs wholly in fp32, as a normalisation."""
    torch.manual_seed(0)
    x = (torch.randn(2, 8, 4, 4) * 4).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(x.shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, dx = run(LocalResponseNorm(*STRONG), x, grad)
    y_ref, dx_ref = run(LocalResponseNorm(*STRONG), x.float(), grad)  # in fp32: equal to torch's (test above)
    assert y.dtype is torch.float32 and dx.dtype is torch.bfloat16  # as torch's: an fp32 output, the input's grad
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dx, dx_ref.to(torch.bfloat16))


def test_lrn_of_a_bf16_net_stays_within_bf16_rounding_of_torchs_in_fp32():  # torch's has no bf16 CPU kernel
    torch.manual_seed(0)
    x, grad = torch.randn(2, 8, 4, 4) * 4, torch.randn(2, 8, 4, 4)
    y, dx = run(LocalResponseNorm(*STRONG), x.to(torch.bfloat16), grad.to(torch.bfloat16))
    y_ref, dx_ref = run(nn.LocalResponseNorm(*STRONG), x, grad)
    assert y.dtype is torch.bfloat16 and dx.dtype is torch.bfloat16
    torch.testing.assert_close(y.float(), y_ref, rtol=0.03, atol=0.03)
    torch.testing.assert_close(dx.float(), dx_ref, rtol=0.05, atol=0.05)


def test_lrn_refuses_a_second_derivative_rather_than_give_a_wrong_one():
    x = torch.randn(1, 6, 2, 2, requires_grad=True)
    (g,) = torch.autograd.grad(LocalResponseNorm(*STRONG)(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad|once_differentiable"):
        g.sum().backward()


def test_compiled_a_lrn_runs_this_lrn_and_keeps_as_state_dict_layout():
    a_lrn = archspec.compile("A-LRN", num_classes=10, input="32x32x3", width=0.125)
    a = archspec.compile("A", num_classes=10, input="32x32x3", width=0.125)
    assert type(a_lrn.features[2]) is LocalResponseNorm
    assert (a_lrn.features[2].size, a_lrn.features[2].alpha) == (5, 5e-4)  # the IR's sum convention, alpha 1e-4
    # LRN has no state: A-LRN's state dict is A's with every later features index one higher
    shift = {k: k for k in a.state_dict()} | {
        k: f"features.{int(k.split('.')[1]) + 1}.{k.split('.')[2]}"
        for k in a.state_dict()
        if k.startswith("features.") and int(k.split(".")[1]) >= 2
    }
    assert list(a_lrn.state_dict()) == [shift[k] for k in a.state_dict()]
