"""The memory check: estimates against what this process may still allocate, its own limits included."""

import resource

import pytest

from archspec import memory
from archspec.errors import ArchspecError


def test_a_cgroup_limit_lowers_what_is_available(tmp_path, monkeypatch):
    for version, line, files in (
        ("v2", "0::/job", {"memory.max": "3221225472", "memory.current": "1073741824"}),
        ("v1", "4:memory:/job", {"memory.limit_in_bytes": "3221225472", "memory.usage_in_bytes": "1073741824"}),
    ):
        folder = tmp_path / version / ("memory/job" if version == "v1" else "job")
        folder.mkdir(parents=True)
        for name, value in files.items():
            (folder / name).write_text(value + "\n")
        (tmp_path / version / "cgroup").write_text(f"{line}\n")
        monkeypatch.setattr(memory, "CGROUP", tmp_path / version)
        monkeypatch.setattr(memory, "OWN_CGROUP", tmp_path / version / "cgroup")
        assert memory.available() <= 2 << 30  # 3 GiB allowed, 1 GiB used
        with pytest.raises(ArchspecError, match=r"x: needs about 2.5 GiB; expected at most the .* GiB available \(h\)"):
            memory.require(int(2.5 * 2**30), "x", "h")
    (tmp_path / "v2" / "job" / "memory.max").write_text("max\n")
    monkeypatch.setattr(memory, "CGROUP", tmp_path / "v2")
    monkeypatch.setattr(memory, "OWN_CGROUP", tmp_path / "v2" / "cgroup")
    assert memory._cgroup_left() is None


def test_an_address_space_limit_lowers_what_is_available():
    """`ulimit -v`: an allocation past it would fail inside torch; the check refuses it first, in one line."""
    before = resource.getrlimit(resource.RLIMIT_AS)
    used = memory._address_space_left
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, before[1]))
    try:
        assert used() is None
        status = open("/proc/self/status").read()
        size = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize:"))) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), before[1]))
        assert memory.available() <= 1 << 30
        with pytest.raises(ArchspecError, match="needs about 2.0 GiB"):
            memory.require(2 << 30, "x", "h")
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)
