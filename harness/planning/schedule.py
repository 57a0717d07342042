"""The suite's trainings and evaluations on lanes of devices: list scheduling by the longest path to the end
(critical path first), side by side where the dependency graph allows."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .cost import Costed

# ---------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Slot:
    task: str
    kind: str  # train | eval
    lane: int
    start: float
    end: float
    critical: bool


def tails(durations: dict, deps: dict) -> dict:
    """Each task's longest path to the end: its own duration and the longest tail of the tasks waiting on it
    (`deps` name earlier tasks only)."""
    order = list(durations)
    after = {t: [u for u in order if t in deps[u]] for t in order}
    tail: dict = {}
    for t in reversed(order):
        tail[t] = durations[t] + max((tail[u] for u in after[t]), default=0.0)
    return tail


def by_priority(durations: dict, deps: dict) -> list:
    """The tasks, longest path to the end first (ties: the given order). A dependency's path is longer than its
    dependents', so the first ready task in this order is the one critical-path list scheduling starts: what
    `schedule` simulates and what `bench` runs."""
    tail = tails(durations, deps)
    return sorted(durations, key=lambda t: -tail[t])


def schedule(durations: dict[str, float], deps: dict[str, list[str]], lanes: int) -> tuple[list[Slot], float]:
    """List scheduling on `lanes` identical lanes: whenever a lane is free, the ready task with the longest
    path to the end starts (`by_priority`). Returns the slots and the critical path's length (the lower bound
    no number of lanes beats); slots on one longest path are marked critical."""
    tail = tails(durations, deps)
    after = {t: [u for u in durations if t in deps[u]] for t in durations}
    path, t = [], max(durations, key=lambda t: tail[t] if not deps[t] else -1)
    while True:
        path.append(t)
        if not after[t]:
            break
        t = max(after[t], key=lambda u: tail[u])
    done: dict[str, float] = {}
    free = [(0.0, lane) for lane in range(lanes)]
    waiting, slots = by_priority(durations, deps), []
    while waiting:
        now, lane = heapq.heappop(free)
        ready = [t for t in waiting if all(d in done and done[d] <= now for d in deps[t])]
        if not ready:  # wait for the next dependency to finish
            later = min(done[d] for t in waiting for d in deps[t] if d in done and done[d] > now)
            heapq.heappush(free, (later, lane))
            continue
        t = ready[0]
        waiting.remove(t)
        done[t] = now + durations[t]
        slots.append(Slot(t, "eval" if t.startswith("eval ") else "train", lane, now, done[t], t in path))
        heapq.heappush(free, (done[t], lane))
    return slots, tail[path[0]]


def tasks(entries: list[Costed], seeds: list[int]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """(duration, dependencies) of every training and evaluation, seed-major as bench runs them."""
    durations, deps = {}, {}
    for seed in seeds:
        for c in entries:
            name = f"{c.plan.entry.id} seed {seed}"
            durations[name] = c.train_s
            deps[name] = [f"{r} seed {seed}" for r in c.plan.refs]
    for seed in seeds:
        for c in entries:
            name = f"{c.plan.entry.id} seed {seed}"
            durations[f"eval {name}"] = c.eval_s
            deps[f"eval {name}"] = [name]
    return durations, deps


def lane_devices(lane: int, per_run: int) -> str:
    a = lane * per_run
    return str(a) if per_run == 1 else f"{a}-{a + per_run - 1}"
