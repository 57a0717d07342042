"""The ledger of looks at the scored split survives damage, never loses a look and is never left half-written."""

import json
import os
import shutil
from pathlib import Path

import pytest

from archspec.errors import ArchspecError
from archspec.harness.bench import ledger
from archspec.harness.bench import run as bench
from archspec.harness.bench.run import run_suite
from archspec.harness.evaluation import looks
from archspec.harness.evaluation.evaluate import EvalJob, evaluate_checkpoints

from ...test_atomic import file_size_limit
from ..conftest import as_a_user
from .test_bench import SUITE

LOOK = {
    "time": "2025-01-01T00:00:00+0000",
    "commit": "abc",
    "suite_sha256": "s1",
    "evaluated": ["T seed 0"],
    "entries": ["T"],
    "seeds": [0],
}


def record(root, tokens):
    ledger.record(root, "def", "s1", tokens, ["T"], [0])


def lines(root):
    return (root / ledger.NAME).read_text().split("\n")


def test_a_truncated_last_line_stays_a_line_of_its_own_and_the_next_look_is_readable(tmp_path):
    whole = json.dumps(LOOK)
    (tmp_path / ledger.NAME).write_text(whole + "\n" + whole[:40])  # a write cut short by a crash
    record(tmp_path, {("T", 0): "t1"})
    assert lines(tmp_path)[:2] == [whole, whole[:40]] and lines(tmp_path)[-1] == ""
    read = ledger.read(tmp_path)
    assert [look.commit for look in read.looks] == ["abc", "def"] and list(read.damaged) == [2]
    summary = ledger.summary(tmp_path, "s1")
    assert "evaluated 2 times" in summary and "1 damaged line (line 2), each possibly a look" in summary


@pytest.mark.parametrize("line", ["[]", "{}", "[1, 2]", "42", '{"time": 1}', "\x00\xff"])
def test_a_line_that_is_no_look_is_counted_as_damaged_and_new_looks_still_record(tmp_path, line):
    (tmp_path / ledger.NAME).write_text(json.dumps(LOOK) + "\n" + line + "\n")
    record(tmp_path, {})
    read = ledger.read(tmp_path)
    assert len(read.looks) == 2 and list(read.damaged) == [2]
    assert "1 report was written" not in ledger.summary(tmp_path, "s1")  # two reports: the old look and this one


def test_a_folder_in_the_ledgers_place_is_one_line_and_stays(tmp_path):
    (tmp_path / ledger.NAME).mkdir()
    for call in (lambda: ledger.check(tmp_path), lambda: record(tmp_path, {("T", 0): "t1"})):
        with pytest.raises(ArchspecError, match=r"scored.jsonl: is a directory; expected the ledger"):
            call()
    assert (tmp_path / ledger.NAME).is_dir()


def test_a_read_only_ledger_is_refused_before_anything_is_evaluated_and_left_as_it_was(open_tmp):
    path = open_tmp / ledger.NAME
    path.write_text(json.dumps(LOOK) + "\n")
    path.chmod(0o444)
    with as_a_user(), pytest.raises(ArchspecError, match=r"scored.jsonl: cannot be appended to \(Permission denied\)"):
        ledger.check(open_tmp)
    assert path.read_text() == json.dumps(LOOK) + "\n"


def test_a_look_that_cannot_be_written_is_cut_back_off_and_stays_pending_until_recorded(tmp_path):
    """A full disk (here the file size limit, which fails the same write): the file is exactly as it was, the
    evaluation stays unrecorded, and the next record takes it; once recorded it is never recorded again."""
    path = tmp_path / ledger.NAME
    path.write_text(json.dumps(LOOK) + "\n")
    before = path.read_bytes()
    tokens = {("T", 0): "t1"}
    with pytest.raises(ArchspecError, match=r"not be recorded \(File too large\).*1 evaluation stay unrecorded"):
        with file_size_limit(len(before) + 10):
            record(tmp_path, tokens)
    assert path.read_bytes() == before
    assert ledger.unrecorded(tmp_path, tokens) == tokens
    record(tmp_path, ledger.unrecorded(tmp_path, tokens))
    assert ledger.unrecorded(tmp_path, tokens) == {} and ledger.read(tmp_path).looks[-1].evaluated == ["T seed 0"]


def test_an_evaluation_named_in_a_damaged_line_is_not_recorded_twice(tmp_path):
    (tmp_path / ledger.NAME).write_text(json.dumps(LOOK | {"evaluations": ["t1"]})[:-3])
    assert ledger.unrecorded(tmp_path, {("T", 0): "t1", ("T", 1): "t2", ("T", 2): None}) == {("T", 1): "t2"}


def test_a_ledger_opened_for_appending_is_written_in_one_piece(tmp_path):
    """Two records: two whole lines, each a single write (O_APPEND: concurrent writers never interleave)."""
    record(tmp_path, {("T", 0): "t1"})
    record(tmp_path, {})
    assert [json.loads(line)["evaluations"] for line in lines(tmp_path)[:-1]] == [["t1"], []]
    assert os.stat(tmp_path / ledger.NAME).st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_each_evaluation_is_on_record_when_it_ends_in_the_folder_and_for_its_data_set(tmp_path, monkeypatch):
    """A bench stopped after its evaluations (before any report) has every one on record, in its folder and in the
    data set's ledger in the user's state directory; a second folder's bench adds its own, and its report counts
    the looks of both folders from there; `archspec eval` on the scored split adds one line, on the held-out split
    none."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE.replace('finetune = "T/16"\n', ""))
    first, second = tmp_path / "first", tmp_path / "second"

    def stopped(*args):
        raise KeyboardInterrupt  # killed after the evaluations, before a report

    monkeypatch.setattr(bench, "score", stopped)
    with pytest.raises(KeyboardInterrupt):
        run_suite(str(suite), str(first), log=lambda line: None)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runs = [f"{i} seed {s}" for s in (0, 1) for i in ("T/16", "U/16")]
    folder = ledger.read(first).looks
    assert sorted(r for look in folder for r in look.evaluated) == sorted(runs)
    assert all(len(look.evaluated) == 1 and not look.report for look in folder)
    data, damaged = looks.read("synthetic")
    assert sorted(r for look in data for r in look.runs) == sorted(runs) and damaged == 0
    assert {look.folder for look in data} == {str(first.resolve())}
    assert not (first / "report.md").exists()

    shutil.copytree(first / "runs", second / "runs")  # the same runs in a new folder: evaluated afresh there
    run_suite(str(suite), str(second), log=lambda line: None)
    data, _ = looks.read("synthetic")
    assert len(data) == 8 and {look.folder for look in data} == {str(first.resolve()), str(second.resolve())}
    said = next(line for line in (second / "report.md").read_text().splitlines() if "Looks at the scored" in line)
    assert "evaluated 1 time for this version" in said and "8 evaluations of it in all" in said
    assert "8 run evaluations by bench in 2 folders and 0 by archspec eval" in said

    run = str(first / "runs" / "T_16" / "seed0")
    evaluate_checkpoints(EvalJob([run], limit=8, protocols=("single",), progress=False))
    evaluate_checkpoints(EvalJob([run], limit=8, protocols=("single",), progress=False, split="holdout"))
    data, _ = looks.read("synthetic")
    assert len(data) == 9 and data[-1].by == "eval" and data[-1].runs == [str(Path(run).resolve())]
    assert data[-1].images == 8 and looks.path_of("synthetic").parent == tmp_path / "state" / "archspec" / "looks"


def test_the_state_directory_defaults_to_the_xdg_one_and_each_data_set_has_its_own_ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert looks.state_dir() == tmp_path / ".local" / "state" / "archspec" / "looks"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    paths = {looks.path_of(d) for d in ("fashion-mnist", "mnist", "/data/imagenet", "/data_imagenet")}
    assert len(paths) == 4 and all(p.parent == tmp_path / "s" / "archspec" / "looks" for p in paths)
    assert looks.path_of("fashion-mnist").name.startswith("fashion-mnist-")
