"""The fully convolutional form equals the classifier on crops and slides it over larger images."""

import pytest
import torch

import archspec
from archspec.compiler.dense import to_dense

SPEC = "input 32x32x3 conv3-8 maxpool conv3-16 maxpool conv3-16 maxpool FC-32 FC-32 FC-5 soft-max"


@pytest.fixture
def model():
    torch.manual_seed(0)
    return archspec.compile(SPEC).eval()


def test_crop_size_input_gives_the_logits(model):
    x = torch.randn(3, 3, 32, 32)
    dense = to_dense(model)
    torch.testing.assert_close(dense(x).flatten(1), model(x), rtol=1e-5, atol=1e-6)


def test_larger_input_gives_a_score_map_of_windowed_classifiers(model):
    x = torch.randn(1, 3, 48, 56)
    scores = to_dense(model)(x)  # features: 6x7 map; first FC is a 4x4 conv -> 3x4 positions
    assert scores.shape == (1, 5, 3, 4)
    fmap = model.features(x)
    for i, j in [(0, 0), (2, 3), (1, 2)]:
        window = fmap[:, :, i : i + 4, j : j + 4].flatten(1)
        torch.testing.assert_close(scores[:, :, i, j], model.classifier(window), rtol=1e-5, atol=1e-6)


def test_vgg_d_dense_form_slides_a_7x7_then_1x1_convs():
    with torch.device("meta"):  # shapes only: no memory, no init time
        dense = to_dense(archspec.compile("D").eval())
        assert dense(torch.empty(1, 3, 224, 224)).shape == (1, 1000, 1, 1)
        assert dense(torch.empty(1, 3, 320, 288)).shape == (1, 1000, 4, 3)  # a 10x9 map, a 7x7 window


@pytest.mark.parametrize(
    ("spec", "stride"),
    [("D", 32), ("A-LRN", 32), ("B-conv5", 32), ("alexnet", 1), (SPEC, 8), ("conv3-8 maxpool avgpool FC-5", 1)],
)
def test_dense_stride_is_the_floor_division_of_the_map_or_none(spec, stride):
    """VGG's maps are the input floor-divided by 32; AlexNet's conv11/4 and 3x3/2 pools use their margins."""
    with torch.device("meta"):
        assert to_dense(archspec.compile(spec)).stride == stride


def test_dense_needs_fc_layers():
    with pytest.raises(ValueError, match="no FC layer"):
        to_dense(archspec.compile("conv3-4 maxpool"))


def test_a_global_pool_net_is_fully_convolutional_and_its_mean_score_is_its_output():
    model = archspec.compile("googlenet", num_classes=5, input="64x64x3", width=0.25).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        scores = to_dense(model)(x)  # (N, K, h, w): the FC layer at every position of the last map
        assert scores.shape == (2, 5, 3, 3)
        torch.testing.assert_close(scores.mean((2, 3)), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("spec", "side", "step"),
    [("resnet18", 32, 32), ("resnet18", 64, 32), ("googlenet", 32, 32), ("plain34", 32, 32), ("alexnet", 64, 64)],
)
def test_a_net_without_a_floor_chain_is_scored_on_windows_its_own_size(spec, side, step):
    """Its last map before global pooling (or the first FC layer) is its input over `step`: 1x1 at 32 pixels for
    ResNet, 2x2 at 64; VGG's floor chain needs no windows."""
    with torch.device("meta"):
        dense = to_dense(archspec.compile(spec, num_classes=10, input=f"{side}x{side}x1", width=0.125))
        assert (dense.stride, dense.window_step) == (1, step)
        assert to_dense(archspec.compile("D", input="32x32x1", width=0.125)).window_step is None


def test_a_net_whose_first_layer_is_fc_needs_no_windows():
    with torch.device("meta"):
        assert to_dense(archspec.compile("input 8x8x1 FC-16 FC-4 soft-max")).window_step is None
