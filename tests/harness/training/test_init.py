import torch
from torch import nn

import archspec
from archspec.harness.training.init import initialise, preinit_from_a


def test_normal_init_has_the_asked_std_and_zero_bias():
    model = archspec.compile("D", num_classes=10, input="32x32x3", width=0.5)
    initialise(model, "normal", 0.1)
    w = model.features[2].weight
    assert abs(w.std().item() - 0.1) < 0.005 and model.features[2].bias.abs().sum() == 0


def test_glorot_bound():
    model = archspec.compile("conv3-64 FC-10")
    initialise(model, "glorot")
    w = model.features[0].weight
    bound = (6 / (3 * 9 + 64 * 9)) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_preinit_copies_a_first_four_convs_and_last_three_fcs():
    small = {"num_classes": 10, "input": "32x32x3", "width": 0.25}
    a, d = archspec.compile("A", **small), archspec.compile("D", **small)
    copied = preinit_from_a(d, a.state_dict(), a.net)
    # A: conv1 | conv2 | conv3_1 conv3_2 -> D: conv1_1 (features.0), conv2_1 (5), conv3_1 (10), conv3_2 (12)
    assert copied == [
        ("features.0", "features.0"),
        ("features.3", "features.5"),
        ("features.6", "features.10"),
        ("features.8", "features.12"),
        ("classifier.0", "classifier.0"),
        ("classifier.3", "classifier.3"),
        ("classifier.6", "classifier.6"),
    ]
    for src, dst in copied:
        assert torch.equal(dict(a.named_modules())[src].weight, dict(d.named_modules())[dst].weight)
    assert not torch.equal(a.features[3].weight[:, :64], d.features[2].weight[:, :64])  # conv1_2 stays random


def test_preinit_skips_shape_mismatches():
    a = archspec.compile("A", num_classes=5, input="32x32x3", width=0.25)
    d = archspec.compile("D", num_classes=10, input="32x32x3", width=0.25)
    copied = preinit_from_a(d, a.state_dict(), a.net)
    assert ("classifier.6", "classifier.6") not in copied and len(copied) == 6
    assert isinstance(d.classifier[6], nn.Linear)


def test_every_scheme_initialises_convs_without_a_bias():
    """ResNet's convs before batch norm have no bias: the paper's normal init must not need one."""
    model = archspec.compile("input 32x32x3 conv3-8 bn [conv3-8 bn conv3-8 bn] avgpool FC-4 soft-max")
    for scheme in ("normal", "glorot", "torchvision"):
        initialise(model, scheme)
