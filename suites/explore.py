"""Held-out exploration of a suite: train entries once, exactly as `archspec bench` would (the same configs,
`entry_config`), at an exploratory seed, and print each run's error on the held-out split after its last
epoch, with its training time. Nothing here evaluates the scored test images: recipes are chosen on these
numbers, and the suite's confirmatory run uses other seeds.

    python suites/explore.py SUITE [--seed 0] [--jobs 2] [--out DIR] [--only ID]... [--set KEY=VALUE]...
                               [--lr LR]... [--family NAME=ID]...

`--set` overrides a `[suite]` key for this exploration only (e.g. --set width=0.25), to compare a choice.
`--lr` (repeated: a grid) trains every entry once at each learning rate, its own lr included, in a folder per lr
(`OUT/lr0.1`), and prints one row per entry and lr; each family (`--family NAME=ID`, once per entry) then gets the
lr whose mean held-out top-1 error over its entries is lowest (the rule suites/successors-recipe.md fixes before
the grid runs): every family the same grid, so the same number of looks.
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


def with_lr(suite: Suite, lr: float) -> Suite:
    """The suite with every entry at `lr`, its own lr included: one point of a learning-rate grid."""
    return suite.model_copy(update={"train": [e.model_copy(update={"lr": lr}) for e in suite.train]})


def grid(suite: Suite, out: Path, seed: int, jobs: int, only: list[str], lrs: list[float]) -> list[dict]:
    """Every entry once at each lr of the grid, each lr in its own folder: rows as `explore`'s, with the lr."""
    return [{"lr": lr} | row for lr in lrs for row in explore(with_lr(suite, lr), out / f"lr{lr:g}", seed, jobs, only)]


def family_choice(rows: list[dict], families: dict[str, list[str]]) -> list[dict]:
    """Per family and lr, the mean held-out top-1 error over its entries (every one of them must have trained at
    that lr), and the lr chosen: the lowest mean; a tie goes to the smaller lr."""
    out = []
    for name, ids in families.items():
        means = {}
        for lr in sorted({r["lr"] for r in rows}):
            errs = [r["held-out top-1 err"] for r in rows if r["lr"] == lr and r["entry"] in ids]
            if len(errs) == len(ids):
                means[lr] = sum(errs) / len(errs)
        best = min(means, key=lambda lr: (means[lr], lr)) if means else None
        out += [{"family": name, "lr": lr, "mean held-out top-1 err": round(m, 2), "chosen": lr == best}
                for lr, m in means.items()]  # fmt: skip
    return out


def families_of(given: list[str], suite: Suite) -> dict[str, list[str]]:
    """`--family NAME=ID`, repeated: each adds one entry to its family (ids may hold commas: "A, crop 64")."""
    out: dict[str, list[str]] = {}
    for text in given:
        name, _, id_ = text.partition("=")
        if not name or id_ not in {e.id for e in suite.train}:
            raise SystemExit(f"--family {text!r}: expected NAME=ID with ID an entry of {suite.suite.name}")
        out.setdefault(name, []).append(id_)
    return out


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE (TOML value) for [suite]")
    ap.add_argument("--lr", action="append", type=float, default=[], help="a learning rate of the grid (repeat)")
    ap.add_argument("--family", action="append", default=[], help="NAME=ID: ID shares its lr with NAME (repeat)")
    a = ap.parse_args()
    suite = load_suite(a.suite)
    families = families_of(a.family, suite)
    if a.set:
        extra = tomllib.loads("\n".join(a.set))
        suite = suite.model_copy(update={"suite": suite.suite.model_copy(update=extra)})
    out = Path(a.out or f"explore/{suite.suite.name}-seed{a.seed}")
    rows = grid(suite, out, a.seed, a.jobs, a.only, a.lr) if a.lr else explore(suite, out, a.seed, a.jobs, a.only)
    print(pd.DataFrame(rows).to_markdown(index=False))
    if families and a.lr:
        print(pd.DataFrame(family_choice(rows, families)).to_markdown(index=False))


if __name__ == "__main__":
    main()
