"""The project's own error types.

Every problem a user can cause (a malformed spec, a missing file, a checkpoint
for another network) is raised as an `ArchspecError`; the CLI prints its one-line
`str()` and exits with status 2. Anything else escaping is a bug in archspec.
"""

from __future__ import annotations


class ArchspecError(Exception):
    """A user-facing error: `str(err)` is the single line the CLI prints."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped a run after it saved where it was; `str(err)` says how to continue, and the CLI
    exits with 130. Not a KeyboardInterrupt, which typer would turn into a bare exit before archspec could say
    so, and not an `ArchspecError`, which a bench records as one failed entry before going on to the next."""


class SpecError(ArchspecError):
    """A spec problem at a place in a file: `path:line:col: found X; expected Y (hint)`."""

    def __init__(
        self,
        found: str,
        expected: str,
        *,
        path: str | None = None,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.found, self.expected, self.hint = found, expected, hint
        self.path, self.line, self.col = path, line, col
        super().__init__(str(self))

    @property
    def where(self) -> str:
        parts = [self.path or "<spec>"]
        if self.line is not None:
            parts += [str(self.line), str(self.col or 1)]
        return ":".join(parts)

    def __str__(self) -> str:
        msg = f"{self.where}: found {self.found}; expected {self.expected}"
        return f"{msg} ({self.hint})" if self.hint else msg
