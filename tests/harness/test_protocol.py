"""The test protocol's building blocks against their definitions (Sec. 3.2)."""

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec.compiler.dense import to_dense
from archspec.harness.protocol import (
    centre_trim,
    combine,
    dense_posterior,
    grid_offsets,
    multicrop_posterior,
    paper_scales,
    scale_posteriors,
    wrong,
)

SPEC = "input 16x16x3 conv3-6 maxpool conv3-8 maxpool FC-12 FC-5 soft-max"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = archspec.compile(SPEC).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, 0, 0.3)
    return m


def test_dense_on_a_crop_size_image_equals_the_plain_forward(model):
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(to_dense(model)(x).mean((2, 3)), model(x), rtol=1e-5, atol=1e-5)
        expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
        p, side = dense_posterior(to_dense(model), x)
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-6)
    assert side == 1  # a crop-size image gives a 1x1 class score map: one whole-image view


def test_crop_grid_reaches_the_corners_and_the_centre():
    assert grid_offsets(40, 32) == [0, 2, 4, 6, 8]  # 8 = 40 - 32 (far corner), 4 = (40 - 32) / 2 (centre)
    assert grid_offsets(256, 224)[0] == 0 and grid_offsets(256, 224)[-1] == 32 and 16 in grid_offsets(256, 224)
    assert grid_offsets(16, 16) == [0]  # a crop-size image has one position


def test_multicrop_averages_the_50_views(model):
    x = torch.randn(2, 3, 20, 24)
    views = [x[..., i : i + 16, j : j + 16] for i in (0, 1, 2, 3, 4) for j in (0, 2, 4, 6, 8)]
    views += [v.flip(-1) for v in views]
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(1) for v in views]).mean(0)
        p, distinct = multicrop_posterior(model, x, 16, chunk=7)
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-6)
    assert distinct == 50


def test_flip_averaging_is_symmetric(model):
    x = torch.randn(2, 3, 19, 23)
    dense = to_dense(model)
    a, _ = scale_posteriors(model, dense, x, 20, 16, lambda t: t)
    b, _ = scale_posteriors(model, dense, x.flip(-1), 20, 16, lambda t: t)
    for method in ("dense", "multi-crop"):
        torch.testing.assert_close(a[method], b[method], rtol=1e-5, atol=1e-6)


def test_combine_averages_scales_and_methods():
    p = {
        q: {"dense": torch.tensor([[q / 100, 1 - q / 100]]), "multi-crop": torch.tensor([[0.5, 0.5]])} for q in (20, 40)
    }
    out = combine(p, [20, 40])
    torch.testing.assert_close(out["dense"], torch.tensor([[0.3, 0.7]]))
    torch.testing.assert_close(out["multi-crop & dense"], torch.tensor([[0.4, 0.6]]))


def test_mistakes_hand_computed():
    p = torch.tensor([[0.1, 0.2, 0.3, 0.15, 0.05, 0.19], [0.9, 0.05, 0.02, 0.011, 0.01, 0.009]])
    # image 0, label 4: lowest score, outside the top 5; image 1, label 0: top-1; label 1: second
    top1, top5 = wrong(p, torch.tensor([4, 0]))
    assert top1.tolist() == [True, False] and top5.tolist() == [True, False]
    top1, top5 = wrong(p, torch.tensor([2, 1]))
    assert top1.tolist() == [False, True] and top5.tolist() == [False, False]


def test_views_say_when_dense_and_multicrop_collapse(model):
    """SPEC has two max-pools (16 -> 4): a 1x1 map needs Q < 20, 50 distinct crops need Q >= 20."""
    dense = to_dense(model)
    _, small = scale_posteriors(model, dense, torch.rand(1, 3, 16, 16), 18, 16, lambda t: t)
    _, large = scale_posteriors(model, dense, torch.rand(1, 3, 16, 16), 24, 16, lambda t: t)
    assert small == {"dense_map": 1, "crop_views": 2 * 3 * 3}  # offsets {0, 1, 2}: 9 positions x 2 flips
    assert large == {"dense_map": 3, "crop_views": 50}


def test_paper_test_scales():
    assert paper_scales((256, 256), 224) == [224, 256, 288]
    assert paper_scales((384, 384), 224) == [352, 384, 416]
    assert paper_scales((256, 512), 224) == [256, 384, 512]
    assert paper_scales((36, 36), 32) == [32, 36, 41]  # 32 scaled by crop/224, never below the crop


def test_rescale_keeps_the_aspect_ratio():
    from archspec.harness.protocol import rescale

    assert rescale(torch.rand(1, 3, 30, 45), 20).shape[-2:] == (20, 30)
    assert F.interpolate is not None


def test_centre_trim_cuts_evenly_to_multiples_of_the_stride():
    x = torch.arange(55 * 40.0).view(1, 1, 55, 40)
    trimmed = centre_trim(x, 32)
    assert trimmed.shape[-2:] == (32, 32)
    torch.testing.assert_close(trimmed, x[..., 11:43, 4:36])  # 23 rows cut 11 above, 12 below; 8 columns 4 + 4
    assert centre_trim(x[..., :32, :32], 32).shape[-2:] == (32, 32)
    assert centre_trim(x[..., :20, :20], 32).shape[-2:] == (20, 20)  # smaller than the stride: left whole


def test_dense_looks_at_the_centre_not_the_top_left(model):
    """SPEC strides by 4: at side 19 floor pooling leaves 3 pixels unused. They are split (1 above and left,
    2 below and right), so the dense posterior is that of the centre 16 x 16 and ignores the outer rows."""
    dense = to_dense(model)
    assert dense.stride == 4
    x = torch.randn(2, 3, 19, 19)
    with torch.no_grad():
        p, _ = dense_posterior(dense, x)
        torch.testing.assert_close(p, dense_posterior(dense, x[..., 1:17, 1:17])[0])
        changed = x.clone()
        changed[..., 0, :] = 5.0  # the top row: unused once centred (torch alone would use it)
        torch.testing.assert_close(dense_posterior(dense, changed)[0], p)
        assert not torch.allclose(dense(changed).mean((2, 3)), dense(x).mean((2, 3)))
