"""Atomic writes: a failed write of any kind is one line, and the file it would have replaced is intact."""

import resource
from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import save_file

from archspec import compile_spec
from archspec.atomic import atomic_path
from archspec.errors import ArchspecError

BIG = {"w": torch.zeros(4096)}  # 16 KiB: past the limit below


@contextmanager
def file_size_limit(limit: int):
    """`ulimit -f`: a write past `limit` bytes fails with EFBIG (Python ignores SIGXFSZ, which would kill it)."""
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)


@pytest.mark.parametrize(
    "write",
    [
        lambda tmp: torch.save(BIG, tmp),  # RuntimeError from torch's zip writer
        lambda tmp: save_file(BIG, tmp),  # safetensors' SafetensorError
        lambda tmp: tmp.write_bytes(bytes(16384)),  # OSError
    ],
    ids=["torch.save", "safetensors", "python"],
)
def test_a_write_past_the_file_size_limit_is_one_line_and_keeps_the_old_file(tmp_path, write):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"previous")
    with pytest.raises(ArchspecError, match=r"checkpoint.pt: could not be written \((File too large|the file size)"):
        with file_size_limit(8192), atomic_path(path) as tmp:
            write(tmp)
    assert path.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_an_export_past_the_file_size_limit_is_one_line_not_an_abort(tmp_path):
    """torch.export.save's own file writer aborts the process (SIGABRT) on a failed write; archspec's does not."""
    out = tmp_path / "net.pt2"
    out.write_bytes(b"previous")
    with pytest.raises(ArchspecError, match=r"net.pt2: could not be written \(File too large\)"):
        with file_size_limit(8192):
            compile_spec("input 16x16x1 conv3-4 maxpool FC-16 FC-3 soft-max", output=out)
    assert out.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["net.pt2"]


def test_a_folder_that_cannot_hold_the_file_is_one_line_and_a_bug_is_not_hidden(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArchspecError, match=r"file: is a file, or under one; expected a folder for a.json"):
        with atomic_path(tmp_path / "file" / "a.json") as tmp:
            tmp.write_text("{}")
    with pytest.raises(ZeroDivisionError), atomic_path(tmp_path / "b.json"):
        1 / 0  # noqa: B018 (not a failed write: it surfaces as itself)
    assert not (tmp_path / "b.json").exists()
