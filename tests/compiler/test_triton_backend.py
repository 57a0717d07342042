"""A whole spec compiled with both backends gives the same logits and gradients (interpreter)."""

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler import resolve_backend

SPEC = "input 15x13x3 conv3-8 LRN maxpool conv3-20 conv3-20 maxpool conv1-12 maxpool FC-24 FC-24 FC-5 soft-max"


def both(spec, **overrides):
    ref = archspec.compile(spec, backend="torch", **overrides)
    for p in ref.parameters():  # magnitudes that make differences visible (the default FC init is tiny)
        nn.init.normal_(p, 0, 0.3 if p.dim() > 1 else 0.1)
    tri = archspec.compile(spec, backend="triton", **overrides)
    tri.load_state_dict(ref.state_dict(), strict=True)
    return ref, tri


def run(model, x, seed):
    torch.manual_seed(seed)  # same dropout masks in both backends
    out = model(x)
    out.backward(torch.linspace(-1, 1, out.numel()).view(out.shape))
    return out.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("train", [False, True])
def test_same_logits_and_gradients(train):
    ref, tri = both(SPEC)
    x = torch.randn(2, 3, 15, 13)
    y1, g1 = run(ref.train(train), x, 1)
    y2, g2 = run(tri.train(train), x, 1)
    torch.testing.assert_close(y2, y1, rtol=1e-4, atol=1e-4)
    for name in g1:
        torch.testing.assert_close(g2[name], g1[name], rtol=1e-4, atol=1e-4, msg=name)


def test_batch_norm_variant_trains_the_same():
    ref, tri = both("input 8x8x3 conv3-6 maxpool conv3-10 maxpool FC-4 soft-max", batch_norm=True)
    x = torch.randn(2, 3, 8, 8)
    (y1, g1), (y2, g2) = run(ref.train(), x, 0), run(tri.train(), x, 0)
    torch.testing.assert_close(y2, y1, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g2["features.0.weight"], g1["features.0.weight"], rtol=1e-4, atol=1e-4)


def test_half_precision_forward():
    ref, tri = both("input 8x8x3 conv3-8 maxpool FC-4 soft-max")
    x = torch.randn(2, 3, 8, 8)
    out = tri.half()(x.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), ref.eval()(x), rtol=3e-2, atol=3e-2)


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == "torch"
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(archspec.ArchspecError, match="needs a CUDA GPU; on a CPU set TRITON_INTERPRET=1"):
        archspec.compile("A", backend="triton")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == "triton"


RESNET = "input 12x12x3 conv3-8/2 bn [conv3-8 bn conv3-8 bn] [conv1-4 bn conv3-4/2 bn conv1-12 bn] avgpool FC-5"
OPTION_A = "input 9x9x3 conv3-4 bn [conv3-4 bn conv3-4 bn] [conv3-8/2 bn conv3-8 bn + zeropad-8/2] avgpool FC-5"
INCEPTION = (
    "input 9x9x3 conv3-6 bn maxpool3/2ceil {conv1-4 bn | conv1-3 bn conv3-5 bn | maxpool3/1p1ceil conv1-2 bn} "
    "avgpool FC-5"
)


def _busy(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("spec", [RESNET, OPTION_A, INCEPTION], ids=["resnet", "option A", "inception"])
@pytest.mark.parametrize("train", [False, True], ids=["eval: BN folded", "train: BN in torch"])
def test_residual_and_inception_nets_match_torch_forward_and_backward(spec, train):
    ref, tri = both(spec)
    _busy(ref)
    tri.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, *archspec.network(spec).input.model_dump(include={"height", "width"}).values())
    y1, g1 = run(ref.train(train), x, 1)
    y2, g2 = run(tri.train(train), x, 1)
    torch.testing.assert_close(y2, y1, rtol=1e-4, atol=1e-4)
    for name in g1:
        torch.testing.assert_close(g2[name], g1[name], rtol=1e-4, atol=1e-4, msg=name)
    if train:  # the running statistics move the same way
        for (name, a), b in zip(ref.state_dict().items(), tri.state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
