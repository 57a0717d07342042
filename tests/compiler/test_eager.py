"""The eager backend builds torchvision-compatible modules that compute what the spec says."""

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler.eager import fold_batchnorm
from archspec.infer import infer

from .torchvision_vgg import NUM_PARAMS, TorchvisionVGG


@pytest.mark.parametrize(
    "cfg, name, bn",
    [
        ("A", "vgg11", False),
        ("B", "vgg13", False),
        ("D", "vgg16", False),
        ("E", "vgg19", False),
        ("A", "vgg11_bn", True),
        ("D", "vgg16_bn", True),
    ],
)
def test_torchvision_checkpoint_loads_strict_and_gives_same_outputs(cfg, name, bn):
    torch.manual_seed(0)
    reference = TorchvisionVGG(cfg, batch_norm=bn).eval()
    if bn:  # non-trivial running statistics, so eval-mode BN is really exercised
        for m in reference.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = archspec.compile(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in ours.parameters()) == NUM_PARAMS[name]


def test_vgg16_state_dict_keys_are_torchvisions():
    keys = [k for k in archspec.compile("D").state_dict() if k.endswith("weight")]
    conv_idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert keys == [f"features.{i}.weight" for i in conv_idx] + [f"classifier.{i}.weight" for i in (0, 3, 6)]


def test_module_parameters_equal_the_analytic_count():
    for name in ["A-LRN", "C", "B-conv5"]:
        net = archspec.network(name, num_classes=10, input="64x64x3", width=0.25)
        model = archspec.compile(net)
        assert sum(p.numel() for p in model.parameters()) == infer(net).params


def test_lrn_uses_alexnets_sum_convention():
    model = archspec.compile("conv3-8 LRN FC-4 soft-max")
    lrn = model.features[2]
    x = torch.rand(1, 8, 3, 3) * 10
    # AlexNet: b_i = a_i / (k + alpha * sum_{|j-i|<=2} a_j^2) ** beta, with no division by the window size
    sq = torch.nn.functional.pad(x.pow(2), (0, 0, 0, 0, 2, 2))
    window = sum(sq[:, j : j + 8] for j in range(5))
    expected = x / (2.0 + 1e-4 * window) ** 0.75
    torch.testing.assert_close(lrn(x), expected)


def test_other_input_size_is_pooled_like_torchvision():
    model = archspec.compile("D").eval()
    assert model(torch.randn(1, 3, 256, 256)).shape == (1, 1000)


def test_net_without_fc_returns_the_feature_map():
    model = archspec.compile("input 16x16x3 conv3-4 maxpool conv1-6")
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 6, 8, 8)


def test_small_net_trains_one_step():
    model = archspec.compile("A", num_classes=10, input="32x32x3", width=0.125)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(archspec.ArchspecError, match="backend 'tpu'"):
        archspec.compile("A", backend="tpu")


def test_folding_batch_norm_keeps_the_eval_function_and_the_model():
    model = archspec.compile("input 16x16x3 conv3-8 bn maxpool conv3-8 bn maxpool FC-10 soft-max")
    torch.manual_seed(0)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):  # non-trivial statistics
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
        nn.init.normal_(bn.weight)
        nn.init.normal_(bn.bias)
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2  # the model given is untouched
    plain = archspec.compile("input 16x16x3 conv3-8 maxpool FC-10 soft-max")
    assert fold_batchnorm(plain) is plain
