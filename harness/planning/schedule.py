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


def schedule(durations: dict[str, float], deps: dict[str, list[str]], lanes: int) -> tuple[list[Slot], float]:
    """List scheduling on `lanes` identical lanes: whenever a lane is free, the ready task with the longest
    path to the end starts (ties: the suite's order). Returns the slots and the critical path's length
    (the lower bound no number of lanes beats); slots on one longest path are marked critical."""
    order = list(durations)
    after = {t: [u for u in order if t in deps[u]] for t in order}
    tail: dict[str, float] = {}
    for t in reversed(order):  # deps name earlier tasks only
        tail[t] = durations[t] + max((tail[u] for u in after[t]), default=0.0)
    path, t = [], max(order, key=lambda t: tail[t] if not deps[t] else -1)
    while True:
        path.append(t)
        if not after[t]:
            break
        t = max(after[t], key=lambda u: tail[u])
    done: dict[str, float] = {}
    free = [(0.0, lane) for lane in range(lanes)]
    waiting, slots = list(order), []
    while waiting:
        now, lane = heapq.heappop(free)
        ready = [t for t in waiting if all(d in done and done[d] <= now for d in deps[t])]
        if not ready:  # wait for the next dependency to finish
            later = min(done[d] for t in waiting for d in deps[t] if d in done and done[d] > now)
            heapq.heappush(free, (later, lane))
            continue
        t = max(ready, key=lambda t: (tail[t], -order.index(t)))
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
