"""Run folders: --out never replaces a user's files, and a damaged or older run folder is one line."""

import pytest
import torch

import archspec
from archspec.errors import ArchspecError
from archspec.harness import TrainConfig
from archspec.harness.training.augment import Stats
from archspec.harness.training.checkpoint import check_new, check_resumable, load, locked, read_run, write_run
from archspec.harness.training.metrics import read as read_metrics

from ..conftest import TINY

STATS = Stats(mean=(0.5,) * 3, eigval=(1.0,) * 3, eigvec=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))


def started(run, stats=STATS):
    """What a run killed before its first checkpoint leaves: the lock, run.json, holdout.json."""
    with locked(run):
        write_run(run, TrainConfig(spec=TINY, out=str(run)), archspec.network(TINY), ["a", "b", "c", "d"], stats, {})


def test_out_refuses_a_folder_holding_files_archspec_did_not_write(tmp_path):
    mine = tmp_path / "u"
    mine.mkdir()
    (mine / "metrics.csv").write_text("my own numbers\n")  # a name archspec writes, but no run.json beside it
    with pytest.raises(ArchspecError, match=r"u: holds metrics.csv, which archspec train did not write; expected"):
        check_new(mine)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ArchspecError, match=r"holds metrics.csv \(and 1 more\)"):
        check_new(mine)
    assert (mine / "metrics.csv").read_text() == "my own numbers\n" and not (mine / ".lock").exists()
    started(tmp_path / "r")
    check_new(tmp_path / "r")  # archspec's own start, stopped before a checkpoint: may start over
    check_new(tmp_path / "new")
    (tmp_path / "r" / "run.json").write_text('{"user": 1}')
    with pytest.raises(ArchspecError, match="run.json: not a valid run description"):
        check_new(tmp_path / "r")


def test_resume_before_the_first_checkpoint_says_how_to_start_over(tmp_path):
    started(tmp_path / "r")
    with pytest.raises(ArchspecError, match=r"r: nothing to resume yet .*; expected a run with a checkpoint.pt: start"):
        check_resumable(tmp_path / "r")
    with pytest.raises(ArchspecError, match=r"start over with archspec train 'input 16x16x3 .*' --out .*r \(and the"):
        check_resumable(tmp_path / "r")


def test_damaged_or_older_run_files_are_one_line(tmp_path):
    run = tmp_path / "r"
    started(run, Stats(mean=(0.5,), eigval=(1.0,), eigvec=((1.0,),)))
    with pytest.raises(ArchspecError, match="colour statistics of 1 channels; expected 3, the network's input"):
        read_run(run)
    torch.save({"model": {}, "epoch": 1}, run / "checkpoint.pt")  # no optimizer: an older version or a hand edit
    with pytest.raises(ArchspecError, match="checkpoint.pt: found no 'optimizer' entry; expected archspec's"):
        load(run)
    (run / "metrics.csv").write_bytes(b"epoch,lr\n1,0.01\n2,\xff\n")
    with pytest.raises(ArchspecError, match=r"metrics.csv:3:3: found byte 0xff that is not UTF-8"):
        read_metrics(run / "metrics.csv")
    (run / "metrics.csv").write_text("epoch,lr\n1,0.01\n2,fast\n")
    with pytest.raises(ArchspecError, match=r"metrics.csv:3:1: found could not convert string to float: 'fast'"):
        read_metrics(run / "metrics.csv")


def test_an_out_that_cannot_be_a_folder_is_one_line(tmp_path):
    import os

    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    for out in ("file", "fifo", "file/run"):
        with pytest.raises(ArchspecError, match="is a file, or under one; expected a folder for the run"):
            with locked(tmp_path / out):
                pass
