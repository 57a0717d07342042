"""The test protocol's building blocks against their definitions (Sec. 3.2)."""

from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec import memory
from archspec.compiler.dense import to_dense
from archspec.harness.evaluation.protocol import (
    combine,
    dense_views,
    image_posteriors,
    rescale,
    scale_posteriors,
    wrong,
)
from archspec.views import MULTI, dense_windows, grid_offsets, window_starts

SPEC = "input 16x16x3 conv3-6 maxpool conv3-8 maxpool FC-12 FC-5 soft-max"


def dense_posterior(model, x, crop):
    """The dense part alone on images x already at their test scale (a rescale to their own size is exact)."""
    out, seen = scale_posteriors(model, to_dense(model), x, min(x.shape[-2:]), crop, lambda t: t, ("dense",))
    return out["dense"], seen


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
        p, seen = dense_posterior(model, x, 16)
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-6)
    assert seen == {"dense_map": 1, "dense_cover": 1.0}  # a crop-size image: one whole-image view


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
        got = image_posteriors(model, to_dense(model), x, [20], 16, lambda t: t, ("multi-crop",))
        torch.testing.assert_close(got.scales[20]["multi-crop"], expected, rtol=1e-5, atol=1e-6)
    assert got.views[20] == {"crop_views": 50}


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
    # 18 = 16 + 2: windows at 0 and at the remainder 2, covering all 18 pixels (a trim to 16 would cover 79%)
    assert small == {"dense_map": 2, "dense_cover": 1.0, "crop_views": 2 * 3 * 3}  # crops {0, 1, 2}^2 x 2 flips
    assert large == {"dense_map": 3, "dense_cover": 1.0, "crop_views": 50}


def test_paper_test_scales():
    assert MULTI.scales((256, 256), 224) == [224, 256, 288]
    assert MULTI.scales((384, 384), 224) == [352, 384, 416]
    assert MULTI.scales((256, 512), 224) == [256, 384, 512]
    assert MULTI.scales((36, 36), 32) == [32, 36, 41]  # 32 scaled by crop/224, never below the crop
    assert MULTI.scales((37, 37), 32) == [32, 37, 42] and MULTI.scales((55, 55), 32) == [50, 55, 60]


def test_rescale_keeps_the_aspect_ratio():
    from archspec.harness.evaluation.protocol import rescale

    assert rescale(torch.rand(1, 3, 30, 45), 20).shape[-2:] == (20, 30)
    assert F.interpolate is not None


def test_shifted_views_reach_both_edges_and_padding_is_centred_zeros():
    x = torch.arange(55 * 40.0).view(1, 1, 55, 40)
    views = dense_views(x, 32, "shift")  # 55 = 32 + 23, 40 = 32 + 8: offsets {0, 23} x {0, 8}
    assert [tuple(v.shape[-2:]) for v in views] == [(32, 32)] * 4
    torch.testing.assert_close(views[3], x[..., 23:55, 8:40])  # the bottom-right view ends at the image's corner
    assert len(dense_views(x[..., :32, :32], 32, "shift")) == 1  # a multiple of the stride: the image itself
    (padded,) = dense_views(x, 32, "pad")
    assert padded.shape[-2:] == (64, 64)
    torch.testing.assert_close(padded[..., 4:59, 12:52], x)  # 9 rows: 4 above, 5 below; 24 columns: 12 + 12
    assert padded.sum() == x.sum()  # the rest is zeros: the mean colour after mean subtraction
    assert dense_views(x[..., :20, :20], 32, "pad")[0].shape[-2:] == (20, 20)  # below the stride: left whole


@pytest.mark.parametrize("fit", ["shift", "pad"])
@pytest.mark.parametrize("side", [32, 37, 41, 50, 55, 59, 64, 73])
def test_dense_windows_cover_every_pixel_counted_by_brute_force(side, fit):
    """The union of the crop-size windows at every score-map cell of every view, marked on the image itself."""
    marks = torch.zeros(side + 64, side + 64)  # room for padding on either side
    starts = set()
    for v in dense_views(torch.arange(side * side * 1.0).view(1, 1, side, side) + 1, 32, fit):
        first = v[0, 0].flatten()[v[0, 0].flatten() > 0][0].item() - 1  # the view's first image pixel
        vi, vj = int(first // side), int(first % side)
        oi = vi - int((v[0, 0] > 0).nonzero()[0][0])  # view origin in image coordinates (negative: padding)
        oj = vj - int((v[0, 0] > 0).nonzero()[0][1])
        for a in range(0, v.shape[-2] - 32 + 1, 32):
            for b in range(0, v.shape[-1] - 32 + 1, 32):
                marks[32 + oi + a : 64 + oi + a, 32 + oj + b : 64 + oj + b] = 1
                starts.add(oi + a)
    covered = marks[32 : 32 + side, 32 : 32 + side].mean().item()
    assert dense_windows(side, 32, 32, fit) == (len(starts), covered) and covered == 1.0


def test_dense_sees_the_whole_image_at_a_side_that_is_not_a_multiple_of_the_stride(model):
    """SPEC strides by 4: at side 19 floor pooling would drop 3 pixels. The shifted views score them: the
    posterior is the average over the four 16 x 16 views' windows, and a change in the top row moves it."""
    dense = to_dense(model)
    assert dense.stride == 4
    x = torch.randn(2, 3, 19, 19)
    with torch.no_grad():
        p, seen = dense_posterior(model, x, 16)
        views = [x[..., i : i + 16, j : j + 16] for i in (0, 3) for j in (0, 3)]
        both = [dense(torch.cat([v, v.flip(-1)])).mean((2, 3)) for v in views]  # 1x1 maps: one window each
        q = (sum(both) / 4).softmax(1)
        torch.testing.assert_close(p, (q[:2] + q[2:]) / 2, rtol=1e-5, atol=1e-6)
        changed = x.clone()
        changed[..., 0, :] = 5.0  # the top row, which a trim to the centre 16 x 16 ignored
        assert not torch.allclose(dense_posterior(model, changed, 16)[0], p)
    assert seen == {"dense_map": 2, "dense_cover": 1.0}


def test_a_global_pool_net_is_scored_on_crop_size_windows_not_on_the_larger_image():
    """ResNet trained at 32 pixels ends in a 1x1 map; the whole 37-pixel image would give it a 2x2 map it never
    saw (held-out error 88% instead of 11%). Its dense posterior is its logits on the four 32 x 32 windows at
    offsets 0 and 5, and their flips, averaged, then soft-max (hand-built from the plain forward)."""
    torch.manual_seed(0)
    model = archspec.compile("resnet18", num_classes=5, input="32x32x1", width=0.125).eval()
    x = torch.randn(2, 1, 37, 37)
    with torch.no_grad():
        p, seen = dense_posterior(model, x, 32)
        views = [x[..., i : i + 32, j : j + 32] for i in (0, 5) for j in (0, 5)]
        logits = sum(model(torch.cat([v, v.flip(-1)])) for v in views) / 4
        q = logits.softmax(1)
        torch.testing.assert_close(p, (q[:2] + q[2:]) / 2, rtol=1e-5, atol=1e-6)
    assert seen == {"dense_map": 2, "dense_cover": 1.0}


# ---------------------------------------------------------------- every view of a batch of images in one pass


def one_view_at_a_time(model, x01, scales, crop, fit):
    """The protocol by its definition, each view of each image alone through the net (the dense views through the
    dense form, whatever their size): {Q: {part: (B, K)}} and the centre crop's (B, K)."""
    dense, out = to_dense(model), {}
    for q in scales:
        x = rescale(x01, q)
        h, w = x.shape[-2:]
        crops = [x[..., i : i + crop, j : j + crop] for i in grid_offsets(h, crop) for j in grid_offsets(w, crop)]
        crops += [c.flip(-1) for c in crops]
        each = [torch.cat([model(c[b : b + 1]).softmax(1) for c in crops]).mean(0) for b in range(len(x))]  # (K,)
        out[q] = {"multi-crop": torch.stack(each)}
        flips = []
        for flip in (False, True):
            if dense.window_step:
                starts = [window_starts(n, dense.window_step, crop, fit) for n in (h, w)]  # negative: in the padding
                padded = F.pad(x, (crop, crop, crop, crop))  # zeros: the mean colour after mean subtraction
                views = [
                    padded[..., crop + i : 2 * crop + i, crop + j : 2 * crop + j] for i in starts[0] for j in starts[1]
                ]
                scores = [model(v.flip(-1) if flip else v) for v in views]  # (B, K) logits of each window
                flips.append((sum(scores) / len(scores)).softmax(1))
            else:
                maps = [dense(v.flip(-1) if flip else v) for v in dense_views(x, dense.stride, fit)]  # (B, K, h, w)
                cells = sum(m.shape[-2] * m.shape[-1] for m in maps)
                flips.append((sum(m.sum((2, 3)) for m in maps) / cells).softmax(1))
        out[q]["dense"] = sum(flips) / 2
    x = rescale(x01, round(crop * 256 / 224))
    top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
    return out, model(x[..., top : top + crop, left : left + crop]).softmax(1)


@contextmanager
def passes(model):
    """The input shape of every forward pass of `model` (its dense form's included) while inside."""
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    try:
        yield seen
    finally:
        hook.remove()


NETS = {  # a flat net of floor stride 4 (dense form off the crop) and a ResNet scored on crop-size windows
    "flat": (SPEC, {}, 16, [16, 19, 24, 37], (3, 3, 18, 18)),
    "resnet": ("resnet18", {"num_classes": 5, "input": "32x32x1", "width": 0.125}, 32, [32, 41], (1, 1, 34, 34)),
}


@pytest.mark.parametrize("fit", ["shift", "pad"])
@pytest.mark.parametrize("name", NETS)
def test_every_view_in_one_batch_gives_the_posteriors_of_one_view_at_a_time(name, fit):
    spec, options, crop, scales, size = NETS[name]
    torch.manual_seed(0)
    model = archspec.compile(spec, **options).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    x01 = torch.rand(size)
    with torch.no_grad():
        expected, centre = one_view_at_a_time(model, x01, scales, crop, fit)
        with passes(model) as shapes:
            got = image_posteriors(model, to_dense(model), x01, scales, crop, lambda t: t, dense_fit=fit, centre=True)
    for q in scales:
        for part in ("dense", "multi-crop"):
            torch.testing.assert_close(got.scales[q][part], expected[q][part], rtol=0, atol=1e-5)
    torch.testing.assert_close(got.centre, centre, rtol=0, atol=1e-5)
    # one forward pass per shape of view: crop-size (every crop, window and centre view, and the flat net's dense
    # views at Q = 16, and shift's at 19), and the flat net's other dense views: 24 x 24, at 19 padded to 20 x 20,
    # at 37 shifted (36 x 36) or padded (40 x 40)
    sides = {"resnet": [32], "flat": [16, 24, 36] if fit == "shift" else [16, 20, 24, 40]}[name]
    assert sorted(shape[-1] for shape in shapes) == sides and all(shape[-2] == shape[-1] for shape in shapes)


def test_a_batch_of_views_larger_than_the_budget_is_split_into_passes_the_budget_holds(model):
    """A budget of three crop-size views' activations: the crop-size views go three a pass, a larger dense view
    alone; the posteriors are those of one pass per shape."""
    x01, scales, dense = torch.rand(2, 3, 18, 18), [16, 19, 37], to_dense(model)
    three = 3 * (memory.needed(model.stats, 1) - memory.needed(model.stats, 0))  # bytes: 3 crop-size views
    with torch.no_grad():
        whole = image_posteriors(model, dense, x01, scales, 16, lambda t: t, centre=True)
        with passes(model) as shapes:
            split = image_posteriors(model, dense, x01, scales, 16, lambda t: t, centre=True, budget=three)
    crop_size = [s[0] for s in shapes if s[-2:] == (16, 16)]
    # crop-size: 2 images x (Q = 16: 2 crops, 2 dense views; 19: 32 crops (offsets {0, 1, 2, 3}), 8 dense views;
    # 37: 50 crops; 1 centre crop) = 190 views; at 37, 2 x 4 shifts of 36 x 36 and their flips, each over budget
    assert crop_size == [3] * 63 + [1] and [s[0] for s in shapes if s[-2:] == (36, 36)] == [1] * 16
    for q in scales:
        for part in ("dense", "multi-crop"):
            torch.testing.assert_close(split.scales[q][part], whole.scales[q][part], rtol=0, atol=1e-5)
    torch.testing.assert_close(split.centre, whole.centre, rtol=0, atol=1e-5)
