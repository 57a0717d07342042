"""The spec language reads Table 1 columns as the paper writes them, and rejects the rest clearly."""

import time

import pytest

from archspec.errors import ArchspecError, SpecError
from archspec.ir import FC, LRN, Conv, Dropout, MaxPool, ReLU, Softmax
from archspec.spec import load, parse, read_text


def kinds(net):
    return [layer.kind for layer in net.layers]


def test_table_form_with_unicode_times_and_implied_layers():
    net = parse("input (224 × 224 RGB image)\nconv3-64\nmaxpool\nFC-4096\nFC-4096\nFC-1000\nsoft-max\n")
    assert (net.input.height, net.input.width, net.input.channels) == (224, 224, 3)
    assert kinds(net) == [
        "conv",
        "relu",
        "maxpool",
        "fc",
        "relu",
        "dropout",
        "fc",
        "relu",
        "dropout",
        "fc",
        "softmax",
    ]
    assert net.weight_layers == 4


def test_plain_input_form_case_comments_and_separators():
    net = parse("INPUT 32X32x1  # grey digits\nConv5-8 | MaxPool | lrn\nfc-10 SOFTMAX")
    assert (net.input.height, net.input.width, net.input.channels) == (32, 32, 1)
    conv, _, pool, lrn, fc, sm = net.layers
    assert isinstance(conv, Conv) and (conv.kernel, conv.out_channels, conv.pad) == (5, 8, 2)
    assert isinstance(pool, MaxPool) and (pool.kernel, pool.stride) == (2, 2)
    assert isinstance(lrn, LRN) and (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    assert isinstance(fc, FC) and fc.out_features == 10 and isinstance(sm, Softmax)


def test_grey_table_input_and_default_input():
    assert parse("input (28 x 28 gray image) conv3-4").input.channels == 1
    net = parse("conv3-4 FC-2")
    assert (net.input.channels, net.input.height) == (3, 224)


def test_implied_nodes_carry_the_source_of_their_table_token():
    net = parse("input 8x8x3\n  conv3-4\nFC-5 FC-2", path="x.txt")
    relu = net.layers[1]
    assert isinstance(relu, ReLU) and (relu.src.line, relu.src.col, relu.src.text) == (2, 3, "conv3-4")
    assert isinstance(net.layers[4], Dropout) and net.layers[4].src.text == "FC-5"
    assert str(net.layers[0].src) == "x.txt:2:3"


def test_last_fc_has_no_relu_or_dropout():
    assert kinds(parse("conv1-2 FC-3"))[-1] == "fc"


def test_paper_specs_load_with_their_names(spec_dir):
    for name, weight_layers in {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19, "B-conv5": 8}.items():
        net = load(spec_dir / f"{name}.txt")
        assert (net.name, net.weight_layers) == (name, weight_layers)
        assert net.source.endswith(f"{name}.txt")


@pytest.mark.parametrize(
    "text, where, found, hint",
    [
        ("conv3_64", "1:1", "'conv3_64'", "did you mean 'conv3-64'?"),
        ("conv3-64\n  FC4096", "2:3", "'FC4096'", "did you mean 'FC-4096'?"),
        ("conv3-64 max-pool", "1:10", "'max-pool'", "did you mean 'maxpool'?"),
        ("conv3-64 soft_max", "1:10", "'soft_max'", "did you mean 'soft-max'?"),
        ("conv3-64 relu", "1:10", "'relu'", "implied by the paper"),
        ("conv3-64 maxpoll", "1:10", "'maxpoll'", "did you mean 'maxpool'?"),
        ("conv4-64", "1:5", "even kernel size 4", "odd kernels"),
        ("conv3-0", "1:7", "channel count 0", None),
        ("conv0-8", "1:5", "kernel size 0", None),
        ("conv33-8", "1:5", "kernel size 33", None),
        ("conv3-" + "9" * 50, "1:7", "channel count 999999999999...", None),
        ("FC-0", "1:4", "FC width 0", None),
        ("input 0x5x3 conv3-4", "1:7", "input height 0", None),
        ("input 5x5x99 conv3-4", "1:11", "input channels 99", None),
        ("input (224 x 224 CMYK image) conv3-4", "1:18", "colour 'CMYK'", None),
        ("input (224) conv3-4", "1:1", "'input (224) conv3-4'", None),
        ("conv3-4 input 8x8x3", "1:9", "input after 'conv3-4'", None),
        ("input 8x8x3 input 8x8x3 conv3-4", "1:13", "a second input line", None),
        ("conv3-4 FC-2 soft-max FC-2", "1:23", "'FC-2' after soft-max", None),
        ("conv3-4 FC-2 conv3-4", "1:14", "'conv3-4' after 'FC-2'", None),
        ("conv3-4 soft-max", "1:9", "soft-max without an FC layer", None),
        ("maxpool", "1:1", "no weight layer", None),
        ("", "1:1", "no layers", None),
        ("# nothing\n\n", "1:10", "no layers", None),
    ],
)
def test_bad_specs_name_the_place_what_was_found_and_what_was_expected(text, where, found, hint):
    one_line_error(text, where, found, hint)


def one_line_error(text, where, found, hint) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(text, path="bad.txt")
    err = info.value
    assert f"{err.line}:{err.col}" == where and err.found.startswith(found), str(err)
    assert str(err).startswith(f"bad.txt:{where}: found {err.found}; expected ")
    if hint:
        assert hint in err.hint
    assert "\n" not in str(err)
    return err


def test_file_problems_are_one_line_errors(tmp_path):
    with pytest.raises(ArchspecError, match="is a directory"):
        read_text(tmp_path)
    with pytest.raises(ArchspecError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"conv3-64\nFC-\xff10\n")
    with pytest.raises(SpecError) as info:
        read_text(bad)
    assert (info.value.line, info.value.col) == (2, 4)
    assert "byte 0xff" in str(info.value)


def test_only_regular_files_of_bounded_size_are_read(tmp_path):
    import os

    with pytest.raises(ArchspecError, match="/dev/zero: is not a regular file"):
        read_text("/dev/zero")  # would otherwise grow without bound
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ArchspecError, match="is not a regular file"):
        read_text(fifo)  # would otherwise block forever
    big = tmp_path / "big.txt"
    big.write_text("conv3-64\n" * 200_000)
    with pytest.raises(ArchspecError, match=r"1,800,000 bytes; expected a spec file of at most 1,048,576 bytes"):
        read_text(big)
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    with pytest.raises(ArchspecError, match="symlink loop"):
        read_text(loop)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffinput 32x32x3 conv3-8 maxpool FC-10 soft-max".encode())
    assert load(path).input.height == 32


@pytest.mark.parametrize("word, fixed", [("conv３-６４", "conv3-64"), ("FC-٤٠٩٦", "FC-4096")])
def test_non_ascii_digits_are_refused_with_the_ascii_spelling(word, fixed):
    with pytest.raises(
        SpecError, match=f"found the non-ASCII digit .* expected ASCII digits 0-9 .did you mean '{fixed}"
    ):  # noqa: E501
        parse(f"conv3-8 {word} FC-10")


def test_non_ascii_digits_in_comments_are_fine():
    assert parse("# ３ layers, ¹ note\nconv3-8 FC-10").layers[0].label == "conv3-8"


# ---------------------------------------------------------------- the language beyond VGG


def test_strides_windows_padding_and_ceil_mode():
    net = parse("input 224x224x3 conv11-64/4p2 maxpool3/2 conv7-8/2 maxpool3/2p1 maxpool3/1p1ceil maxpool FC-2")
    conv, _, pool, conv7, _, pool_p, pool_c, pool2, _ = net.layers
    assert (conv.kernel, conv.stride, conv.pad) == (11, 4, 2) and conv7.pad == 3  # 'same' is k // 2
    assert (pool.kernel, pool.stride, pool.padding, pool.ceil) == (3, 2, 0, False)
    assert (pool_p.padding, pool_c.stride, pool_c.ceil) == (1, 1, True)
    assert (pool2.kernel, pool2.stride) == (2, 2) and pool2.label == "maxpool"
    assert [layer.label for layer in (conv, pool_p, pool_c)] == ["conv11-64/4p2", "maxpool3/2p1", "maxpool3/1p1ceil"]


def test_written_batch_norm_drops_the_conv_bias_and_comes_before_the_relu():
    net = parse("set bn-eps 0.001\nconv3-8 bn conv3-8 maxpool bn avgpool FC-2")
    assert kinds(net) == ["conv", "batchnorm", "relu", "conv", "relu", "maxpool", "batchnorm", "avgpool_global", "fc"]
    assert net.layers[0].bias is False and net.layers[3].bias is True
    assert net.layers[1].eps == net.layers[6].eps == 0.001


def test_written_dropout_replaces_the_implied_one():
    net = parse("conv3-8 maxpool dropout FC-16 dropout0.2 FC-16 FC-2")
    assert kinds(net)[3:] == ["dropout", "fc", "relu", "dropout", "fc", "relu", "fc"]
    assert [layer.p for layer in net.layers if isinstance(layer, Dropout)] == [0.5, 0.2]


def test_a_stage_repeats_its_block_with_the_stride_on_the_first_only_and_auto_shortcuts():
    net = parse("input 32x32x3 conv3-16 bn\n[conv1-8 bn; conv3-8/2 bn; conv1-32 bn] ×3\navgpool FC-2")
    stage = net.layers[3]
    assert stage.kind == "stage" and len(stage.blocks) == 3
    first, second, _ = stage.blocks
    body = [layer.kind for layer in first.body]
    assert body == ["conv", "batchnorm", "relu", "conv", "batchnorm", "relu", "conv", "batchnorm"]  # ReLU after add
    assert [c.stride for c in first.body if isinstance(c, Conv)] == [1, 2, 1]
    assert [c.stride for c in second.body if isinstance(c, Conv)] == [1, 1, 1]
    proj, bn = first.shortcut  # 16 -> 32 channels, stride 2: torchvision's downsample
    assert (proj.kernel, proj.out_channels, proj.stride, proj.bias, bn.kind) == (1, 32, 2, False, "batchnorm")
    assert second.shortcut == ()  # the identity
    assert net.weight_layers == 1 + 3 * 3 + 1  # the projection is not on the longest path


def test_explicit_shortcuts_and_the_identity():
    net = parse("input 8x8x3 conv3-4 [conv3-4 + identity] [conv3-8/2 + conv1-8/2 bn] FC-2")
    assert net.layers[2].blocks[0].shortcut == ()
    proj = net.layers[3].blocks[0].shortcut
    assert [layer.label for layer in proj] == ["conv1-8/2", "batchnorm"] and proj[0].bias is False


def test_branches_are_concatenated_and_every_conv_gets_its_relu():
    net = parse("input 8x8x3 conv3-8 {conv1-4 | conv1-2 conv3-6 | maxpool3/1p1 conv1-2} FC-2")
    concat = net.layers[2]
    assert concat.kind == "concat" and [len(b) for b in concat.branches] == [2, 4, 3]
    assert [layer.kind for layer in concat.branches[2]] == ["maxpool", "conv", "relu"]
    assert net.weight_layers == 1 + 2 + 1


@pytest.mark.parametrize(
    "text, where, found, hint",
    [
        ("conv7-64s2", "1:1", "'conv7-64s2'", "strides are written conv7-64/2"),
        ("conv7-64-stride2", "1:1", "'conv7-64-stride2'", "strides are written conv7-64/2"),
        ("conv3-64 stride 2", "1:10", "'stride'", "written on the layer"),
        ("conv7x7-64", "1:1", "'conv7x7-64'", "kernels are written by one side: conv7-64"),
        ("conv3-8 avg-pool FC-2", "1:9", "'avg-pool'", "global average pooling is written avgpool"),
        ("conv3-8 concat", "1:9", "'concat'", "parallel branches are written {"),
        ("conv3-8 shortcut", "1:9", "'shortcut'", "residual blocks are written ["),
        ("conv3-8 dropout1.5", "1:9", "'dropout1.5'", "probability below 1"),
        ("conv3-8 [conv3-8 bn", "1:9", "an unclosed '['", None),
        ("conv3-8 ]", "1:9", "an unmatched ']'", None),
        ("conv3-8 {conv3-8 | conv3-8", "1:9", "an unclosed '{'", None),
        ("conv3-8 ×3", "1:9", "'×3' after 'conv3-8'", None),
        ("conv3-8 [conv3-8] x0", "1:20", "repeat count 0", None),
        ("conv3-8 []", "1:9", "an empty residual block", None),
        ("conv3-8 {conv3-8 | }", "1:9", "an empty branch", None),
        ("conv3-8 + conv3-8", "1:9", "'+' outside a residual block", None),
        ("conv3-8 [conv3-8 +]", "1:19", "an empty shortcut", None),
        ("conv3-8 identity", "1:9", "'identity' outside a shortcut", None),
        ("conv3-8 [FC-3]", "1:10", "'FC-3' inside a residual block", None),
        ("conv3-8 FC-3 [conv3-8]", "1:14", "'[conv3-8 ...]' after 'FC-3'", None),
        ("maxpool3/2p2 conv3-8", "1:12", "pool padding 2", None),
        ("conv3-8 set bn-eps 0.1", "1:9", "'set' after the first layer", None),
        ("set bn-eps 2 conv3-8", "1:12", "bn-eps 2", None),
        ("set momentum 1 conv3-8", "1:1", "'set momentum 1 conv3-8'", None),
        ("conv3-8 {conv1-2 | [conv3-2]}", "1:20", "a residual block inside a branch", None),
        ("conv3-8 " + "[" * 1500, "1:10", "a residual block inside a residual block", None),  # no recursion
        ("conv3-8 {conv1-2 | " + "{" * 1500, "1:20", "branches inside a branch", None),
        ("conv3-8 [maxpool]", "1:9", "a residual block without a conv", None),
        ("conv3-8 [conv3-8 + maxpool]", "1:9", "a shortcut without a conv", None),
        ("conv3-8 [conv3-8] {conv1-2 | conv3-2}", "1:19", "branches in a net with residual blocks", None),
    ],
)
def test_constructs_the_language_cannot_express_name_themselves(text, where, found, hint):
    assert "did you mean 'conv" not in str(one_line_error(text, where, found, hint))


def test_shipped_resnet_specs_put_the_stride_where_their_names_say(spec_dir):
    def strides(name):
        stage = load(spec_dir / f"{name}.txt").layers[5]  # conv3_x
        return [c.stride for c in stage.blocks[0].body if isinstance(c, Conv)]

    assert strides("resnet50") == [1, 2, 1] and strides("resnet50-v1") == [2, 1, 1] and strides("resnet18") == [2, 1]


@pytest.mark.parametrize(
    "unit, layers, count",
    [
        ("[conv1-1] x1000 ", 1000, 1000),  # a million blocks
        ("[conv1-1 conv1-1] x1000 ", 2000, 6),
        ("{conv1-1 | conv1-1} ", 2, 6000),  # written out, no repeat
        ("conv1-1 ", 1, 20000),
    ],
    ids=["repeated", "repeated-pairs", "branches", "written"],
)
def test_a_net_of_more_than_ten_thousand_layers_is_refused_before_it_is_expanded(unit, layers, count):
    """The item that takes the net past 10,000 written layers is named, at its place, with the total it makes."""
    first_over = 10_000 // layers + 1
    col, total = len("input 8x8x1 ") + (first_over - 1) * len(unit) + 1, first_over * layers
    started = time.perf_counter()
    with pytest.raises(SpecError, match=rf"<spec>:1:{col}: found .*brings the net to {total:,} layers.*most 10,000"):
        parse("input 8x8x1 " + unit * count + "FC-2")
    assert time.perf_counter() - started < 10
    assert len(parse("input 8x8x1 " + "[conv1-1] x1000 " * 9 + "[conv1-1] x999 FC-2").layers) == 11
