"""`archspec bench`: train a suite's networks (every seed), evaluate them once, decide the paper's claims.

`run_suite` trains what is missing (resuming interrupted runs, reusing finished ones whose recorded
configuration matches exactly), evaluates each run once on the scored split with the paper's protocol
(posteriors cached in `evals/`, so fusion and re-reports cost nothing), then fills the tables and
decides the claims with paired tests on the same images (`stats.py`), and writes the report
(`bench_report.py`). Layout of a bench folder:

    bench/NAME/runs/<id>/seed<k>/        one training run per entry and seed (`archspec train` layout)
    bench/NAME/evals/<id>/seed<k>.safetensors   its posteriors per protocol and method, with the views
    bench/NAME/bench.json                the suite hash that made the runs
    bench/NAME/report.md, report.csv, report.json, claims.csv, Table_*.png
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import archspec
from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.provenance import commit

from . import metrics, stats
from .checkpoint import locked, read_run
from .config import SMALL_SOURCES, DataConfig, TrainConfig
from .evaluation import EvalJob, Evaluation, Part, evaluate_sources, fuse
from .protocol import wrong
from .suite import (
    Claim,
    Entry,
    Row,
    ScaleMap,
    Suite,
    entry_config,
    eval_precision,
    load_suite,
    needs,
    run_dir,
    safe,
    seeds_of,
    suite_hash,
)
from .train import train

PAPER_SPEEDUP_4GPU = 3.75
MIN_DENSE_MAP = 2  # a dense evaluation needs a class score map of at least 2x2 at the largest scale
MIN_CROP_VIEWS = 50  # 5x5 grid x 2 flips, all distinct


# ---------------------------------------------------------------- training


IDENTITY = ("spec", "name", "model", "data", "recipe", "backend")


def _finished(cfg: TrainConfig) -> bool:
    """A finished run of exactly this configuration and network (the spec's IR hash); a run of another one is an
    error, never reused."""
    from safetensors import safe_open

    run = Path(cfg.out)
    weights = run / "model.safetensors"
    if not (run / "run.json").is_file():
        return False
    saved, net, classes, _ = read_run(run)
    i = net.input
    now = archspec.network(
        cfg.spec,
        num_classes=len(classes),
        input=f"{i.height}x{i.width}x{i.channels}",
        width=cfg.model.width,
        batch_norm=cfg.model.batch_norm,
    )
    if now.structure_hash() != net.structure_hash():
        raise ArchspecError(
            f"{run}: holds a run of another network (the spec {cfg.spec!r} has changed since); "
            "expected the suite's own run: remove the folder or use another --out"
        )
    want, have = cfg.model_dump(include=set(IDENTITY)), saved.model_dump(include=set(IDENTITY))
    for key in ("data", "recipe"):  # fields that only say how to run, not what is trained
        want[key].pop("workers", None), have[key].pop("workers", None)
    if want != have:
        changed = sorted(k for k in IDENTITY if want[k] != have[k])
        raise ArchspecError(
            f"{run}: holds a run of another configuration (differs in {', '.join(changed)}); "
            "expected the suite's own run: remove the folder or use another --out"
        )
    if not (run / "checkpoint.pt").is_file() or not weights.is_file():
        return False
    with safe_open(weights, "pt") as f:
        meta = f.metadata() or {}
    return int(meta.get("epoch", 0)) >= cfg.recipe.epochs and meta.get("step", "0") == "0"


def train_entry(cfg: TrainConfig) -> str:
    if _finished(cfg):
        return "reused"
    resume = (Path(cfg.out) / "checkpoint.pt").is_file()
    train(cfg.model_copy(update={"resume": resume}))
    return "resumed" if resume else "trained"


# ---------------------------------------------------------------- side by side (--jobs)


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

    torch.set_num_threads(threads)
    sys.stderr = _NotTerminal(sys.stderr)


def _in_worker(fn, *args):
    """Run a task; a user error comes back as the plain one-line error (its subclasses need not pickle)."""
    try:
        return fn(*args)
    except ArchspecError as e:
        raise ArchspecError(str(e)) from None


@contextmanager
def _executor(jobs: int, threads: int):
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


def _failed(result) -> bool:
    return result is None or isinstance(result, ArchspecError)


def _run_all(tasks: list, deps, start, executor, jobs: int, on_start=None, on_done=None) -> dict:
    """Run `start(task, executor)` (which submits the task and returns its future) for every task once the tasks
    `deps(task)` names have succeeded, at most `jobs` at a time, in the given order where there is a choice.
    Returns {task: its result, the ArchspecError it raised, or None where a task it depends on failed};
    `on_start(task)` and `on_done(task, result)` are told as it goes."""
    results, running, waiting = {}, {}, list(tasks)
    while waiting or running:
        for task in list(waiting):
            needs = deps(task)
            if any(n in results and _failed(results[n]) for n in needs):
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


# ---------------------------------------------------------------- evaluation (cached posteriors)


def evaluate_run(root: Path, suite: Suite, entry: Entry, seed: int, devices: int, data: str | None) -> Evaluation:
    """The protocol on one run, cached by what it depends on (weights, methods, scales, images)."""
    run = run_dir(root, entry.id, seed)
    cfg = read_run(run)[0]
    q = ScaleMap(cfg.data.crop_size).test_scales(entry.scale)[1]
    protocols, methods = needs(suite, entry.id)
    weights = run / "model.safetensors"
    key = {
        "weights": [weights.stat().st_size, weights.stat().st_mtime_ns],
        "methods": list(methods),
        "scales": q,
        "protocols": list(protocols),
        "limit": suite.suite.eval_limit,
        "data": data,
        "precision": str(eval_precision(suite)),
    }
    cache = root / "evals" / safe(entry.id) / f"seed{seed}.safetensors"
    if cache.is_file():
        found = _read_eval(cache, key)
        if found is not None:
            return found
    job = EvalJob(
        [str(run)],
        data=data,
        scales=q,
        methods=methods,
        limit=suite.suite.eval_limit,
        protocols=protocols,
        progress=False,
        precision=eval_precision(suite),
    )
    start = time.perf_counter()
    result = evaluate_sources(job, devices=devices)
    _write_eval(cache, key, result, len(result.labels) / (time.perf_counter() - start))
    return result


def _write_eval(path: Path, key: dict, ev: Evaluation, images_per_s: float) -> None:
    from safetensors.torch import save_file

    tensors = {"labels": ev.labels.contiguous()} | {f"p{i}": p.posterior.contiguous() for i, p in enumerate(ev.parts)}
    parts = [{k: v for k, v in vars(p).items() if k != "posterior"} for p in ev.parts]
    meta = {"key": json.dumps(key), "parts": json.dumps(parts), "images_per_s": str(images_per_s)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def _read_eval(path: Path, key: dict) -> Evaluation | None:
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata()
        if json.loads(meta["key"]) != key:
            return None
        parts = [Part(**p, posterior=f.get_tensor(f"p{i}")) for i, p in enumerate(json.loads(meta["parts"]))]
        return Evaluation(f.get_tensor("labels"), parts)


def eval_rate(root: Path, id_: str, seed: int) -> float | None:
    from safetensors import safe_open

    path = root / "evals" / safe(id_) / f"seed{seed}.safetensors"
    if not path.is_file():
        return None
    with safe_open(path, "pt") as f:
        return float(f.metadata()["images_per_s"])


# ---------------------------------------------------------------- tables and claims


@dataclass
class Outcome:
    """One table row over all seeds: per-seed top-1 / top-5 mistakes on the same images, and its views."""

    row: Row
    model: str
    wrong1: np.ndarray  # (seeds, N) 0/1
    wrong5: np.ndarray
    dense_map: int | None
    crop_views: int | None

    @property
    def comparable(self) -> str:
        """'yes', or why this row cannot stand for the paper's method at this scale."""
        why = []
        if self.row.protocol == "multi" and self.dense_map is not None and self.dense_map < MIN_DENSE_MAP:
            why.append(f"dense map {self.dense_map}x{self.dense_map} at the largest Q")
        if self.crop_views is not None and self.crop_views < MIN_CROP_VIEWS:
            why.append(f"{self.crop_views} distinct crops, not {MIN_CROP_VIEWS}")
        return "not comparable: " + ", ".join(why) if why else "yes"


def _part(evs: list[Evaluation], row: Row) -> Part | None:
    """The row's part of one seed's evaluations (one per id of the row; several: fusion)."""
    parts = [next((p for p in ev.parts if p.protocol == row.protocol and p.method == row.method), None) for ev in evs]
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else fuse(parts)[0]


def outcome(row: Row, per_seed: list[list[Evaluation]]) -> Outcome | None:
    """per_seed: for every seed, the evaluations of the row's ids (in row order)."""
    parts = [_part(evs, row) for evs in per_seed]
    if not parts or any(p is None for p in parts):
        return None
    w1, w5 = zip(*(wrong(p.posterior, evs[0].labels) for p, evs in zip(parts, per_seed, strict=True)), strict=True)
    first = parts[0]
    model = first.label if row.method == "centre" or len(row.train) > 1 else f"{first.label}/{first.test_scales}"
    maps = [p.dense_map for p in parts if p.dense_map is not None]
    views = [p.crop_views for p in parts if p.crop_views is not None]
    return Outcome(
        row,
        model,
        np.stack(w1).astype(np.float64),
        np.stack(w5).astype(np.float64),
        min(maps) if maps else None,
        min(views) if views else None,
    )


def table_row(row: Row, o: Outcome | None, rs: stats.Resamples | None) -> dict:
    """A report row: mean error over seeds, its 95% bootstrap interval over images, the spread between seeds."""
    r = {"row": row.label, "ours": o.model if o else "missing", "protocol": row.protocol, "method": row.method}
    r["nets"] = len(row.train)  # several: fusion
    for k in ("1", "5"):
        if o is None:
            r |= {f"top{k}_err": None, f"top{k}_lo": None, f"top{k}_hi": None, f"top{k}_seed_sd": None}
            continue
        w = o.wrong1 if k == "1" else o.wrong5
        mean, lo, hi = stats.mean_interval(w, rs)
        sd = float(np.std(100 * w.mean(1), ddof=1)) if len(w) > 1 else None
        r |= {
            f"top{k}_err": round(mean, 2),
            f"top{k}_lo": round(lo, 2),
            f"top{k}_hi": round(hi, 2),
            f"top{k}_seed_sd": None if sd is None else round(sd, 2),
        }
    r |= {
        "seeds": len(o.wrong1) if o else 0,
        "images": o.wrong1.shape[1] if o else 0,
        "paper_top1": row.paper_top1,
        "paper_top5": row.paper_top5,
        "diff_top1": round(r["top1_err"] - row.paper_top1, 2) if o and row.paper_top1 is not None else None,
        "dense_map": o.dense_map if o else None,
        "crop_views": o.crop_views if o else None,
        "comparable": o.comparable if o else "missing",
    }
    return r


CLAIM_RULE = (
    "Each configuration is one pair of rows compared on the same test images and seeds: the per-image difference "
    "in top-1 mistakes (first minus second), averaged over seeds, with a 95% interval from a two-level bootstrap "
    f"that resamples both the test images and the seeds ({stats.RESAMPLES} resamples, fixed seed), so that "
    "training noise between seeds widens it as the test set's size does. `lower` claims hold when the interval "
    "lies below 0 and are contradicted when it lies above 0; `no_worse` claims hold when it lies below +margin "
    "and are contradicted when it lies above it; otherwise inconclusive. Overall: the same test on the mean of "
    "the per-image differences over every usable configuration of the claim, except that it is inconclusive when "
    "configurations disagree (the pooled test holds but a configuration contradicts the claim, or the reverse): "
    "a large effect in one configuration does not outvote another. Rows that are missing or not "
    "comparable at this scale are left out of every verdict."
)


def decide(claim: Claim, outcomes: dict[str, Outcome], rows: dict[str, dict], rs) -> tuple[dict, list[dict]]:
    """(overall row, per-configuration rows) for one claim."""
    per, diffs = [], []
    for first, second in claim.pairs:
        a, b = outcomes.get(first), outcomes.get(second)
        paper = None
        pa, pb = rows[first]["paper_top1"], rows[second]["paper_top1"]
        if pa is not None and pb is not None:
            paper = round(pa - pb, 2)
        entry = {"claim": claim.text, "configuration": f"{first} vs {second}", "paper_diff": paper}
        if a is None or b is None:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not measured"})
            continue
        if "not" in a.comparable or "not" in b.comparable:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not comparable"})
            continue
        if a.wrong1.shape != b.wrong1.shape:
            per.append(entry | {"diff": None, "lo": None, "hi": None, "verdict": "not measured (seeds differ)"})
            continue
        p = stats.paired(a.wrong1, b.wrong1, rs)
        diffs.append(a.wrong1 - b.wrong1)
        per.append(
            entry
            | {
                "diff": round(p.diff, 2),
                "lo": round(p.lo, 2),
                "hi": round(p.hi, 2),
                "verdict": stats.verdict(p, claim.kind, claim.margin),
            }
        )
    side = "below 0" if claim.kind == "lower" else f"below +{claim.margin}"
    overall = {
        "claim": claim.text,
        "kind": f"{claim.kind} ({side})",
        "configurations": len(claim.pairs),
        "used": len(diffs),
    }
    if not diffs:
        verdicts = {r["verdict"] for r in per}
        return overall | {
            "diff": None,
            "lo": None,
            "hi": None,
            "verdict": "not comparable" if verdicts == {"not comparable"} else "not measured",
        }, per
    p = stats.pooled(diffs, rs)
    tally = ", ".join(f"{sum(r['verdict'] == v for r in per)} {v}" for v in ("holds", "contradicted", "inconclusive"))
    verdict = stats.verdict(p, claim.kind, claim.margin)
    against = {"holds": "contradicted", "contradicted": "holds"}.get(verdict)
    if any(r["verdict"] == against for r in per):  # configurations disagree: no overall verdict
        verdict = "inconclusive"
    return overall | {
        "diff": round(p.diff, 2),
        "lo": round(p.lo, 2),
        "hi": round(p.hi, 2),
        "verdict": verdict,
        "per configuration": tally,
    }, per


# ---------------------------------------------------------------- scaling


def scaling(suite: Suite, root: Path, devices: int, data: str | None) -> list[dict]:
    """Training images/s for 1, 2, 4, ... processes on the suite's first net, and the speed-up."""
    entry, rows = suite.train[0], []
    counts = [n for n in (1, 2, 4, 8, 16, 32) if n <= devices]
    for n in counts:
        cfg = entry_config(suite, entry, root / "scaling", suite.suite.seed, n, "synthetic")
        side = cfg.data.crop_size
        batch = max(suite.suite.batch, 32 * n) // n * n
        cfg = cfg.model_copy(
            update={
                "out": str(root / "scaling" / f"n{n}"),
                "progress": False,
                "data": cfg.data.model_copy(update={"synthetic": (batch * 12, 10, side), "scale": (side, side)}),
                "recipe": cfg.recipe.model_copy(
                    update={"epochs": 1, "batch": batch, "pretrained_a": None, "finetune": None, "max_steps": 10}
                ),
            }
        )
        shutil.rmtree(cfg.out, ignore_errors=True)
        rate = train(cfg).metrics[-1]["images_per_s"]
        rows.append({"processes": n, "train_images_per_s": round(rate, 1)})
    for r in rows:
        r["speedup"] = round(r["train_images_per_s"] / rows[0]["train_images_per_s"], 2)
        r["efficiency_%"] = round(100 * r["speedup"] / r["processes"], 1)
    return rows


# ---------------------------------------------------------------- the suite


def _check_data(suite: Suite, data: str | None) -> None:
    source = data or suite.suite.data
    if source in ("fashion-mnist", "mnist"):
        from .data import load_small

        load_small(DataConfig(source=source))  # fails now, with the install hint, not after an hour
    elif source not in SMALL_SOURCES and not Path(source).is_dir():
        raise ArchspecError(
            f"{source}: no such folder; expected the suite's data (an ImageNet-layout folder), or pass --data"
        )


def _suite_record(root: Path, path: str, log) -> tuple[str | None, float]:
    """Remember which suite file made this folder and how long building it has taken; say so when the file
    has changed since. Returns (the previous hash if it changed, seconds spent by earlier invocations)."""
    record, now = root / "bench.json", suite_hash(path)
    before = json.loads(record.read_text()) if record.is_file() else {}
    sha = before.get("suite_sha256")
    if sha is not None and sha != now:
        log(
            f"note: the suite file changed since {root} was made (sha256 {sha} -> {now}); runs are reused only "
            "where their recorded configuration still matches"
        )
    return (sha if sha not in (None, now) else None), float(before.get("wall_s_total", 0.0))


def _save_record(root: Path, path: str, wall_s_total: float) -> None:
    with atomic_path(root / "bench.json") as tmp:
        tmp.write_text(json.dumps({"suite_sha256": suite_hash(path), "wall_s_total": round(wall_s_total, 1)}))


def run_suite(
    path: str,
    out: str | None = None,
    devices: int = 1,
    data: str | None = None,
    log=print,
    threads: int | None = None,
    jobs: int = 1,
) -> dict:
    """Train, evaluate and report a suite in `out` (default bench/<name>), which it owns (locked) meanwhile.
    `jobs` trainings and evaluations run side by side, in worker processes of `threads` torch threads each
    (default: the cores shared out); with one job `threads` sets this process's. Both are in the report."""
    if jobs > 1 and devices > 1:
        raise ArchspecError(f"--jobs {jobs} with {devices} processes per run; expected one of the two")
    import torch

    if jobs > 1:
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    elif threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    commit()  # cached now: the report names the code this process loaded, not a commit made while it ran
    suite = load_suite(path)
    _check_data(suite, data)
    root = Path(out or f"bench/{suite.suite.name}")
    with locked(root, "bench"):
        return _run_suite(suite, path, root, devices, data, log, started, jobs, threads or torch.get_num_threads())


def _train_and_evaluate(suite: Suite, root: Path, devices: int, data: str | None, log, jobs: int, threads: int):
    """Train every (entry, seed) once what it starts from is trained, then evaluate each; at most `jobs` at a time.
    Returns (status per run, failures, evaluations)."""
    tasks = [(entry.id, seed) for seed in seeds_of(suite) for entry in suite.train]  # seed-major
    by_id = {e.id: e for e in suite.train}
    status, failed, evals = {}, [], {}

    def deps(task):
        entry, seed = by_id[task[0]], task[1]
        return [(ref, seed) for ref in (entry.pretrained_a, entry.finetune) if ref]

    def start_training(task, executor):
        entry, seed = by_id[task[0]], task[1]
        cfg = entry_config(suite, entry, root, seed, devices, data)
        if jobs > 1:
            cfg = cfg.model_copy(update={"threads": threads})
        return executor.submit(train_entry, cfg)

    def trained(task, r):
        (id_, seed) = task
        if isinstance(r, ArchspecError):  # recorded; the report will say it is incomplete
            failed.append(f"{id_} seed {seed}: {r}")
            log(f"failed {id_} seed {seed}: {r}")
        else:
            status[f"{id_} seed {seed}"] = r
            log(f"{r} {id_} seed {seed}: {run_dir(root, id_, seed)}")

    def start_eval(task, executor):
        entry, seed = by_id[task[0]], task[1]
        return executor.submit(evaluate_run, root, suite, entry, seed, devices, data)

    def evaluated(task, r):
        (id_, seed) = task
        if isinstance(r, ArchspecError):
            failed.append(f"eval {id_} seed {seed}: {r}")
            log(f"failed to evaluate {id_} seed {seed}: {r}")
        else:
            evals[task] = r
            log(f"evaluated {id_} seed {seed}")

    started = (lambda what: lambda t: log(f"{what} {t[0]} seed {t[1]}")) if jobs > 1 else lambda what: None
    with _executor(jobs, threads) as executor:
        results = _run_all(tasks, deps, start_training, executor, jobs, started("training"), trained)
        usable = [t for t in tasks if not _failed(results[t])]
        usable.sort(key=lambda t: len(needs(suite, t[0])[1]) == 1)  # multi-crop (150 views an image) first
        _run_all(usable, lambda t: [], start_eval, executor, jobs, started("evaluating"), evaluated)
    return status, failed, evals


def _run_suite(
    suite: Suite, path: str, root: Path, devices: int, data: str | None, log, started: float, jobs: int, threads: int
) -> dict:
    from . import bench_report

    changed_from, earlier_s = _suite_record(root, path, log)
    seeds = seeds_of(suite)
    status, failed, evals = _train_and_evaluate(suite, root, devices, data, log, jobs, threads)
    n = {len(ev.labels) for ev in evals.values()}
    rs = stats.resamples(n.pop(), len(seeds)) if len(n) == 1 else None
    tables, outcomes, rows_by_label = [], {}, {}
    for table in suite.table:
        rows = []
        for row in table.rows:
            per_seed = [[evals[i, s] for i in row.train] for s in seeds if all((i, s) in evals for i in row.train)]
            o = outcome(row, per_seed) if rs is not None and len(per_seed) == len(seeds) else None
            if o is not None:
                outcomes[row.label] = o
            rows_by_label[row.label] = table_row(row, o, rs)
            rows.append(rows_by_label[row.label])
        tables.append({"name": table.name, "title": table.title, "rows": rows, "plot": f"{safe(table.name)}.png"})
    claims, per_config = [], []
    for claim in suite.claim:
        overall, per = decide(claim, outcomes, rows_by_label, rs)
        claims.append(overall)
        per_config += per
    missing = sum(r["top1_err"] is None for t in tables for r in t["rows"])
    total = sum(len(t["rows"]) for t in tables)
    complete = not failed and not missing
    status_line = (
        "Complete: every entry trained and evaluated for every seed."
        if complete
        else f"INCOMPLETE: {missing} of {total} table rows have no result; failed: "
        f"{'; '.join(failed) or 'none'}. Rerun the same command to resume."
    )
    throughput = _throughput(root, suite, seeds)
    scale_rows = scaling(suite, root, devices, data) if devices > 1 else []
    result = {
        "root": root,
        "complete": complete,
        "status": status_line,
        "tables": tables,
        "claims": claims,
        "per_configuration": per_config,
        "throughput": throughput,
        "scaling": scale_rows,
        "trained": status,
        "suite": suite,
        "suite_path": path,
        "suite_changed_from": changed_from,
        "data": data,
        "jobs": jobs,
        "threads": threads,
        "wall_s": time.perf_counter() - started,
    }
    result["wall_s_total"] = earlier_s + result["wall_s"]
    _save_record(root, path, result["wall_s_total"])
    bench_report.write(result)
    return result


def _throughput(root: Path, suite: Suite, seeds: list[int]) -> list[dict]:
    """Per entry (first seed): training images/s and seconds, evaluation images/s."""
    rows = []
    for entry in suite.train:
        run = run_dir(root, entry.id, seeds[0])
        m = metrics.read(run / "metrics.csv")
        if not m:
            continue
        seconds = sum(r["seconds"] for s in seeds for r in metrics.read(run_dir(root, entry.id, s) / "metrics.csv"))
        rate = eval_rate(root, entry.id, seeds[0])
        rows.append(
            {
                "entry": entry.id,
                "epochs": m[-1]["epoch"],
                "train_images_per_s": round(m[-1]["images_per_s"]),
                "train_s_all_seeds": round(seconds, 1),
                "eval_images_per_s": None if rate is None else round(rate, 1),
            }
        )
    return rows
