"""A layer kind added as one class in archspec/kinds.py: windowed average pooling, from the spec to torch."""

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec.errors import SpecError
from archspec.infer import infer
from archspec.ir import Network, WindowAvgPool

SPEC = "input 14x14x3 conv3-4 avgpool5/3 conv1-2 avgpool2ceil avgpool3/1p1 FC-3"


def test_it_is_read_counted_and_shaped_like_torchs_avgpool2d():
    net = archspec.parse(SPEC)
    pools = [layer for layer in net.layers if isinstance(layer, WindowAvgPool)]
    assert [(p.kernel, p.stride, p.padding, p.ceil) for p in pools] == [
        (5, 3, 0, False),
        (2, 2, 0, True),
        (3, 1, 1, False),
    ]
    assert [p.label for p in pools] == ["avgpool5/3", "avgpool2/2ceil", "avgpool3/1p1"]
    stats = infer(net)
    shapes = [s.out_shape for s in stats.layers if s.kind == "avgpool_window"]
    x = torch.zeros(1, 4, 14, 14)
    x = F.avg_pool2d(x, 5, 3)  # (14 - 5) // 3 + 1 = 4
    y = F.avg_pool2d(torch.zeros(1, 2, *x.shape[-2:]), 2, 2, ceil_mode=True)
    assert shapes[0] == (4, *x.shape[-2:]) and shapes[1] == (2, *y.shape[-2:]) == (2, 2, 2) and shapes[2] == (2, 2, 2)
    assert stats.params == (9 * 3 * 4 + 4) + (4 * 2 + 2) + (8 * 3 + 3)


def test_it_compiles_to_avgpool2d_and_computes_it():
    model = archspec.compile(SPEC).eval()
    pools = [m for m in model.features if isinstance(m, torch.nn.AvgPool2d)]
    assert [(p.kernel_size, p.stride, p.ceil_mode) for p in pools] == [(5, 3, False), (2, 2, True), (3, 1, False)]
    x = torch.randn(2, 3, 14, 14)
    with torch.no_grad():
        assert model(x).shape == (2, 3)


def test_a_window_larger_than_the_map_names_the_layer():
    with pytest.raises(SpecError) as info:
        infer(archspec.parse("input 4x4x3\nconv3-4 avgpool5/3 FC-2", path="p.txt"))
    assert (info.value.line, info.value.col) == (2, 9) and info.value.found.startswith("avgpool5/3 on a 4x4 map")


def test_global_average_pooling_is_still_plain_avgpool():
    net = archspec.parse("conv3-4 avgpool FC-2")
    assert net.layers[2].kind == "avgpool_global" and infer(net).layers[2].out_shape == (4, 1, 1)


def test_a_network_saved_with_the_old_global_pool_kind_name_still_loads():
    net = archspec.network("resnet18")
    old = net.model_dump_json().replace('"kind":"avgpool_global"', '"kind":"avgpool"')
    assert '"avgpool"' in old and Network.model_validate_json(old) == net
