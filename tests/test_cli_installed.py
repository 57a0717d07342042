"""The installed `archspec` entry point in a subprocess, as a user runs it: an import error at the CLI layer (a
dependency pyproject.toml forgot, say) fails here, not for a user."""

import shutil
import subprocess

import pytest

from archspec import cli

from .conftest import ROOT, entry_point

COMMANDS = [c.name or c.callback.__name__ for c in cli.app.registered_commands]


def test_every_command_is_registered():
    assert set(COMMANDS) == {"params", "table", "compile", "train", "export", "eval", "bench"}


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=lambda c: " ".join(c) or "archspec")
def test_help_of_every_command_runs_from_the_installed_script_without_type_noise(command):
    done = subprocess.run(
        [entry_point(), *command, "--help"], capture_output=True, text=True, timeout=120, env={"COLUMNS": "100"}
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    assert done.stdout.startswith(f"Usage: archspec {' '.join(command)}".rstrip())
    assert "<bool>" not in done.stdout  # a flag takes no value
    assert max(map(len, done.stdout.splitlines())) <= 120


def test_report_only_recomputes_a_committed_report_from_the_installed_script(tmp_path):
    """The committed quick report, copied: every interval, test and verdict comes out byte for byte the same."""
    committed = ROOT / "docs" / "bench-quick"
    copy = shutil.copytree(committed, tmp_path / "bench-quick")
    done = subprocess.run(
        [entry_point(), "bench", "--suite", "quick", "--report-only", "--out", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for table in ("claims.csv", "report.csv", "per_seed.csv"):
        assert (copy / table).read_bytes() == (committed / table).read_bytes(), table
