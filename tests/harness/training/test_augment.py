"""The batched transforms equal their definitions: resize-then-crop-then-flip, AlexNet lighting, mean."""

import numpy as np
import torch
import torch.nn.functional as F

from archspec.harness.training.augment import Stats, centre, normalise, rescale_crop, sample_params


def test_rescale_crop_equals_interpolate_then_crop_then_flip():
    x = torch.rand(3, 2, 28, 20)
    s = torch.tensor([40, 30, 20])
    pos = torch.tensor([[0.3, 0.9], [0.0, 0.999], [0.5, 0.5]])
    flips = torch.tensor([False, True, True])
    out = rescale_crop(x, s, pos, flips, 16)
    for i in range(3):
        scale = s[i].item() / 20  # smallest side is the width
        nh, nw = round(28 * scale), round(20 * scale)
        big = F.interpolate(x[i : i + 1], size=(nh, nw), mode="bilinear", align_corners=False)
        oy, ox = int(pos[i, 0] * (nh - 16 + 1)), int(pos[i, 1] * (nw - 16 + 1))
        want = big[..., oy : oy + 16, ox : ox + 16]
        torch.testing.assert_close(out[i : i + 1], want.flip(-1) if flips[i] else want, atol=1e-5, rtol=0)


def test_centre_view_is_the_middle_after_rescale():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    torch.testing.assert_close(centre(x, 6, 2), x[..., 2:4, 2:4])


def test_stats_are_mean_and_covariance_eigenpairs():
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    stats = Stats.of_images(images)
    pixels = images.permute(1, 0, 2, 3).reshape(3, -1).double().numpy() / 255
    np.testing.assert_allclose(stats.mean, pixels.mean(1), rtol=1e-9)
    cov = np.cov(pixels, bias=True)
    vals, vecs = np.array(stats.eigval), np.array(stats.eigvec)
    np.testing.assert_allclose(cov @ vecs, vecs * vals, atol=1e-9)


def test_normalise_applies_alexnets_shift_then_subtracts_the_mean():
    stats = Stats(mean=(0.5, 0.4), eigval=(0.2, 0.01), eigvec=((0.6, -0.8), (0.8, 0.6)))
    x = torch.full((1, 2, 1, 1), 0.5)
    alpha = torch.tensor([[0.1, -1.0]])
    shift = 0.1 * 0.2 * torch.tensor([0.6, 0.8]) + (-1.0) * 0.01 * torch.tensor([-0.8, 0.6])
    torch.testing.assert_close(normalise(x, stats, alpha).flatten(), 0.5 + shift - torch.tensor([0.5, 0.4]))


def test_draws_depend_only_on_the_generator_seed():
    a = sample_params(torch.Generator().manual_seed(3), 8, 3, (32, 64), True, 0.1)
    b = sample_params(torch.Generator().manual_seed(3), 8, 3, (32, 64), True, 0.1)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert a[0].min() >= 32 and a[0].max() <= 64
