"""Held-out exploration of a suite: train entries once, exactly as `archspec bench` would (the same configs,
`entry_config`), at an exploratory seed, and print each run's error on the held-out split after its last
epoch, with its training time. Nothing here evaluates the scored test images: recipes are chosen on these
numbers, and the suite's confirmatory run uses other seeds.

    python suites/explore.py SUITE [--seed 0] [--jobs 2] [--out DIR] [--only ID]... [--set KEY=VALUE]...

`--set` overrides a `[suite]` key for this exploration only (e.g. --set width=0.25), to compare a choice.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import tomllib

from archspec.harness.bench.jobs import run_all, workers
from archspec.harness.bench.run import train_entry
from archspec.harness.suite import Suite, entry_config, load_suite
from archspec.harness.training import metrics


def explore(suite: Suite, out: Path, seed: int, jobs: int, only: list[str]) -> list[dict]:
    entries = [e for e in suite.train if not only or e.id in only]
    by_id = {e.id: e for e in entries}
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def start(task, executor):
        cfg = entry_config(suite, by_id[task], out, seed, 1, None)
        return executor.submit(train_entry, cfg.model_copy(update={"threads": threads, "progress": False}))

    def deps(task):
        return [r for r in (by_id[task].pretrained_a, by_id[task].finetune) if r in by_id]

    with workers(jobs, threads) as ex:
        run_all(list(by_id), deps, start, ex, jobs, on_done=lambda t, r: print(f"done {t}: {r}", flush=True))
    rows = []
    for e in entries:
        m = metrics.read(Path(entry_config(suite, e, out, seed, 1, None).out) / "metrics.csv")
        if m:
            rows.append(
                {
                    "entry": e.id,
                    "epochs": m[-1]["epoch"],
                    "held-out top-1 err": round(m[-1]["holdout_top1_err"], 2),
                    "held-out top-5 err": round(m[-1]["holdout_top5_err"], 2),
                    "train s": round(sum(r["seconds"] for r in m)),
                    "images/s": round(m[-1]["images_per_s"]),
                }
            )
    return rows


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE (TOML value) for [suite]")
    a = ap.parse_args()
    suite = load_suite(a.suite)
    if a.set:
        extra = tomllib.loads("\n".join(a.set))
        suite = suite.model_copy(update={"suite": suite.suite.model_copy(update=extra)})
    out = Path(a.out or f"explore/{suite.suite.name}-seed{a.seed}")
    rows = explore(suite, out, a.seed, a.jobs, a.only)
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
