"""Datasets: idx files, the embedded subset, determinism across ranks and resumes, and ImageNet-layout folders."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archspec.errors import ArchspecError
from archspec.harness.training.augment import Stats
from archspec.harness.training.config import DataConfig, TrainConfig
from archspec.harness.training.data import FolderData, holdout_split, load_idx_split, load_small, read_idx

from ..conftest import TINY, as_a_user, synthetic


def test_embedded_subset_is_stratified_fashion_mnist():
    data = load_small(DataConfig())  # 5,000 training images, 5% of each class held out
    assert data.train_x.shape == (4750, 1, 28, 28) and data.val_x.shape == (1000, 1, 28, 28)
    assert torch.bincount(data.train_y).tolist() == [475] * 10 and torch.bincount(data.val_y).tolist() == [100] * 10
    assert torch.bincount(data.holdout_y).tolist() == [25] * 10
    assert data.classes[0] == "T-shirt/top" and 0.2 < data.stats.mean[0] < 0.4


def test_read_idx_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 2, 2, 3) + bytes(range(12)))
    assert read_idx(path).tolist() == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x01\x02garbage")
    with pytest.raises(ArchspecError, match="not a readable idx file"):
        read_idx(bad)


def write_idx(path, array):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype("uint8").tobytes())


def test_mnist_layout_idx_folder_loads(tmp_path):
    """The standard file names (train-*, t10k-*), as Debian's dataset-fashion-mnist installs them."""
    gen = torch.Generator().manual_seed(0)
    for split, n in (("train", 20), ("t10k", 6)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", torch.randint(0, 256, (n, 28, 28), generator=gen).numpy())
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", (torch.arange(n) % 10).numpy())
    data = load_small(DataConfig(source="fashion-mnist", root=str(tmp_path), holdout=0.0))
    assert data.train_x.shape == (20, 1, 28, 28) and data.val_y.tolist() == [0, 1, 2, 3, 4, 5]
    assert data.classes[9] == "Ankle boot"
    assert load_small(DataConfig(source="mnist", root=str(tmp_path))).classes[3] == "3"


def test_missing_mnist_folder_says_what_to_do(tmp_path):
    with pytest.raises(ArchspecError, match="no such folder; expected mnist idx files"):
        load_small(DataConfig(source="mnist", root=str(tmp_path / "none")))


def test_batches_are_a_function_of_seed_epoch_and_step():
    data = load_small(synthetic())
    one = [x for x, _ in data.train_batches(epoch=1, batch=16, seed=5)]
    again = [x for x, _ in data.train_batches(epoch=1, batch=16, seed=5, start=2)]
    assert len(one) == 3 and all(torch.equal(a, b) for a, b in zip(one[2:], again, strict=True))  # 60 of 64 trained
    other = next(data.train_batches(epoch=2, batch=16, seed=5))[0]
    assert not torch.equal(one[0], other)


def test_rank_shares_make_up_the_global_batch():
    data = load_small(synthetic())
    whole, labels = next(data.train_batches(0, 16, 0))
    parts = [next(data.train_batches(0, 16, 0, rank=r, world=2)) for r in range(2)]
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), whole)
    assert torch.equal(torch.cat([p[1] for p in parts]), labels)


def test_folder_training_and_validation_batches(image_folder, tmp_path):
    cfg = DataConfig(source=str(image_folder), crop=16, scale=(18, 24), workers=0)
    data = FolderData(cfg)
    assert data.classes == ["n01", "n02", "n03"] and len(data.val_items) == 6
    assert len(data.train_items) == 15 and len(data.holdout_items) == 3  # one of each class's six held out
    assert not {p for p, _ in data.holdout_items} & {p for p, _ in data.train_items + data.val_items}
    x, y = next(data.train_batches(0, 6, 0))
    assert x.shape == (6, 3, 16, 16) and y.dtype == torch.int64
    xv = torch.cat([b[0] for b in data.holdout_batches(4)])
    assert xv.shape == (3, 3, 16, 16)
    assert 0.1 < sum(data.stats.mean) / 3 < 0.9 and len(list((tmp_path / "cache" / "archspec").glob("stats-*"))) == 1
    again = next(FolderData(cfg).train_batches(0, 6, 0))[0]  # statistics come from the cache the second time
    torch.testing.assert_close(again, x)


def test_unreadable_images_are_skipped_counted_and_warned_once(image_folder):
    (image_folder / "train" / "n02" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="skipping images that cannot be read"):
        data = FolderData(DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=0))
        batches = list(data.train_batches(0, 19, 0))
    assert data.skipped >= 1 and sum(len(b[1]) for b in batches) <= 19


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "val").rename(root / "valid"), "val: no such folder"),
        (lambda root: [p.unlink() for p in (root / "train" / "n02").iterdir()], "n02: no images"),
        (lambda root: (root / "val" / "n99").mkdir(), "n99: class not in train/"),
    ],
)
def test_bad_folders_are_one_line_errors(image_folder, damage, message):
    damage(image_folder)
    with pytest.raises(ArchspecError, match=message):
        FolderData(DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=0))


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(ArchspecError, match="no such folder; expected an ImageNet-layout folder"):
        FolderData(DataConfig(source=str(tmp_path / "nope")))
    (tmp_path / "train").mkdir()
    with pytest.raises(ArchspecError, match="train: no class folders"):
        FolderData(DataConfig(source=str(tmp_path)))


def test_holdout_split_is_stratified_deterministic_and_disjoint():
    labels = torch.arange(1000) % 4  # 250 per class
    train, held = holdout_split(labels, 0.1)
    assert torch.bincount(labels[held]).tolist() == [25] * 4
    assert not set(train.tolist()) & set(held.tolist()) and len(train) + len(held) == 1000
    again = holdout_split(labels, 0.1)
    assert torch.equal(again[1], held)  # the same images every time, whatever the training seed
    assert len(holdout_split(labels, 0.0)[1]) == 0


def test_the_held_out_images_come_from_the_training_set_not_the_scored_one():
    data = load_small(DataConfig())
    full = load_small(DataConfig(holdout=0.0))
    torch.testing.assert_close(data.holdout_x, full.train_x[data.holdout_index])
    scored = {bytes(x.numpy()) for x in data.val_x}
    assert not any(bytes(x.numpy()) in scored for x in data.holdout_x)
    record = data.holdout_record()
    assert record["count"] == 250 and record["train"] == 4750 and record["indices"] == data.holdout_index.tolist()


def test_replaced_images_get_fresh_colour_statistics(image_folder):
    cfg = DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=0)
    before = FolderData(cfg).stats.mean
    for path in (image_folder / "train").rglob("*.jpg"):  # same names, same count, other pixels
        Image.new("RGB", (30, 30), (250, 250, 250)).save(path)
    assert FolderData(cfg).stats.mean[0] > before[0] + 0.1


def test_sixteen_bit_images_keep_their_range():
    from archspec.harness.training.data import to_rgb8

    grey = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))  # mid-grey in 16 bits
    assert np.asarray(to_rgb8(grey))[0, 0].tolist() == [128, 128, 128]  # Pillow's convert("RGB") gives 255


def test_special_files_named_like_images_are_not_read(image_folder):
    import os

    os.mkfifo(image_folder / "train" / "n01" / "x.jpg")  # reading it would block forever
    data = FolderData(DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=0))
    assert not any(p.endswith("x.jpg") for p, _ in data.train_items + data.holdout_items)


def test_padding_adds_a_background_border_around_every_image():
    plain, padded = load_small(DataConfig()), load_small(DataConfig(pad=2))
    assert padded.train_x.shape[-2:] == (32, 32) and padded.val_x.shape[-2:] == (32, 32)
    assert torch.equal(padded.val_x[..., 2:30, 2:30], plain.val_x)
    assert torch.equal(padded.holdout_index, plain.holdout_index)  # the same images held out
    border = padded.train_x.clone()
    border[..., 2:30, 2:30] = 0
    assert not border.any()


def test_only_small_sets_are_padded(tmp_path):
    with pytest.raises(ArchspecError, match="only the small sets are padded"):
        DataConfig(source=str(tmp_path), pad=2)


def test_idx_sizes_are_checked_before_anything_is_allocated(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as f:  # a few bytes whose header claims 2**32 x 2**16 pixels
        f.write(struct.pack(">HBB3I", 0, 8, 3, 2**32 - 1, 2**16, 1))
    with pytest.raises(ArchspecError, match=r"train-images-idx3-ubyte.gz: needs about .* GiB for \(4294967295, 65536"):
        read_idx(bomb)
    short = tmp_path / "short-idx1-ubyte"
    short.write_bytes(struct.pack(">HBBI", 0, 8, 1, 10) + bytes(4))
    with pytest.raises(ArchspecError, match=r"4 bytes of data for dimensions \(10,\); expected 10"):
        read_idx(short)
    with pytest.raises(ArchspecError, match=r"/dev/zero: is not a regular file"):
        read_idx(Path("/dev/zero"))


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((4, 0, 0)), np.arange(4), r"train-images-idx3-ubyte.gz: images of 0x0 pixels; expected at least 1x1"),
        (
            np.zeros((4, 2, 2)),
            np.array([0, 1, 2, 10]),
            r"train-labels-idx1-ubyte.gz: found label 10; expected .* 0 to 9",
        ),
    ],
)
def test_idx_contents_the_classes_cannot_hold_are_one_line(tmp_path, images, labels, message):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ArchspecError, match=message):
        load_idx_split(tmp_path, "train", 10)


def test_padding_is_checked_against_the_memory_available():
    with pytest.raises(ArchspecError, match=r"--pad 100000: needs about .* GiB for 5,000 images; expected at most"):
        load_small(DataConfig(pad=100_000))


def test_images_too_large_for_their_file_are_skipped_before_decoding(tmp_path, monkeypatch):
    from archspec.harness.training import data

    Image.new("RGB", (30, 20)).save(tmp_path / "a.png")
    assert data.open_rgb8(str(tmp_path / "a.png"), 20).size == (30, 20)
    monkeypatch.setattr(data, "MAX_PIXELS", 599)  # as a 60,000 x 60,000 PNG of a few kilobytes is for the default
    assert data.open_rgb8(str(tmp_path / "a.png"), 20) is None


def test_a_corrupt_or_unwritable_statistics_cache_is_named_and_rebuilt(image_folder, tmp_path, monkeypatch):
    cfg = DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=0)
    stats = FolderData(cfg).stats
    (cache,) = (tmp_path / "cache" / "archspec").glob("stats-*")
    cache.write_text('{"mean": [0.5, ')
    with pytest.warns(UserWarning, match=rf"{cache}:1:16: found invalid JSON .*; recomputing the colour statistics"):
        assert FolderData(cfg).stats == stats
    assert Stats.model_validate_json(cache.read_text()) == stats  # rebuilt
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # a file: no cache folder can be made there
    with pytest.warns(UserWarning, match="colour statistics not cached: .*: is a file, or under one"):
        assert FolderData(cfg).stats == stats


@pytest.mark.parametrize(
    "locked, mode",
    [("", 0o000), ("", 0o600), ("train", 0o000), ("train/n01", 0o000), ("val", 0o300)],
    ids=["folder", "folder-not-searchable", "train", "a-class", "val-not-listable"],
)
def test_a_data_folder_this_user_may_not_read_is_one_line_naming_it(open_tmp, monkeypatch, locked, mode):
    """Permission denied anywhere from the data folder down to a class folder is one line naming that folder,
    from train, bench and the folder loader alike (root reads past modes, so it runs as nobody there)."""
    from archspec.harness.bench.run import run_suite
    from archspec.harness.training.train import train

    from ..bench.test_bench import SUITE, write

    monkeypatch.setenv("XDG_CACHE_HOME", str(open_tmp / "cache"))
    root = open_tmp / "data"
    for split in ("train", "val"):
        for name in ("n01", "n02"):
            (root / split / name).mkdir(parents=True)
            Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / split / name / "0.png")
    suite = write(open_tmp, SUITE)
    (root / locked).chmod(mode)
    cfg = TrainConfig(spec=TINY, data=DataConfig(source=str(root), crop=16, scale=(18, 18), workers=0))
    cfg = cfg.model_copy(update={"out": str(open_tmp / "run"), "progress": False})
    calls = [lambda: FolderData(cfg.data), lambda: train(cfg)]
    if not locked:  # what bench checks before training: the folder itself
        calls.append(lambda: run_suite(suite, str(open_tmp / "bench"), data=str(root), log=lambda line: None))
    with as_a_user():
        for call in calls:
            with pytest.raises(ArchspecError, match=r"cannot read \(Permission denied\); expected .* may read") as e:
                call()
            assert "\n" not in str(e.value) and "/data" in str(e.value)
    (root / locked).chmod(0o755)


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_too_large_once_rescaled_is_skipped_and_counted_before_it_is_resized(image_folder, workers):
    """A 1 x 2,000,000 strip is 2 megapixels as stored, but its short side rescaled to S = 18 makes it 648
    megapixels (2 GB): skipped by that count, in training and in evaluation, where the bound says so."""
    from archspec.harness.evaluation.evaluate import val_images
    from archspec.harness.training.data import MAX_PIXELS, rescaled_pixels

    assert rescaled_pixels(1, 2_000_000, 18) == 18 * 36_000_000 > MAX_PIXELS > 2_000_000
    for split in ("train", "val"):
        Image.new("RGB", (1, 2_000_000)).save(image_folder / split / "n01" / "strip.png")
    cfg = DataConfig(source=str(image_folder), crop=16, scale=(18, 18), workers=workers, holdout=0)
    with pytest.warns(UserWarning, match="would exceed 33,554,432 pixels once rescaled"):
        data = FolderData(cfg)
        batches = list(data.train_batches(0, 19, 0))
    assert sum(len(y) for _, y in batches) == 18 and data.skipped == 2  # the statistics pass and the epoch
    skipped = []
    count, images = val_images(cfg, 0, 1, None, side=18, skipped=skipped)
    assert count == 7 and len(list(images)) == 6 and [Path(p).name for p in skipped] == ["strip.png"]
