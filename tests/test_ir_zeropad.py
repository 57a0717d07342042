"""The option-A shortcut, `zeropad-<c>[/<stride>]` (archspec/kinds.py): read, shaped, counted and refused where it
does not belong, each mistake one line at the token that makes it."""

import subprocess

import pydantic
import pytest

import archspec
from archspec.errors import SpecError
from archspec.infer import infer
from archspec.ir import Conv, Network, Residual, Shape, Stage, ZeroPad

from .conftest import entry_point

BLOCK = "input 9x9x4 conv3-4 bn [conv3-8/2 bn conv3-8 bn + {}] avgpool FC-2"


def test_it_is_read_as_the_blocks_whole_shortcut_and_later_blocks_get_the_identity():
    stage = archspec.parse(BLOCK.format("zeropad-8/2").replace("]", "] ×3")).layers[3]
    first, *later = stage.blocks
    assert first.shortcut == (ZeroPad(out_channels=8, stride=2, src=first.shortcut[0].src),)
    assert first.shortcut[0].src.col == len("input 9x9x4 conv3-4 bn [conv3-8/2 bn conv3-8 bn + ") + 1
    assert [b.shortcut for b in later] == [(), ()] and first.label == "add (zeropad-8/2), relu"
    assert archspec.parse("conv3-4 [conv3-4 + zeropad-6] FC-2").layers[2].blocks[0].shortcut[0].stride == 1


def test_it_subsamples_and_pads_with_no_parameters_or_macs():
    # by hand: 9x9 -> every other pixel, ceil(9 / 2) = 5, as conv3-8/2 with padding 1 gives; 4 -> 8 channels
    rows = {s.kind: s for s in infer(archspec.parse(BLOCK.format("zeropad-8/2"))).layers}
    pad = rows["zeropad"]
    assert (pad.in_shape, pad.out_shape, pad.params, pad.macs, pad.activations) == ((4, 9, 9), (8, 5, 5), 0, 0, 200)
    assert (pad.rf, pad.jump) == (3, 2)  # one input pixel per output: the conv3 before it sees 3, the stride doubles


def test_the_width_override_scales_it_with_the_convs():
    net = archspec.network(BLOCK.format("zeropad-8/2"), width=0.5)
    assert net.layers[3].blocks[0].shortcut[0].out_channels == 4 and infer(net).layers[-1].out_shape == (2,)


@pytest.mark.parametrize(
    "shortcut, where, found, expected",
    [
        ("zeropad-8/3", "1:51", "a residual add of the body's 5x5x8 and zeropad-8/3's 3x3x8", "stride 2"),
        ("zeropad-16/2", "1:51", "a residual add of the body's 5x5x8 and zeropad-16/2's 5x5x16", "8 channels"),
        ("zeropad-2/2", "1:51", "zeropad-2/2 on 4 channels", "at least 4 channels out"),
    ],
    ids=["wrong stride", "wrong channels", "channel decrease"],
)
def test_a_shortcut_that_does_not_fit_its_block_is_named_at_its_token(shortcut, where, found, expected):
    with pytest.raises(SpecError) as info:
        infer(archspec.parse(BLOCK.format(shortcut), path="c.txt"))
    err = info.value
    assert str(err).startswith(f"c.txt:{where}: found {found}; expected ") and expected in err.expected
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    "text, where, found, expected",
    [
        ("conv3-4 [conv3-8 + zeropad] FC-2", "1:20", "'zeropad'", "is written zeropad-<c>/<stride>"),
        ("conv3-4 [conv3-8 + zeropad-/2] FC-2", "1:20", "'zeropad-/2'", "is written zeropad-<c>/<stride>"),
        ("conv3-4 [conv3-8 + zeropad-8/] FC-2", "1:20", "'zeropad-8/'", "is written zeropad-<c>/<stride>"),
        ("conv3-4 [conv3-8 + ] FC-2", "1:20", "an empty shortcut", "zeropad-<c>/<stride>"),
        ("conv3-4 [conv3-8 + zeropad-8/0] FC-2", "1:30", "stride 0", "stride from 1 to 31"),
        ("conv3-4 [conv3-8 + zeropad-0] FC-2", "1:28", "channel count 0", "channel count from 1"),
        ("conv3-4 zeropad-8 FC-2", "1:9", "'zeropad-8' outside a residual block", "alone as a residual"),
        ("conv3-4 [conv3-8 zeropad-8] FC-2", "1:18", "'zeropad-8' in a block's body", "alone as a residual"),
        ("conv3-4 [conv3-8 + zeropad-8 bn] FC-2", "1:20", "'zeropad-8' beside other layers", "alone as a"),
        ("conv3-4 {conv1-4 | zeropad-8} FC-2", "1:20", "'zeropad-8' in a branch", "alone as a residual"),
    ],
)
def test_misplaced_or_incomplete_zeropad_is_one_line_at_its_token(text, where, found, expected):
    with pytest.raises(SpecError) as info:
        archspec.parse(text, path="z.txt")
    err = info.value
    assert str(err).startswith(f"z.txt:{where}: found {found}") and expected in str(err) and "\n" not in str(err)


def test_the_cli_says_it_in_one_line_with_status_2(tmp_path):
    spec = tmp_path / "bad.txt"
    spec.write_text(BLOCK.format("zeropad-8/3"))
    done = subprocess.run([entry_point(), "params", str(spec)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"archspec: error: {spec}:1:51: found a residual add of the body's 5x5x8 and zeropad-8/3's 3x3x8; expected "
        "equal shapes (the body's 8 channels and stride 2 on zeropad-<c>[/<stride>])"
    ]


def test_the_ir_refuses_it_outside_a_shortcut_of_its_own_and_bad_fields():
    pad = ZeroPad(out_channels=8, stride=2)
    body = (Conv(kernel=3, out_channels=8, stride=2),)
    ok = Network(
        name="n",
        input=Shape(channels=4, height=8, width=8),
        layers=(Stage(blocks=(Residual(body=body, shortcut=(pad,)),)),),
    )
    assert Network.from_json(ok.to_json()) == ok
    for layers in [(pad,), (Stage(blocks=(Residual(body=body, shortcut=(pad, pad)),)),)]:
        with pytest.raises(pydantic.ValidationError, match="zeropad-8/2 outside a shortcut of its own"):
            Network(name="n", input=Shape(channels=4, height=8, width=8), layers=layers)
    with pytest.raises(pydantic.ValidationError, match="stride"):
        ZeroPad(out_channels=8, stride=0)
