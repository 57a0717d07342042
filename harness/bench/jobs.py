"""Tasks side by side (`bench --jobs`): in this process, or in spawned worker processes, each task started once
the tasks it depends on have succeeded. A task's user error comes back as its result; it never stops the rest."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager

from archspec.errors import ArchspecError


class _Inline:
    """The executor for jobs = 1: a task runs in this process when it is submitted."""

    def submit(self, fn, *args) -> Future:
        done = Future()
        try:
            done.set_result(fn(*args))
        except ArchspecError as e:
            done.set_exception(e)
        return done


class _NotTerminal:
    """stderr for a worker: its runs print plain lines, since progress bars from several processes would mix."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _start_worker(threads: int) -> None:
    import sys

    import torch

    from archspec import plugins

    torch.set_num_threads(threads)
    sys.stderr = _NotTerminal(sys.stderr)
    plugins.load_all()  # the kinds the bench's command loaded (named in the environment a spawned worker inherits)


def _in_worker(fn, *args):
    """Run a task; a user error comes back as the plain one-line error (its subclasses need not pickle)."""
    try:
        return fn(*args)
    except ArchspecError as e:
        raise ArchspecError(str(e)) from None


@contextmanager
def workers(jobs: int, threads: int):
    """Where tasks run: in this process (jobs = 1), or in `jobs` spawned workers of `threads` torch threads each.
    On Ctrl-C or SIGTERM the workers get SIGTERM, checkpoint their runs and stop before this returns."""
    if jobs == 1:
        yield _Inline()
        return
    import multiprocessing
    import signal

    pool = ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(threads,)
    )
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield _Pool(pool)
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):  # each run checkpoints on SIGTERM
            if proc.is_alive():
                proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)


class _Pool:
    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(_in_worker, fn, *args)


def is_failure(result) -> bool:
    return result is None or isinstance(result, ArchspecError)


def run_all(tasks: list, deps, start, executor, jobs: int, on_start=None, on_done=None) -> dict:
    """Run `start(task, executor)` (which submits the task and returns its future) for every task once the tasks
    `deps(task)` names have succeeded, at most `jobs` at a time, in the given order where there is a choice.
    Returns {task: its result, the ArchspecError it raised, or None where a task it depends on failed};
    `on_start(task)` and `on_done(task, result)` are told as it goes."""
    results, running, waiting = {}, {}, list(tasks)
    while waiting or running:
        for task in list(waiting):
            needs = deps(task)
            if any(n in results and is_failure(results[n]) for n in needs):
                waiting.remove(task)
                results[task] = None  # its starting point failed
            elif len(running) < jobs and all(n in results for n in needs):
                waiting.remove(task)
                if on_start:
                    on_start(task)
                try:
                    running[start(task, executor)] = task
                except ArchspecError as e:
                    results[task] = e
                    if on_done:
                        on_done(task, e)
        if not running:
            if waiting:
                raise ArchspecError(f"{waiting[0]}: depends on a task that is not in the suite")
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for f in finished:
            task = running.pop(f)
            try:
                results[task] = f.result()
            except ArchspecError as e:
                results[task] = e
            if on_done:
                on_done(task, results[task])
    return results
