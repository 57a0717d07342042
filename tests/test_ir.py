"""The IR: immutable typed nodes, a discriminated union, JSON round-trip, no torch."""

import subprocess
import sys

import pydantic
import pytest

from archspec.ir import LRN, Concat, Conv, Network, Residual, Stage
from archspec.spec import load


def test_json_round_trip_keeps_every_node_and_position(spec_dir):
    net = load(spec_dir / "A-LRN.txt")
    again = Network.from_json(net.to_json())
    assert again == net
    assert [type(a) for a in again.layers] == [type(b) for b in net.layers]
    assert again.layers[2].kind == "lrn" and again.layers[2].src.line == 4


def test_nodes_are_frozen():
    conv = Conv(kernel=3, out_channels=8)
    with pytest.raises(pydantic.ValidationError):
        conv.out_channels = 16


def test_validation_errors_name_the_node():
    with pytest.raises(pydantic.ValidationError, match=r"layers\.0\.conv\.kernel"):
        Network.model_validate(
            {
                "name": "x",
                "input": {"channels": 3, "height": 8, "width": 8},
                "layers": [{"kind": "conv", "kernel": 0, "out_channels": 4}],
            }
        )
    with pytest.raises(pydantic.ValidationError, match="odd kernel"):
        Conv(kernel=4, out_channels=8)


def test_lrn_alpha_conventions():
    assert LRN().torch_alpha == pytest.approx(5e-4)  # AlexNet sums: torch's mean needs alpha * size
    assert LRN(alpha_convention="mean").torch_alpha == pytest.approx(1e-4)


def test_importing_the_ir_and_counting_do_not_import_torch():
    code = "import sys, archspec; archspec.infer(archspec.network('E')); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_nested_networks_round_trip_through_json_with_positions(spec_dir):
    for name in ("resnet50", "googlenet"):
        net = load(spec_dir / f"{name}.txt")
        again = Network.from_json(net.to_json())
        assert again == net and again.structure_hash() == net.structure_hash()
    block = load(spec_dir / "resnet50.txt").layers[4].blocks[0]
    assert block.src.line == 6 and block.shortcut[0].src == block.src  # the implied projection: the block's token


def test_a_group_inside_a_group_is_refused_by_the_ir():
    inner = Residual(body=(Conv(kernel=3, out_channels=4),))
    with pytest.raises(pydantic.ValidationError, match="a group inside a group"):
        Network(
            name="x",
            input={"channels": 3, "height": 8, "width": 8},
            layers=(Concat(branches=((Stage(blocks=(inner,)),),)),),
        )
