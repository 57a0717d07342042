"""Files a user names: special files refused before they are opened, bounded reads, outputs that are no input."""

import os

import pytest

from archspec import compile_spec, files, registry
from archspec.errors import ArchspecError, SpecError
from archspec.files import check_output, make_folder, read_bytes, read_json, read_text, regular


def test_special_files_are_named_for_what_they_are(tmp_path, monkeypatch):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(ArchspecError, match="f: is not a regular file .*; expected a golden CSV"):
        regular(fifo, "a golden CSV")  # never opened: a FIFO would block the reader forever
    with pytest.raises(ArchspecError, match="is a directory; expected a golden CSV"):
        regular(tmp_path, "a golden CSV")
    denied = tmp_path / "w.safetensors"
    denied.write_bytes(b"x")

    def no_permission(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "open", no_permission, raising=False)  # as chmod 000 does, except for root
    with pytest.raises(ArchspecError, match=r"w.safetensors: cannot read \(Permission denied\); expected weights"):
        read_bytes(denied, "weights", 10)


def test_reads_are_bounded_and_decoding_errors_name_line_and_column(tmp_path):
    with pytest.raises(ArchspecError, match="/dev/zero: is not a regular file"):
        read_bytes("/dev/zero", "a golden CSV", 1 << 20)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 101)
    with pytest.raises(ArchspecError, match="101 bytes; expected a golden CSV of at most 100 bytes"):
        read_bytes(big, "a golden CSV", 100)
    utf16 = tmp_path / "suite.toml"
    utf16.write_text("[suite]\nname = 'x'\n", encoding="utf-16")
    with pytest.raises(SpecError, match=r"suite.toml:1:1: found byte 0xff that is not UTF-8; expected UTF-8 text"):
        read_text(utf16, "a TOML suite", 1000)
    bad = tmp_path / "run.json"
    bad.write_text('{\n  "a": 1,\n  oops}')
    with pytest.raises(SpecError, match=r"run.json:3:3: found invalid JSON \(Expecting property name"):
        read_json(bad, "a run.json", 1000)
    bad.write_text("[" * 100_000)  # deeper than Python's recursion limit
    with pytest.raises(SpecError, match="found JSON nested too deeply"):
        read_json(bad, "a run.json", 1 << 20)


def test_an_output_that_is_an_input_is_refused_even_by_its_registered_name(tmp_path):
    spec = registry.spec_path("A")
    before = spec.read_bytes()
    with pytest.raises(ArchspecError, match="A.txt: is the input spec; expected another path"):
        compile_spec("A", output=spec)  # named A, read from specs/A.txt
    assert spec.read_bytes() == before
    with pytest.raises(ArchspecError, match="A.txt: is a file of the run r; expected another path"):
        check_output(spec, [tmp_path / "x", spec], role="a file of the run r")
    assert check_output(tmp_path / "new.pt2", [spec]) == tmp_path / "new.pt2"


def test_folders_that_cannot_be_made_are_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "file", tmp_path / "fifo", tmp_path / "file" / "under"):
        with pytest.raises(ArchspecError, match="is a file, or under one; expected a folder for the run"):
            make_folder(path, "the run")
    assert make_folder(tmp_path / "a" / "b", "the run").is_dir()
