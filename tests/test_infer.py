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


# The figures: analytic, conv + FC MACs at 224x224 (torchvision's published parameter counts).
BEYOND = {
    "resnet18": (18, 11_689_512, 1_814_073_344),
    "resnet34": (34, 21_797_672, 3_663_761_408),
    "resnet50": (50, 25_557_032, 4_089_184_256),
    "resnet101": (101, 44_549_160, 7_801_405_440),
    "resnet152": (152, 60_192_808, 11_513_626_624),
    "resnet50-v1": (50, 25_557_032, 3_857_973_248),
    "resnet101-v1": (101, 44_549_160, 7_570_194_432),
    "resnet152-v1": (152, 60_192_808, 11_282_415_616),
    "alexnet": (8, 61_100_840, 714_188_480),
    "googlenet": (22, 6_624_904, 1_498_376_192),
}


@pytest.mark.parametrize("name", BEYOND)
def test_beyond_vgg_exact_depth_params_and_macs(name):
    stats = infer(archspec.network(name))
    assert (stats.weight_layers, stats.params, stats.macs) == BEYOND[name]


def test_v1_resnets_reproduce_the_resnet_papers_gflops():
    # Table 1 of the ResNet paper: 1.8, 3.6, 3.8, 7.6, 11.3 x 10^9 FLOPs (multiply-adds)
    got = [round(infer(archspec.network(n)).macs / 1e9, 1) for n in ("resnet18", "resnet34")]
    got += [round(infer(archspec.network(f"resnet{d}-v1")).macs / 1e9, 1) for d in (50, 101, 152)]
    assert got == [1.8, 3.7, 3.9, 7.6, 11.3] or got == [1.8, 3.6, 3.8, 7.6, 11.3]


def test_hand_computed_residual_block_with_a_projection():
    stats = infer(archspec.parse("input 8x8x4 [conv3-8/2 bn conv3-8 bn] FC-2"))
    rows = {(s.kind, s.label): s for s in stats.layers}
    first, proj = [s for s in stats.layers if s.kind == "conv"][0], [s for s in stats.layers if s.kind == "conv"][2]
    assert first.out_shape == (8, 4, 4) and first.params == 9 * 4 * 8 and first.macs == 9 * 4 * 8 * 16
    assert (proj.label, proj.out_shape, proj.params, proj.macs) == ("conv1-8/2", (8, 4, 4), 32, 32 * 16)
    add = rows[("residual", "add (projection), relu")]
    assert add.in_shape == (4, 8, 8) and add.out_shape == (8, 4, 4) and add.params == 0
    assert stats.params == 288 + 16 + 576 + 16 + 32 + 16 + (128 * 2 + 2)
    assert stats.layers[-2] is not add and stats.layers[-2].kind == "stage"  # a group after its children


def test_hand_computed_concat_and_ceil_mode_pool():
    stats = infer(archspec.parse("input 7x7x2 maxpool3/2ceil {conv1-3 | conv3-5 | maxpool3/1p1ceil}"))
    assert stats.layers[0].out_shape == (2, 3, 3)  # ceil((7 - 3) / 2) + 1, where floor mode also gives 3
    assert infer(archspec.parse("input 8x8x2 conv1-2 maxpool3/2ceil")).layers[-1].out_shape == (2, 4, 4)  # floor: 3
    concat = stats.layers[-1]
    assert concat.kind == "concat" and concat.out_shape == (3 + 5 + 2, 3, 3)
    assert stats.params == (2 * 3 + 3) + (9 * 2 * 5 + 5)


def test_a_residual_add_of_different_shapes_names_the_block():
    with pytest.raises(SpecError) as info:
        infer(archspec.parse("input 8x8x3\nconv3-4\n  [conv3-8 + identity] FC-2", path="r.txt"))
    assert (info.value.line, info.value.col) == (3, 3) and "8x8x8 and the identity shortcut's 8x8x4" in info.value.found


def test_a_too_small_map_inside_a_block_names_the_layer_in_it():
    with pytest.raises(SpecError) as info:
        infer(archspec.parse("input 8x8x3\n{conv1-2 | conv3-8/2 conv5-8p0\n conv5-8p0}", path="b.txt"))
    assert (info.value.line, info.value.col) == (2, 22) and info.value.found == "conv5-8p0 on a 4x4 map"


def test_shapes_have_named_fields_in_torchs_order_and_print_as_the_papers_do():
    from archspec.infer import MapShape, VectorShape
    from archspec.ir import dims_text

    stats = infer(archspec.network("D"))
    first, last = stats.layers[0].out_shape, stats.out_shape
    assert first == MapShape(channels=64, height=224, width=224) == (64, 224, 224) and first.width == 224
    assert last == VectorShape(features=1000) and stats.input.channels == 3
    assert (dims_text(first), dims_text(last)) == ("224x224x64", "1000")
