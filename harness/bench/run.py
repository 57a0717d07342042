"""`archspec bench`: train a suite's networks (every seed), evaluate them once, decide the paper's claims.

`run_suite` trains what is missing (resuming interrupted runs, reusing finished ones whose recorded
configuration matches exactly), evaluates each run once on the scored split with the paper's protocol
(posteriors cached in `evals/`, so ensembles and re-reports cost nothing), then fills the tables and
decides the claims with paired tests on the same images (`claims.py`), and writes the report
(`writer.py`). Trainings and evaluations run side by side with `--jobs` (`jobs.py`). Layout of a bench folder:

    bench/NAME/runs/<id>/seed<k>/        one training run per entry and seed (`archspec train` layout)
    bench/NAME/evals/<id>/seed<k>.safetensors   its posteriors per protocol and method, with the views
    bench/NAME/bench.json                the suite hash that made the runs
    bench/NAME/report.md, report.csv, report.json, claims.csv, Table_*.png
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from pydantic import BaseModel
from safetensors import SafetensorError, safe_open

from archspec.atomic import atomic_path
from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.files import folder, read_record
from archspec.infer import infer
from archspec.provenance import commit
from archspec.source import network

from ..evaluation import looks
from ..evaluation.evaluate import EvalJob, Evaluation, Part, code_hash, evaluate_sources
from ..evaluation.protocol import DENSE_FIT
from ..planning.cost import entry_plans
from ..planning.schedule import by_priority
from ..report import writer
from ..report.claims import score
from ..report.record import OUTCOMES, BenchRecord, Compute, DataFacts, Facts, RunRecord, load_outcomes, previous
from ..suite import (
    Entry,
    ScaleMap,
    Suite,
    entry_config,
    eval_passes,
    eval_precision,
    load_suite,
    needs,
    run_dir,
    safe,
    seeds_of,
    suite_hash,
    suite_path,
    uses_crops,
)
from ..training import metrics
from ..training.checkpoint import RUN_JSON_BYTES, locked, machine, read_run, safetensors_bytes
from ..training.config import SMALL_SOURCES, DataConfig, TrainConfig
from ..training.distributed import (
    autocast_dtype,
    check_precision,
    cores,
    default_device,
    precision_reason,
    within_cores,
)
from ..training.peak import Peak, measure
from ..training.train import train
from . import ledger
from .jobs import run_all, workers
from .outcomes import outcomes_of

# ---------------------------------------------------------------- training


RUN = "a run folder written by archspec train"
IDENTITY = ("spec", "name", "model", "data", "recipe", "backend")


def _finished(cfg: TrainConfig) -> bool:
    """A finished run of exactly this configuration and network (the spec's IR hash); a run of another one is an
    error, never reused."""
    run = Path(cfg.out)
    weights = run / "model.safetensors"
    if not (run / "run.json").is_file():
        return False
    saved, net, classes, _ = read_run(run)
    i = net.input
    now = cfg.network(len(classes), i.channels, (i.height, i.width))
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
        "multi_crop_images": suite.suite.multi_crop_images,
        "data": data,
        "precision": "bf16" if autocast_dtype(eval_precision(suite), default_device()) else "fp32",  # what runs here
        "dense_fit": DENSE_FIT,
        "code": code_hash(),  # the evaluation path's source: other code, other numbers
    }
    cache = _eval_cache(root, entry.id, seed)
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
    passes = eval_passes(suite, entry.id)  # a second (multi_crop_images): multi-crop parts on the first n labels
    runs = [
        evaluate_sources(replace(job, protocols=p, methods=m, limit=n or job.limit), devices=devices)
        for n, p, m in passes
    ]
    result = Evaluation(runs[0].labels, runs[0].parts + [p for r in runs[1:] for p in r.parts if uses_crops(p.method)])
    _write_eval(cache, key, result, len(result.labels) / (time.perf_counter() - start))
    return result


def _eval_cache(root: Path, id_: str, seed: int) -> Path:
    return root / "evals" / safe(id_) / f"seed{seed}.safetensors"


def _write_eval(path: Path, key: dict, ev: Evaluation, images_per_s: float) -> None:
    """The posteriors with what they depend on, and a token of their own: the ledger records a look by the tokens
    of the evaluations it reports (`ledger.unrecorded`)."""
    tensors = {"labels": ev.labels.contiguous()} | {f"p{i}": p.posterior.contiguous() for i, p in enumerate(ev.parts)}
    parts = [{k: v for k, v in vars(p).items() if k != "posterior"} for p in ev.parts]
    meta = {"key": json.dumps(key), "parts": json.dumps(parts), "images_per_s": str(images_per_s)}
    with atomic_path(path) as tmp:
        tmp.write_bytes(safetensors_bytes(tensors, meta | {"token": uuid.uuid4().hex}))


CACHE_DAMAGE = (SafetensorError, OSError, ValueError, KeyError, TypeError)  # what a damaged cache file raises


def _read_eval(path: Path, key: dict) -> Evaluation | None:
    """The cached evaluation, or None: made for another key, or damaged (a truncated file, a field of another
    shape), which is said once and then evaluated again and rewritten."""
    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata()
            if json.loads(meta["key"]) != key:
                return None
            labels = f.get_tensor("labels")  # (N,)
            parts = [Part(**p, posterior=f.get_tensor(f"p{i}")) for i, p in enumerate(json.loads(meta["parts"]))]
        if labels.dim() != 1 or any(not 0 < len(p.posterior) <= len(labels) for p in parts):
            raise ValueError("more posteriors than labels, or none")
        return Evaluation(labels, parts)
    except CACHE_DAMAGE as e:
        warnings.warn(f"{path}: a damaged evaluation cache ({str(e)[:80]}); evaluating the run again", stacklevel=2)
        return None


def evaluate_entry(suite_file: str, which: str, out: str | None, devices: int, data: str | None) -> str:
    """What an evaluation script runs (`bench --evaluate ID@SEED`): bench's evaluation of one finished run, into
    bench's cache, so that `archspec bench` afterwards reuses it."""
    suite = load_suite(suite_file)
    id_, at, seed = which.rpartition("@")
    entry = next((e for e in suite.train if e.id == id_), None)
    if not at or entry is None or not seed.isdigit():
        ids = ", ".join(e.id for e in suite.train)
        raise ArchspecError(f"--evaluate {which!r}: expected ENTRY@SEED with an entry of the suite ({ids})")
    root = Path(out) if out else Path("bench") / suite.suite.name
    cfg = entry_config(suite, entry, root, int(seed), devices, data)
    if not _finished(cfg):
        raise ArchspecError(f"--evaluate {which}: {cfg.out} has not finished training; expected a finished run")
    evaluate_run(root, suite, entry, int(seed), devices, data)
    return f"evaluated {id_} seed {seed} into {root / 'evals'}"


def _cache_meta(root: Path, id_: str, seed: int) -> dict:
    """A cache file's metadata; {} where there is none or it cannot be read (`_read_eval` says so)."""
    path = _eval_cache(root, id_, seed)
    if not path.is_file():
        return {}
    try:
        with safe_open(path, "pt") as f:
            return f.metadata() or {}
    except CACHE_DAMAGE:
        return {}


def eval_rate(root: Path, id_: str, seed: int) -> float | None:
    rate = _cache_meta(root, id_, seed).get("images_per_s")
    return None if rate is None else float(rate)


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
        from ..training.data import load_small

        load_small(DataConfig(source=source))  # fails now, with the install hint, not after an hour
    elif source not in SMALL_SOURCES:
        folder(source, "the suite's data (an ImageNet-layout folder), or pass --data")


class FolderRecord(BaseModel):
    """bench.json: the suite that made the folder's runs, the wall time spent on them, the most jobs side by side."""

    suite_sha256: str | None = None
    wall_s_total: float = 0.0
    jobs: int = 1
    peak_gflops: dict[str, float] | None = None  # the GEMM peak per core, measured at the start of the last bench
    peak_by: str | None = None
    precision: str | None = None  # what the suite's precision ran in and why, as resolved where that bench ran


def _folder_record(root: Path) -> FolderRecord | None:
    record = root / "bench.json"
    return read_record(record, FolderRecord, "the bench folder's record", RUN_JSON_BYTES) if record.is_file() else None


def _suite_record(root: Path, path: str, log) -> tuple[str | None, float, int]:
    """Remember which suite file made this folder, how long building it has taken and the most runs it ran side by
    side; say so when the file has changed since. Returns (the previous hash if it changed, seconds spent by
    earlier invocations, their most jobs)."""
    before, now = _folder_record(root), suite_hash(path)
    sha = before.suite_sha256 if before else None
    if sha is not None and sha != now:
        log(
            f"note: the suite file changed since {root} was made (sha256 {sha} -> {now}); runs are reused only "
            "where their recorded configuration still matches"
        )
    changed = sha if sha not in (None, now) else None
    return changed, before.wall_s_total if before else 0.0, before.jobs if before else 1


def _save_record(
    root: Path, path: str, wall_s_total: float, jobs: int, peak: Peak | None = None, precision: str | None = None
) -> None:
    """bench.json, keeping the peak and precision an earlier invocation recorded unless this one measured them."""
    before = _folder_record(root)
    record = FolderRecord(suite_sha256=suite_hash(path), wall_s_total=round(wall_s_total, 1), jobs=jobs)
    if peak is not None:
        record.peak_gflops = {"fp32": round(peak.fp32.gflops, 1), "bf16": round(peak.bf16.gflops, 2)}
        record.peak_by = f"torch {peak.torch} on {peak.cpu_model}, one thread, at the start of a bench"
        record.precision = precision
    elif before is not None:
        record.peak_gflops, record.peak_by, record.precision = before.peak_gflops, before.peak_by, before.precision
    with atomic_path(root / "bench.json") as tmp:
        tmp.write_text(record.model_dump_json())


def run_suite(
    path: str,
    out: str | None = None,
    devices: int = 1,
    data: str | None = None,
    log=print,
    threads: int | None = None,
    jobs: int = 1,
    report_only: bool = False,
) -> BenchRecord:
    """Train, evaluate and report a suite in `out` (default bench/<name>), which it owns (locked) meanwhile.
    `jobs` trainings and evaluations run side by side, in worker processes of `threads` torch threads each
    (default: the cores shared out); with one job `threads` sets this process's. Both are in the report.
    `report_only`: no training or evaluation; every interval and test is recomputed from the folder's
    outcomes.npz (a committed report's folder needs nothing else)."""
    if jobs > 1 and devices > 1:
        raise ArchspecError(f"--jobs {jobs} with {devices} processes per run; expected one of the two")
    import torch

    within_cores(jobs, "--jobs")
    within_cores(threads, "--threads")
    if jobs > 1:
        threads = threads or max(1, cores() // jobs)
    elif threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    commit()  # cached now: the report names the code this process loaded, not a commit made while it ran
    suite = load_suite(path)
    if not report_only:
        _check_data(suite, data)
        check_precision(suite.suite.precision, default_device(), f"{suite_path(path)}: suite.precision")
    root = Path(out or f"bench/{suite.suite.name}")
    check_bench_folder(root)
    with locked(root, "bench"):
        threads = threads or torch.get_num_threads()
        return _run_suite(suite, path, root, devices, data, log, started, jobs, threads, report_only)


BENCH_MARKS = ("bench.json", "report.json", "runs")  # a folder holding one of these is a bench folder


def check_bench_folder(root: Path) -> None:
    """`--out` is a new or empty folder, or one a bench wrote: never a user's folder whose files a report of the
    same name (report.md, claims.csv, ...) would replace."""
    if not root.is_dir():
        return
    names = sorted(p.name for p in root.iterdir() if p.name != ".lock")
    if names and not any(m in names for m in BENCH_MARKS):
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        raise ArchspecError(
            f"{root}: holds {names[0]}{more}, which archspec bench did not write; expected a new or empty folder "
            "for --out, or one a bench wrote (nothing in it is replaced)"
        )


def _train_and_evaluate(
    suite: Suite,
    root: Path,
    devices: int,
    data: str | None,
    log,
    jobs: int,
    threads: int,
    finished=lambda: None,
    looked=lambda task: None,
):
    """Train every (entry, seed) once what it starts from is trained, and evaluate each run once it is trained;
    at most `jobs` at a time, the task with the longest path of FLOPs to the end first (`_order`), so evaluations
    fill the cores that trainings leave idle. `finished()` after each task, and `looked(task)` after each
    evaluation, before anything else runs. Returns (status per run, failures, evaluations)."""
    by_id = {e.id: e for e in suite.train}
    status, failed, evals = {}, [], {}

    def deps(task):
        kind, id_, seed = task
        if kind == "eval":
            return [("train", id_, seed)]
        return [("train", ref, seed) for ref in (by_id[id_].pretrained_a, by_id[id_].finetune) if ref]

    def start(task, executor):
        kind, id_, seed = task
        entry = by_id[id_]
        if kind == "eval":
            return executor.submit(evaluate_run, root, suite, entry, seed, devices, data)
        cfg = entry_config(suite, entry, root, seed, devices, data)
        if jobs > 1:
            cfg = cfg.model_copy(update={"threads": threads})
        return executor.submit(train_entry, cfg)

    def done(task, r):
        kind, id_, seed = task
        if kind == "train" and isinstance(r, ArchspecError):  # recorded; the report will say it is incomplete
            failed.append(f"{id_} seed {seed}: {r}")
            log(f"failed {id_} seed {seed}: {r}")
        elif kind == "train":
            status[f"{id_} seed {seed}"] = r
            log(f"{r} {id_} seed {seed}: {run_dir(root, id_, seed)}")
        elif isinstance(r, ArchspecError):
            failed.append(f"eval {id_} seed {seed}: {r}")
            log(f"failed to evaluate {id_} seed {seed}: {r}")
        else:
            evals[(id_, seed)] = r
            looked((id_, seed))
            log(f"evaluated {id_} seed {seed}")
        finished()

    def started(task):
        log(f"{'training' if task[0] == 'train' else 'evaluating'} {task[1]} seed {task[2]}")

    with workers(jobs, threads) as executor:
        run_all(_order(suite, data, deps), deps, start, executor, jobs, started if jobs > 1 else None, done)
    return status, failed, evals


def _order(suite: Suite, data: str | None, deps) -> list[tuple[str, str, int]]:
    """Every training and evaluation, the longest path to the end first: the rule the planner's schedule
    simulates, on the FLOPs of each task (a training's steps and held-out passes, an evaluation's views)."""
    plans = {p.entry.id: p for p in entry_plans(suite, data)}
    durations = {}
    for kind in ("train", "eval"):  # dependencies come earlier
        for seed in seeds_of(suite):
            for e in suite.train:
                p = plans[e.id]
                durations[(kind, e.id, seed)] = p.train_flops + p.holdout_flops if kind == "train" else p.eval_flops
    return by_priority(durations, {t: deps(t) for t in durations})


def _run_suite(
    suite: Suite,
    path: str,
    root: Path,
    devices: int,
    data: str | None,
    log,
    started: float,
    jobs: int,
    threads: int,
    report_only: bool = False,
) -> BenchRecord:
    changed_from, earlier_s, earlier_jobs = _suite_record(root, path, log)
    ledger.check(root)  # before anything is evaluated: the ledger can take this look
    source, invocation, sha = data or suite.suite.data, uuid.uuid4().hex, suite_hash(path)
    entries = [e.id for e in suite.train]
    most_jobs = earlier_jobs if report_only else max(earlier_jobs, jobs)
    seeds = seeds_of(suite)
    if report_only:  # every input is read and checked before the look is recorded
        status, failed, fresh = {}, [], {}
        outcomes, saved = load_outcomes(root / OUTCOMES, suite)
        if saved != seeds:
            raise ArchspecError(f"{root / OUTCOMES}: seeds {saved}; expected the suite's seeds {seeds}")
        kept = previous(root).throughput
    else:
        ran = precision_reason(suite.suite.precision, default_device())  # auto resolved here, for --report-only
        _save_record(root, path, earlier_s, most_jobs, measure(), ran)  # the machine's GEMM peak, in about a second

        def clock() -> None:  # after each run and on the way out, so a cut-off invocation's time still counts
            _save_record(root, path, earlier_s + time.perf_counter() - started, most_jobs)

        def looked(task) -> None:  # each evaluation on the scored split goes on record as it ends
            fresh = ledger.unrecorded(root, {task: _cache_meta(root, *task).get("token")})
            if fresh:
                ledger.record(root, commit(), sha, fresh, entries, seeds, invocation, source, report=False)

        try:
            status, failed, evals = _train_and_evaluate(suite, root, devices, data, log, jobs, threads, clock, looked)
        finally:
            clock()
        # evaluated afresh and not on record yet: by an earlier invocation whose look could not be recorded
        fresh = ledger.unrecorded(root, {t: _cache_meta(root, *t).get("token") for t in evals})
        outcomes, kept = outcomes_of(suite, evals, seeds), []
    tables, claims, per_config = score(suite, outcomes)
    missing = sum(r["top1_err"] is None for t in tables for r in t["rows"])
    total = sum(len(t["rows"]) for t in tables)
    complete = not failed and not missing
    status_line = (
        "Complete: every entry trained and evaluated for every seed."
        if complete
        else f"INCOMPLETE: {missing} of {total} table rows have no result; failed: "
        f"{'; '.join(failed) or 'none'}. Rerun the same command to resume."
    )
    # a committed report's folder has no runs to time: its cost table is the one its runs were timed for
    throughput = _throughput(root, suite, seeds) or [r.model_dump() for r in kept]
    scale_rows = scaling(suite, root, devices, data) if devices > 1 else []
    wall_s = time.perf_counter() - started
    record = BenchRecord(
        root=root,
        suite=suite,
        suite_path=path,
        suite_changed_from=changed_from,
        data=data,
        complete=complete,
        status=status_line,
        tables=tables,
        outcomes=outcomes,
        claims=claims,
        per_configuration=per_config,
        throughput=throughput,
        scaling=scale_rows,
        trained=status,
        jobs=jobs,
        jobs_most=most_jobs,
        wall_s=wall_s,
        wall_s_total=earlier_s + (0.0 if report_only else wall_s),  # a recomputation runs nothing
        report_only=report_only,
        facts=facts(root, suite, data, threads, report_only),  # reads every run file the report quotes: a damaged one
    )  # fails here, before the look counts
    if not report_only:  # a recomputation adds no wall time to the runs'
        _save_record(root, path, record.wall_s_total, most_jobs)
    ledger.record(root, commit(), sha, fresh, entries, seeds, invocation, source)
    record.facts.looks = ledger.summary(root, sha) + (f"; {looks.summary(source)}" if record.facts.has_runs else "")
    writer.write(record)
    return record


def facts(root: Path, suite: Suite, data: str | None, threads: int, report_only: bool) -> Facts:
    """What the report's header says about the runs (their run.json and holdout.json) and this machine."""
    paths = [run_dir(root, e.id, seed) / "run.json" for seed in seeds_of(suite) for e in suite.train]
    runs = [read_record(path, RunRecord, RUN, RUN_JSON_BYTES) for path in paths if path.is_file()]
    has_runs = any(run_dir(root, e.id, s).is_dir() for e in suite.train for s in seeds_of(suite))
    first = run_dir(root, suite.train[0].id, seeds_of(suite)[0])
    try:
        cfg = read_run(first)[0]
        held = json.loads((first / "holdout.json").read_text())
        data_facts = DataFacts(
            trained=held.get("train"),
            held=held["count"],
            fraction=held["fraction"],
            crop=cfg.data.crop_size,
            pad=cfg.data.pad,
        )
    except Exception:  # an incomplete bench: the header says what is known
        data_facts = None
    precision, recorded = suite.suite.precision, _folder_record(root)
    unknown = precision is Precision.auto and report_only and not has_runs
    how = None if unknown else precision_reason(precision, default_device())
    if report_only and recorded is not None and recorded.precision is not None:
        how = recorded.precision  # as the runs ran, not as this machine or environment would run them now
    return Facts(
        here=machine(),
        threads=threads or torch.get_num_threads(),
        runs=runs,
        has_runs=has_runs,
        data=data_facts,
        precision=how,
        compute=compute(root, suite, data),
    )


def compute(root: Path, suite: Suite, data: str | None) -> Compute | None:
    """The suite's useful FLOPs (training with its held-out passes, and evaluation, every seed), counted from the
    IR by the planner's cost model, beside the GEMM peak bench.json recorded."""
    from ..planning.cost import entry_plans

    try:
        plans = entry_plans(suite, data)
    except ArchspecError:  # a data set whose size the planner does not know
        return None
    seeds, record = len(seeds_of(suite)), _folder_record(root)
    return Compute(
        train_flops=float(seeds * sum(e.train_flops + e.holdout_flops for e in plans)),
        eval_flops=float(seeds * sum(e.eval_flops for e in plans)),
        peak_gflops=record.peak_gflops if record else None,
        peak_by=record.peak_by if record else None,
        cores=cores(),
    )


def _throughput(root: Path, suite: Suite, seeds: list[int]) -> list[dict]:
    """Per entry: its cost, parameters and MACs per image at full scale (the spec as written, 224 x 224, 1,000
    classes) and as trained (run.json's net), and on this machine (first seed) training images/s, evaluation
    images/s and the training seconds of all seeds."""
    rows = []
    for entry in suite.train:
        run = run_dir(root, entry.id, seeds[0])
        m = metrics.read(run / "metrics.csv")
        if not m:
            continue
        seconds = sum(r["seconds"] for s in seeds for r in metrics.read(run_dir(root, entry.id, s) / "metrics.csv"))
        rate = eval_rate(root, entry.id, seeds[0])
        full, trained = infer(network(entry.spec)), infer(read_run(run)[1])
        rows.append(
            {
                "entry": entry.id,
                "params_full": full.params,
                "macs_full": full.macs,
                "params_trained": trained.params,
                "macs_trained": trained.macs,
                "epochs": m[-1]["epoch"],
                "train_images_per_s": round(m[-1]["images_per_s"]),
                "train_s_all_seeds": round(seconds, 1),
                "eval_images_per_s": None if rate is None else round(rate, 1),
            }
        )
    return rows
