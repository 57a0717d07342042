"""Helpers of the multi-process tests: torchrun agents and `archspec` commands in subprocesses, bounded in time,
so that this pytest process never hosts an elastic launch itself, and the CLI in this process for references."""

import os
import signal
import socket
import subprocess
import sys

from archspec import cli

LIMIT_S = 240  # per command (under 20 s on 2 quiet cores): a hang fails the test, never stalls the suite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*argv: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a timeout kills the command with its workers
        env=os.environ | (env or {}),
    )


def torchrun(*args: str, env: dict | None = None) -> subprocess.Popen:
    """One torchrun agent on this machine, as a node of a cluster would start it."""
    return start("-m", "torch.distributed.run", *args, env=env)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"still running after {LIMIT_S} s: {proc.args}\n{err[-3000:]}") from None
    return proc.returncode, out, err


def archspec_here(*argv: str) -> None:
    """`archspec ARGV` in this process (one process: no launch)."""
    saved = sys.argv
    sys.argv = ["archspec", *argv]
    try:
        cli.main()
    except SystemExit as e:
        assert e.code in (0, None)
    finally:
        sys.argv = saved
