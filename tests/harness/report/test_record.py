"""outcomes.npz, what `bench --report-only` recomputes every interval and test from: written and read back
without pickle, and every kind of damage to it is one line naming the file and what is wrong."""

import numpy as np
import pytest

from archspec.errors import ArchspecError
from archspec.harness.report.claims import Outcome
from archspec.harness.report.record import load_outcomes, save_outcomes
from archspec.harness.suite import load_suite

from ..bench.test_bench import SUITE, write

LABELS = ("T single", "T multi", "T+U")


def saved(tmp_path):
    """A suite and the outcomes of its three rows over two seeds and five images, as a bench saves them."""
    suite = load_suite(write(tmp_path, SUITE))
    rows = {r.label: r for r in suite.table[0].rows}
    rng = np.random.default_rng(0)
    outcomes = {
        label: Outcome(rows[label], f"m{i}", *rng.integers(0, 2, (2, 2, 5)).astype(np.float64), None, 50 + i, 0.5)
        for i, label in enumerate(LABELS)
    }
    path = tmp_path / "outcomes.npz"
    save_outcomes(path, outcomes, [0, 1])
    return suite, outcomes, path


def test_outcomes_read_back_exactly_as_they_were_written(tmp_path):
    suite, outcomes, path = saved(tmp_path)
    back, seeds = load_outcomes(path, suite)
    assert seeds == [0, 1] and list(back) == list(LABELS)
    for label, o in outcomes.items():
        np.testing.assert_array_equal(back[label].wrong1, o.wrong1)
        np.testing.assert_array_equal(back[label].wrong5, o.wrong5)
        assert (back[label].model, back[label].dense_map, back[label].crop_views) == (o.model, None, o.crop_views)


def resave(path, **change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays |= change
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), r"not a readable .npz file"),
        (lambda p: p.write_text("rows,top1\n"), r"not a readable .npz file"),
        (lambda p: resave(p, models=None), r"no array 'models'"),
        (lambda p: resave(p, models=np.array([{"a": 1}, 2, 3], dtype=object)), r"not a readable .npz file \(Object"),
        (lambda p: resave(p, top1=np.zeros((3, 3, 5), np.uint8)), r"array 'top1' of uint8 \(3, 3, 5\); expected"),
        (lambda p: resave(p, seeds=np.array(["0", "1"])), r"array 'seeds' of <U1 \(2,\); expected"),
        (lambda p: resave(p, top5=np.full((3, 2, 5), 2, np.uint8)), r"'top5' holds values other than 0 and 1"),
        (lambda p: (p.unlink(), p.mkdir()), r"outcomes.npz: is a directory"),
    ],
    ids=["truncated", "text", "missing-array", "object-array", "shape", "dtype", "values", "folder"],
)
def test_a_damaged_outcomes_file_is_one_line_naming_it(tmp_path, damage, message):
    suite, _, path = saved(tmp_path)
    damage(path)
    with pytest.raises(ArchspecError, match=message) as e:
        load_outcomes(path, suite)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_row_scored_on_a_prefix_of_the_images_reads_back_at_its_own_length(tmp_path):
    """`multi_crop_images`: one row on the first 3 of 5 images keeps its length through outcomes.npz; a count
    outside 1..N is refused in one line."""
    suite, outcomes, path = saved(tmp_path)
    short = outcomes["T multi"]
    outcomes["T multi"] = Outcome(short.row, short.model, short.wrong1[:, :3], short.wrong5[:, :3], None, 50, 0.5)
    save_outcomes(path, outcomes, [0, 1])
    back, _ = load_outcomes(path, suite)
    assert back["T multi"].wrong1.shape == (2, 3) and back["T single"].wrong1.shape == (2, 5)
    np.testing.assert_array_equal(back["T multi"].wrong5, short.wrong5[:, :3])
    resave(path, images=np.array([5, 6, 5]))
    with pytest.raises(ArchspecError, match=r"array 'images' holds counts outside 1\.\.5"):
        load_outcomes(path, suite)
