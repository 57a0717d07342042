"""The spec language reads Table 1 columns as the paper writes them, and rejects the rest clearly."""

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
    with pytest.raises(SpecError) as info:
        parse(text, path="bad.txt")
    err = info.value
    assert f"{err.line}:{err.col}" == where
    assert err.found.startswith(found)
    assert str(err).startswith(f"bad.txt:{where}: found {err.found}; expected ")
    if hint:
        assert hint in err.hint
    assert "\n" not in str(err)


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
