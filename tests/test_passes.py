"""Overrides resize a spec without editing it."""

import pytest

import archspec
from archspec.errors import ArchspecError
from archspec.infer import infer
from archspec.passes import parse_shape


def test_classes_input_and_width_for_small_data():
    net = archspec.network("A", num_classes=10, input="32x32x1", width=0.25)
    stats = infer(net)
    convs = [layer.out_channels for layer in net.layers if layer.kind == "conv"]
    fcs = [layer.out_features for layer in net.layers if layer.kind == "fc"]
    assert convs == [16, 32, 64, 64, 128, 128, 128, 128] and fcs == [1024, 1024, 10]
    assert stats.input == (1, 32, 32) and stats.out_shape == (10,)
    first_fc = next(s for s in stats.layers if s.kind == "fc")
    assert stats.layers[0].params == 3 * 3 * 1 * 16 + 16 and first_fc.in_shape == (128, 1, 1)


def test_batch_norm_goes_between_conv_and_relu():
    net = archspec.network("conv3-4 maxpool FC-2", batch_norm=True)
    assert [layer.kind for layer in net.layers][:3] == ["conv", "batchnorm", "relu"] and net.name.endswith("-BN")


def test_batch_norm_on_a_batch_normalised_net_is_not_doubled():
    once = archspec.network("vgg16_bn")
    assert archspec.network("vgg16_bn", batch_norm=True) == once
    assert sum(layer.kind == "batchnorm" for layer in once.layers) == 13


def test_override_errors():
    with pytest.raises(ArchspecError, match="expected HxWxC"):
        parse_shape("32by32")
    with pytest.raises(ArchspecError, match="no FC layer"):
        archspec.network("conv3-4 maxpool", num_classes=3)
    assert parse_shape("28x28").channels == 3


def test_width_reaches_inside_blocks_and_branches_and_keeps_the_class_count():
    net = archspec.network("resnet50", width=0.25, num_classes=10)
    block = net.layers[4].blocks[0]
    assert [c.out_channels for c in block.body if c.kind == "conv"] == [16, 16, 64]
    assert block.shortcut[0].out_channels == 64 and net.layers[-2].out_features == 10
    inception3a = archspec.network("googlenet", width=0.5).layers[11]
    assert [b[0].out_channels for b in inception3a.branches[:3]] == [32, 48, 8]  # 64, 96, 16 halved
    assert inception3a.branches[3][1].out_channels == 16  # the pool projection, after the branch's max-pool


def test_batch_norm_override_leaves_nets_with_written_batch_norm_alone():
    assert archspec.network("resnet18", batch_norm=True) == archspec.network("resnet18")
