"""Shape inference against the paper's Table 2, its MAC figures and hand-computed cases."""

import pytest

import archspec
from archspec.errors import SpecError
from archspec.infer import infer

from .compiler.torchvision_vgg import NUM_PARAMS

# Table 2 exact counts (paper.md) and the MACs at 224x224.
TABLE2 = {
    "A": 132_863_336,
    "A-LRN": 132_863_336,
    "B": 133_047_848,
    "C": 133_638_952,
    "D": 138_357_544,
    "E": 143_667_240,
}
MACS = {"A": 7_609_090_048, "D": 15_470_264_320, "E": 19_632_062_464}


@pytest.mark.parametrize("name", TABLE2)
def test_table2_exact_counts(name):
    assert infer(archspec.network(name)).params == TABLE2[name]


@pytest.mark.parametrize("name", MACS)
def test_macs_at_224(name):
    assert infer(archspec.network(name)).macs == MACS[name]


def test_vgg16_conv_macs_match_the_resnet_papers_figure():
    stats = infer(archspec.network("D"))
    conv = sum(s.macs for s in stats.layers if s.kind == "conv")
    assert round(conv / 1e9, 2) == 15.35 and stats.flops == 2 * stats.macs


@pytest.mark.parametrize("name", NUM_PARAMS)
def test_torchvision_published_counts_including_bn(name):
    assert infer(archspec.network(name)).params == NUM_PARAMS[name]


def test_hand_computed_small_net():
    stats = infer(archspec.parse("input 7x5x2 conv3-4 maxpool conv1-6 FC-10"))
    conv, relu, pool, conv1, relu1, fc = stats.layers
    assert conv.out_shape == (4, 7, 5) and conv.params == 3 * 3 * 2 * 4 + 4 and conv.macs == 9 * 2 * 4 * 35
    assert pool.out_shape == (4, 3, 2)  # floor on odd sizes, like nn.MaxPool2d
    assert conv1.params == 4 * 6 + 6 and conv1.macs == 4 * 6 * 6
    assert fc.in_shape == (6, 3, 2) and fc.params == 36 * 10 + 10 and fc.macs == 360
    # pool makes the jump 2; the FC spans the map's 3 rows: 4 + (3-1)*2
    assert [s.rf for s in (conv, pool, conv1, fc)] == [3, 4, 4, 8]
    assert [s.jump for s in (conv, pool, conv1)] == [1, 2, 2]
    assert conv.activations == 4 * 7 * 5 and relu.activations == conv.activations and relu1.params == 0


def test_vgg16_receptive_field():
    stats = infer(archspec.network("D"))
    convs = [s for s in stats.layers if s.kind == "conv"]
    pools = [s for s in stats.layers if s.kind == "maxpool"]
    # by hand: 3, 5 | 6 | 10, 14 | 16 | 24, 32, 40 | 44 | 60, 76, 92 | 100 | 132, 164, 196 | 212
    assert (convs[-1].rf, convs[-1].jump) == (196, 16) and (pools[-1].rf, pools[-1].jump) == (212, 32)
    assert convs[1].rf == 5 and convs[6].rf == 40  # stacked 3x3 convs see 5x5, three in block 3 add 8 each


def test_pool_below_one_pixel_names_the_maxpool():
    with pytest.raises(SpecError) as info:
        infer(archspec.parse("input 4x4x3\nconv3-8 maxpool maxpool\nmaxpool FC-2", path="t.txt"))
    assert (info.value.line, info.value.col) == (3, 1) and "1x1 map" in info.value.found


def test_pool_below_one_pixel_from_an_input_override():
    with pytest.raises(SpecError, match=r"D.txt:\d+:1: found maxpool on a 1x1 map"):
        archspec.network("D", input="16x16x3")
