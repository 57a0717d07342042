"""The compiler's batch norm on narrow channels-last maps against torch's nn.BatchNorm2d computed in fp64 (the
oracle): outputs, the three gradients, running statistics, momentum None, no affine, bf16, and where it hands
over to torch's own path."""

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler.batchnorm import LARGE, NARROW, BatchNorm2d


def pair(channels: int, **kw) -> tuple[BatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    ours, ref = BatchNorm2d(channels, **kw), nn.BatchNorm2d(channels, **kw).double()
    if ours.affine:
        with torch.no_grad():
            ours.weight.uniform_(0.5, 1.5)
            ours.bias.uniform_(-1, 1)
    ref.load_state_dict(ours.state_dict())
    ref.double()
    return ours, ref


def maps(shape=(64, 4, 32, 32), seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 3 + 2  # an offset mean: a one-pass variance would lose digits here
    return x.contiguous(memory_format=torch.channels_last)


def step(bn: nn.Module, x: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.detach().requires_grad_()
    y = bn(x)
    y.backward(dy)
    grads = (bn.weight.grad, bn.bias.grad) if bn.affine else ()
    return (y, x.grad, *grads)


@pytest.mark.parametrize("shape", [(64, 4, 32, 32), (32, 2, 33, 33), (64, 7, 16, 16), (3, 1, 150, 150)])
def test_training_equals_torchs_batch_norm_in_fp64(shape):
    ours, ref = pair(shape[1])
    x, dy = maps(shape), maps(shape, seed=2)
    got = step(ours, x, dy)
    assert got[0].grad_fn.name() == "_BatchNormBackward"  # this path ran, not torch's
    want = step(ref, x.double(), dy.double())
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g.double(), w, rtol=1e-5, atol=1e-5 * w.abs().max().item())
    assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item() == 1
    torch.testing.assert_close(ours.running_mean.double(), ref.running_mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.running_var.double(), ref.running_var, rtol=1e-6, atol=1e-7)


def test_its_error_is_no_larger_than_torchs_own_fp32_batch_norm():
    ours, ref = pair(4)
    torchs = nn.BatchNorm2d(4)
    torchs.load_state_dict(ours.state_dict())
    x, dy = maps(), maps(seed=2)
    want = step(ref, x.double(), dy.double())
    for g, t, w in zip(step(ours, x, dy), step(torchs, x, dy), want, strict=True):
        assert (g.double() - w).abs().max() <= 2 * (t.double() - w).abs().max() + 1e-7


def test_running_statistics_follow_several_steps_with_momentum_none_and_without_affine():
    ours, ref = pair(4, momentum=None, affine=False)
    for seed in range(3):
        x, dy = maps(seed=seed), maps(seed=seed + 10)
        for g, w in zip(step(ours, x, dy), step(ref, x.double(), dy.double()), strict=True):
            torch.testing.assert_close(g.double(), w, rtol=1e-5, atol=1e-5 * w.abs().max().item())
    assert ours.num_batches_tracked.item() == 3
    torch.testing.assert_close(ours.running_mean.double(), ref.running_mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.running_var.double(), ref.running_var, rtol=1e-6, atol=1e-7)


def test_bf16_autocast_keeps_bf16_maps_and_fp32_parameter_gradients():
    ours, ref = pair(4)
    x, dy = maps().bfloat16(), maps(seed=2).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, dx, dw, db = step(ours, x, dy)
    assert y.dtype == dx.dtype == torch.bfloat16 and dw.dtype == db.dtype == torch.float32
    assert y.is_contiguous(memory_format=torch.channels_last)
    want = step(ref, x.double(), dy.double())
    for g, w in zip((y, dx, dw, db), want, strict=True):
        assert (g.double() - w).abs().max() <= 2**-7 * w.abs().max()  # bf16 rounding: 8 bits of mantissa


def test_an_in_place_relu_may_follow_and_nchw_input_is_accepted():
    ours, ref = pair(4)
    x = maps().contiguous()  # NCHW memory
    y = torch.relu_(ours(x.requires_grad_()))
    y.sum().backward()
    x2 = x.detach().double().requires_grad_()
    torch.relu(ref(x2)).sum().backward()
    torch.testing.assert_close(x.grad.double(), x2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape, train",
    [((64, NARROW, 32, 32), True), ((64, 4, 8, 8), True), ((64, 4, 32, 32), False)],
    ids=["wide map", "small map", "eval"],
)
def test_wide_and_small_maps_and_evaluation_run_torchs_own_path(shape, train):
    assert shape[0] * shape[1] * shape[2] * shape[3] >= LARGE or shape[2] == 8
    ours, ref = pair(shape[1])
    ours.train(train), ref.train(train)
    y = ours(maps(shape).requires_grad_())
    assert y.grad_fn.name() != "_BatchNormBackward"
    torch.testing.assert_close(y.double(), ref(maps(shape).double()), rtol=1e-5, atol=1e-5)


def test_the_compiler_builds_it_and_checkpoints_stay_torchvisions():
    model = archspec.compile("resnet20", num_classes=10, input="32x32x3")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(type(m) is BatchNorm2d for m in norms)
    keys = set(nn.BatchNorm2d(16).state_dict())
    assert keys == set(norms[0].state_dict())
