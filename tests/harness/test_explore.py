"""suites/explore.py's learning-rate grid: every entry at each lr, its own included, in a folder per lr, and each
family's lr chosen by one rule from the held-out rows (nothing here trains)."""

import importlib.util
from pathlib import Path

import pytest

from archspec.harness.suite import entry_config, load_suite

from ..conftest import ROOT


def explore_module():
    spec = importlib.util.spec_from_file_location("explore", ROOT / "suites" / "explore.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lr_grid_sets_every_entrys_lr_and_nothing_else(tmp_path):
    explore = explore_module()
    suite = load_suite("successors")
    for lr in (0.05, 0.2):
        point = explore.with_lr(suite, lr)
        for entry, before in zip(point.train, suite.train, strict=True):
            cfg = entry_config(point, entry, tmp_path / f"lr{lr:g}", 0, 1, None)
            was = entry_config(suite, before, tmp_path / f"lr{lr:g}", 0, 1, None)
            assert cfg.recipe.lr == lr
            assert cfg.model_copy(update={"recipe": was.recipe}) == was, entry.id  # the lr is all that changed
            assert Path(cfg.out).parts[-4] == f"lr{lr:g}"  # OUT/lr0.05/runs/ID/seedN


def test_each_family_gets_the_lr_of_its_lowest_mean_held_out_error_and_only_over_complete_grids():
    explore = explore_module()
    rows = [
        {"lr": lr, "entry": e, "held-out top-1 err": err}
        for lr, e, err in [
            (0.05, "a", 10.0), (0.05, "b", 12.0), (0.1, "a", 9.0), (0.1, "b", 14.0), (0.2, "a", 8.0),
            (0.05, "c", 7.0), (0.1, "c", 7.0),
        ]
    ]  # fmt: skip
    out = explore.family_choice(rows, {"ab": ["a", "b"], "c": ["c"]})
    chosen = {r["family"]: r["lr"] for r in out if r["chosen"]}
    assert chosen == {"ab": 0.05, "c": 0.05}  # ab: 11.0 < 11.5, and b never ran at 0.2; c: a tie, the smaller lr
    assert [r["lr"] for r in out if r["family"] == "ab"] == [0.05, 0.1]


def test_a_family_is_given_one_entry_at_a_time_so_ids_may_hold_commas():
    explore = explore_module()
    suite = load_suite("successors")
    given = ["VGG=D", "VGG=A, crop 64", "AlexNet=AlexNet, crop 64"]
    assert explore.families_of(given, suite) == {"VGG": ["D", "A, crop 64"], "AlexNet": ["AlexNet, crop 64"]}
    with pytest.raises(SystemExit, match="expected NAME=ID with ID an entry of successors"):
        explore.families_of(["VGG=D,E"], suite)
