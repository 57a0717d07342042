"""Which code produced a result: the package version and, in a git checkout, the commit (with "+dirty" when
tracked files have uncommitted changes). Run folders and bench reports record it."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import version
from pathlib import Path


@cache
def commit() -> str:
    """The short commit of the checkout archspec runs from, '+dirty' if modified; '' outside a checkout."""
    here = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def code_version() -> str:
    """E.g. 'archspec 0.1.0, commit 88762e2'."""
    return f"archspec {version('archspec')}" + (f", commit {commit()}" if commit() else "")
