"""ResNet, AlexNet and GoogLeNet specs compile to torchvision's layouts: checkpoints load strictly and give
the same outputs in eval mode."""

import pytest
import torch
from torch import nn

import archspec

from .conftest import busy_batch_norm
from .torchvision_beyond import NUM_PARAMS, reference


@pytest.mark.parametrize(
    "name, side", [("resnet18", 64), ("resnet50", 64), ("resnet50-v1", 64), ("alexnet", 224), ("googlenet", 64)]
)
def test_torchvision_checkpoint_loads_strict_and_gives_same_outputs(name, side):
    ref = reference(name).eval()
    busy_batch_norm(ref)
    ours = archspec.compile(name).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet34", "resnet101", "resnet152", "resnet101-v1", "resnet152-v1"])
def test_deeper_resnets_have_torchvisions_keys_and_shapes(name):
    ours = {k: tuple(v.shape) for k, v in archspec.compile(name).state_dict().items()}
    ref = {k: tuple(v.shape) for k, v in reference(name).state_dict().items()}
    assert list(ours) == list(ref) and ours == ref


@pytest.mark.parametrize("name", NUM_PARAMS)
def test_module_parameters_equal_torchvisions_published_counts(name):
    assert sum(p.numel() for p in archspec.compile(name).parameters()) == NUM_PARAMS[name]


def test_a_narrow_resnet_trains_one_step_with_every_parameter_reached():
    model = archspec.compile("resnet18", num_classes=10, input="32x32x3", width=0.25)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    nn.functional.cross_entropy(model(x), y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(
    "name, level, channels",
    [
        ("resnet18", "layer1", 64),
        ("resnet50", "layer2.0", 256),
        ("googlenet", "inception3a", 192),
        ("googlenet", "conv1", 3),
    ],
)
def test_the_levels_of_the_layout_run_on_their_own_as_torchvisions_do(name, level, channels):
    """`model.layer1(x)`, a block, an Inception module and a BasicConv2d are real modules, as in torchvision."""
    ref = reference(name).eval()
    busy_batch_norm(ref)
    ours = archspec.compile(name).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, channels, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(ours.get_submodule(level)(x), ref.get_submodule(level)(x), rtol=1e-4, atol=1e-4)
