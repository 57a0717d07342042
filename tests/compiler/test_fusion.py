"""The fusion pass groups exactly the conv/BN/ReLU/pool/add patterns into kernels, and nothing else."""

import pytest

import archspec
from archspec.compiler.fusion import launch_rows, launches
from archspec.ir import Conv, Network, ReLU, Shape, walk


def ops(net):
    return [(k.op, k.impl, len(k.layers)) for k in launches(net)]


def test_vgg_e_plan():
    net = archspec.network("E")
    steps = launches(net)
    assert [k.op for k in steps].count("conv_bias_relu_pool") == 5  # every block ends conv, relu, maxpool
    assert [k.op for k in steps].count("conv_bias_relu") == 16 - 5
    assert [k.op for k in steps][-5:] == ["linear_bias_relu", "dropout", "linear_bias_relu", "dropout", "linear_bias"]
    covered = sorted(i for k in steps for i in k.layers)
    assert covered == list(range(len(net.layers) - 1))  # every layer once, soft-max excepted


def test_a_lrn_keeps_the_pool_after_lrn_in_torch():
    assert ops(archspec.network("A-LRN"))[:3] == [
        ("conv_bias_relu", "triton", 2),
        ("lrn", "triton", 1),
        ("maxpool", "torch", 1),
    ]


def test_batch_norm_folds_into_the_conv_and_says_what_runs_where_in_training():
    net = archspec.network("conv3-4 maxpool FC-2", batch_norm=True)
    assert ops(net)[:2] == [("conv_bn_relu", "triton", 3), ("maxpool", "torch", 1)]
    assert "BN (batch statistics)" in launches(net)[0].training and launches(net)[-1].training == "same"


def test_strided_convs_run_in_triton_and_padding_past_the_kernel_in_torch():
    net = Network(
        name="s",
        input=Shape(channels=3, height=8, width=8),
        layers=(Conv(kernel=7, out_channels=4, stride=2, padding=3), ReLU(), Conv(kernel=1, out_channels=4, padding=1)),
    )
    assert ops(net) == [("conv_bias_relu", "triton", 2), ("conv", "torch", 1)]


def test_a_residual_block_adds_its_shortcut_in_the_last_kernel_of_its_body():
    net = archspec.network("input 8x8x3 conv3-4 bn [conv3-8/2 bn conv3-8 bn] [conv3-8 maxpool3/1p1] avgpool FC-2")
    assert ops(net) == [
        ("conv_bn_relu", "triton", 3),
        ("conv_bn", "triton", 2),  # the projection shortcut first: the body's last kernel adds it
        ("conv_bn_relu", "triton", 3),
        ("conv_bn_add_relu", "triton", 3),  # conv + folded BN + add + ReLU
        ("conv_bias", "triton", 1),  # a body's last weight layer: its ReLU comes after the add
        ("maxpool", "torch", 1),
        ("add_relu", "torch", 1),  # a body ending in a pool: the add in torch
        ("avgpool_global", "torch", 1),
        ("linear_bias", "triton", 1),
    ]
    covered = sorted(i for k in launches(net) for i in k.layers)
    stages = [i for i, n in enumerate(walk(net.layers)) if n.kind in ("stage", "softmax")]
    assert covered == sorted(set(range(len(list(walk(net.layers))))) - set(stages))  # every other node once


def test_inception_branches_are_planned_before_their_concatenation():
    net = archspec.network("input 8x8x3 {conv1-4 bn | maxpool3/1p1 conv1-2 bn} FC-2")
    assert ops(net) == [
        ("conv_bn_relu", "triton", 3),
        ("maxpool", "torch", 1),
        ("conv_bn_relu", "triton", 3),
        ("concat", "torch", 1),
        ("linear_bias", "triton", 1),
    ]


def test_an_op_without_a_launcher_is_an_error(monkeypatch):
    from archspec.compiler import triton_backend

    monkeypatch.delitem(triton_backend.LAUNCHERS, "conv_bn_add_relu")
    with pytest.raises(archspec.ArchspecError, match="op 'conv_bn_add_relu' has no Triton launcher"):
        archspec.compile("input 8x8x3 conv3-4 bn [conv3-4 bn conv3-4 bn] FC-2", backend="triton")


def test_rows_name_the_spec_layers_with_positions():
    rows = launch_rows(archspec.parse("input 8x8x3\nconv3-4\nmaxpool FC-2", path="t.txt"))
    assert rows[0] == {
        "kernel": 0,
        "op": "conv_bias_relu_pool",
        "impl": "triton",
        "layers": ["conv3-4 @2:1", "relu @2:1", "maxpool @3:1"],
        "training": "same",
    }
