"""The fusion pass groups exactly the conv/ReLU/pool patterns into kernels, and nothing else."""

import archspec
from archspec.compiler.fusion import plan, plan_rows
from archspec.ir import Conv, Network, ReLU, Shape


def ops(net):
    return [(k.op, k.impl, len(k.layers)) for k in plan(net)]


def test_vgg_e_plan():
    net = archspec.network("E")
    steps = plan(net)
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


def test_batch_norm_splits_conv_from_relu():
    assert ops(archspec.network("conv3-4 maxpool FC-2", batch_norm=True))[:4] == [
        ("conv_bias", "triton", 1),
        ("batchnorm", "torch", 1),
        ("relu", "torch", 1),
        ("maxpool", "torch", 1),
    ]


def test_strided_conv_falls_back_to_torch():
    net = Network(
        name="s",
        input=Shape(channels=3, height=8, width=8),
        layers=(Conv(kernel=7, out_channels=4, stride=2, padding=3), ReLU()),
    )
    assert ops(net) == [("conv", "torch", 1), ("relu", "torch", 1)]


def test_rows_name_the_spec_layers_with_positions():
    rows = plan_rows(archspec.parse("input 8x8x3\nconv3-4\nmaxpool FC-2", path="t.txt"))
    assert rows[0] == {
        "kernel": 0,
        "op": "conv_bias_relu_pool",
        "impl": "triton",
        "layers": ["conv3-4 @2:1", "relu @2:1", "maxpool @3:1"],
    }
