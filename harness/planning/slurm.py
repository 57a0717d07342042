"""Slurm scripts for a plan: per (entry, seed) a training script, run in parts no longer than `--max-time` that
resume from the step checkpoint, and an evaluation script; submit.sh submits them in order, chain.sh (sourced by
every script) holds how a part goes on and how a job waits for a run.

- Precision: the scripts train the suite as planned: `<suite>.toml` beside them is the suite with the precision
  the plan was costed in.
- Data: every script gets the same `--data` (the suite's where the plan had none): bench keys its evaluation cache
  by it, so `archspec bench --suite DIR/<suite>.toml --data D` afterwards reuses the runs and evaluations.
- CPUs and memory per task from the data loader's images/s per core (`loader.py`): enough loader workers for
  each GPU's planned images/s, within the job's share of a node (devices.toml's cpus_per_node, host_memory_gib).
- A part ends 300 s before its time limit with SIGTERM (`--signal=TERM@300`), which `archspec train` turns into
  a checkpoint (train.py: `_sigterm_as_interrupt`); a part that stops with a newer checkpoint queues the next
  after itself (afterany), which resumes from it; `--requeue` lets Slurm restart a preempted part, which resumes
  the same way. A job that needs a run waits for the run's marker (state/NAME.done), not a job fixed in advance.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from archspec.errors import ArchspecError
from archspec.files import make_folder

from ..suite import Entry, Suite, entry_config, load_suite, safe, seeds_of
from ..training.config import SMALL_SOURCES, to_options
from .devices import GIB, Device
from .loader import DEFAULT_RATE

if TYPE_CHECKING:
    from .cost import Costed
    from .plan import Plan

MAX_TIME_H = 48.0  # --max-time's default: 2 days, a common partition limit
MARGIN = 1.5  # the plan's time with a 50% margin
SIGNAL = "TERM@300"
PROCESS_GIB = 4.0  # a training process's own host memory: torch, CUDA context, the dataset's file list
WORKER_GIB = 0.5  # a loader worker's: Python, PIL, its copy of the file list
IN_MEMORY_WORKERS = 1  # an in-memory set (embedded, MNIST, synthetic) is loaded in the training process: no decoding
CHAIN = Path(__file__).with_name("chain.sh")  # sourced by every script: waiting for runs, going on past a limit


@dataclass(frozen=True)
class Resources:
    """What one node's task asks for: a training process and its loader workers per GPU, within the node's share
    of its CPUs and host memory."""

    images_per_s: float  # each GPU's planned training images/s
    wanted: int  # loader workers per GPU that keep it fed
    workers: int  # loader workers per GPU, within the share of the node's CPUs
    cpus: int  # per node
    mem_gib: int  # per node
    mem_capped: bool  # the estimate was over the share of the node's host memory

    @property
    def loader_bound(self) -> bool:
        return self.workers < self.wanted


def resources(c: Costed, dev: Device, per_node: int, crop: int, rate: float, in_memory: bool) -> Resources:
    """Loader workers enough for each GPU's planned images/s at `rate` images/s a core (a fixed few for an
    in-memory set), a core for each training process, at most this job's share of a node's CPUs (`per_node` of
    its `dev.node` GPUs); memory for each process, its workers and their prefetched batches (2 a worker, uint8)
    and a host copy of the weights and momentum when checkpointing, at most the share of the node's memory."""
    per_gpu = c.plan.batch / c.devices
    images_per_s = per_gpu / c.step.overlapped
    wanted = IN_MEMORY_WORKERS if in_memory else max(1, math.ceil(images_per_s / rate))
    share = dev.cpus_per_node * per_node // dev.node
    workers = min(wanted, max(0, share // per_node - 1))
    batch_bytes = per_gpu * 3 * crop * crop
    gib = PROCESS_GIB + 2 * 4 * c.plan.cost.params / GIB + workers * (WORKER_GIB + 2 * batch_bytes / GIB)
    mem, cap = math.ceil(per_node * gib), max(1, math.floor(dev.host_memory_gib * per_node / dev.node))
    return Resources(images_per_s, wanted, workers, per_node * (workers + 1), min(mem, cap), mem > cap)


def train_argv(suite: Suite, entry: Entry, seed: int, gpus: int, data: str | None, workers: int | None = None):
    """`archspec train` arguments that make exactly the run `archspec bench` trains for (entry, seed), in
    bench's folder layout, so that bench reuses it afterwards: every option of its config (`config.to_options`)."""
    cfg = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, gpus, data)
    workers_option = [] if workers is None else ["--workers", str(workers)]  # how to load, not what is trained
    return ["archspec", "train", cfg.spec, *to_options(cfg), *workers_option, "--gpus", str(gpus)]


def check_slurm_folder(folder: Path) -> None:
    """`--slurm` is a new or empty folder, or one a plan wrote (it has submit.sh): its README.md and scripts are
    replaced, never a user's files of the same names."""
    if folder.is_dir() and not (folder / "submit.sh").is_file() and any(folder.iterdir()):
        raise ArchspecError(
            f"{folder}: holds files that archspec bench --plan did not write (no submit.sh); expected a new or "
            "empty folder for --slurm, or one a plan wrote"
        )


def planned_suite(text: str, precision: str) -> str:
    """The suite file's text with `precision` in its [suite] table (replacing the line there, if any)."""
    table = re.search(r"(?m)^\[suite\][ \t]*(#.*)?(\n|$)", text)
    if table is None:
        raise ArchspecError("the suite file has no [suite] table on a line of its own; expected one")
    nxt = re.search(r"(?m)^\[", text[table.end() :])
    stop = table.end() + nxt.start() if nxt else len(text)
    body = re.sub(r"(?m)^precision\s*=.*(\n|$)", "", text[table.end() : stop])
    line = f'precision = "{precision}"  # as planned by archspec bench --plan\n'
    return text[: table.end()] + line + body + text[stop:]


@dataclass(frozen=True)
class Written:
    scripts: list[Path]
    notes: list[str]  # where a job asks for less than the plan needs: loader-bound, memory or time capped


def write_slurm(
    p: Plan,
    folder: str | Path,
    suite_text: str,
    data: str | None = None,
    max_time_h: float = MAX_TIME_H,
    rate: float = DEFAULT_RATE,
) -> Written:
    """The scripts, chain.sh, submit.sh and a README. Every script gets the same `--data` (the suite's where none
    is given), which bench keys its evaluation cache by: `archspec bench` with that `--data` reuses them."""
    from archspec.atomic import atomic_path

    if max_time_h <= 0:
        raise ArchspecError(f"--max-time {max_time_h}: expected hours > 0")
    out = make_folder(folder, "the Slurm scripts").resolve()
    g, dev = p.per_run, p.device
    nodes = math.ceil(g / dev.node)
    per_node = g // nodes
    if per_node * nodes != g:
        raise ArchspecError(f"{g} GPUs per run do not fill {nodes} nodes of {dev.node}; expected a multiple")
    suite_file = out / f"{p.suite.suite.name}.toml"
    with atomic_path(suite_file) as tmp:
        tmp.write_text(planned_suite(suite_text, p.precision))
    suite = load_suite(str(suite_file))
    data = data or suite.suite.data
    jobs = _Jobs(p, suite, suite_file, out, nodes, per_node, data, max_time_h, rate)
    submit = _submit_head(out)
    for seed in seeds_of(suite):
        names = {e.id: f"{i:02d}-{safe(e.id)}-seed{seed}" for i, e in enumerate(suite.train, 1)}
        for entry, c in zip(suite.train, p.entries, strict=True):
            name, refs = names[entry.id], [names[r] for r in c.plan.refs]
            res = jobs.training(entry, seed, c, name, refs)
            jobs.evaluation(entry, seed, c, name, res)
            submit += _submit_lines(name, refs)
    submit.append(f'echo "submitted; then: {_report_command(suite_file, data)} (reuses the runs and evaluations)"')
    _write(out / "submit.sh", submit + [""])
    (out / "submit.sh").chmod(0o755)
    with atomic_path(out / CHAIN.name) as tmp:
        tmp.write_text(CHAIN.read_text(encoding="utf-8"))
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(_readme(p, suite_file, data, max_time_h))
    return Written(jobs.scripts, jobs.summary())


@dataclass
class _Jobs:
    """Writes each (entry, seed)'s training and evaluation scripts, and keeps what was capped for the notes."""

    p: Plan
    suite: Suite
    suite_file: Path
    out: Path
    nodes: int
    per_node: int
    data: str
    max_time_h: float
    rate: float
    scripts: list[Path] = field(default_factory=list)
    loader_bound: list[str] = field(default_factory=list)
    mem_capped: list[str] = field(default_factory=list)
    time_capped: list[str] = field(default_factory=list)

    def training(self, entry: Entry, seed: int, c: Costed, name: str, refs: list[str]) -> Resources:
        p, suite, g, per_node = self.p, self.suite, self.p.per_run, self.per_node
        in_memory = self.data in SMALL_SOURCES
        res = resources(c, p.device, per_node, suite.crop_of(entry, self.data), self.rate, in_memory)
        hours = max(1.0, MARGIN * c.train_s / 3600)
        command = " ".join(shlex.quote(a) for a in train_argv(suite, entry, seed, g, self.data, res.workers))
        run = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, g, self.data).out
        lines = _sbatch(
            f"{suite.suite.name}-{safe(entry.id)}-seed{seed}",
            self.nodes,
            per_node,
            res,
            min(hours, self.max_time_h),
            self.out / name,
        )
        lines += [
            "#SBATCH --requeue",
            f"#SBATCH --signal={SIGNAL}",
            f"# {entry.id} seed {seed}: {c.plan.epochs} epochs on {g} x {p.device_name} in {p.precision}, planned "
            f"{c.train_s / 3600:.1f} h (MFU {p.mfu}); parts of at most {self.max_time_h:g} h (about "
            f"{math.ceil(hours / self.max_time_h)} with a {MARGIN - 1:.0%} margin): a part that ends with the run "
            "unfinished queues the next, however many it takes",
            "# " + self._loaders(entry, res),
            *self._header(name, run),
            *(["wait_for " + " ".join(refs)] if refs else []),
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            "port=$((20000 + SLURM_JOB_ID % 20000))  # the rendezvous's: two jobs sharing a node need two",
            'launch=(srun --cpus-per-task="$SLURM_CPUS_PER_TASK" torchrun --nnodes "$SLURM_NNODES" '
            f'--nproc-per-node {per_node} --rdzv-id "$SLURM_JOB_ID" --rdzv-backend c10d --rdzv-endpoint '
            '"$head:$port" --no-python)',
            'before=$(stamp "$run/checkpoint.pt")',
            'if [ -f "$run/checkpoint.pt" ]; then  # an earlier part or a requeue saved it',
            f'    "${{launch[@]}}" archspec train --resume "$run" --gpus {g} --workers {res.workers} && status=0 '
            "|| status=$?",
            "else",
            f'    "${{launch[@]}}" {command} && status=0 || status=$?',
            "fi",
            'finish "$status" "$before"',
            "",
        ]
        self._add(self.out / f"{name}.sbatch", lines)
        return res

    def evaluation(self, entry: Entry, seed: int, c: Costed, name: str, res: Resources) -> None:
        p, g = self.p, self.p.per_run
        gpus = min(g, p.device.node)
        command = ["archspec", "bench", "--suite", str(self.suite_file), "--evaluate", f"{entry.id}@{seed}"]
        command += ["--gpus", str(gpus), "--data", self.data]
        mem = math.ceil(res.mem_gib * gpus / self.per_node)
        eval_res = Resources(0, res.wanted, res.workers, gpus * (res.workers + 1), mem, res.mem_capped)
        hours = max(1.0, MARGIN * c.eval_s / 3600 * g / gpus)
        capped = hours > self.max_time_h
        if capped:
            self.time_capped.append(f"{entry.id} {hours:.0f} h")
        lines = _sbatch(
            f"{self.suite.suite.name}-eval-{safe(entry.id)}-seed{seed}",
            1,
            gpus,
            eval_res,
            min(hours, self.max_time_h),
            self.out / f"{name}.eval",
        )
        lines += [
            f"# the evaluation of {entry.id} seed {seed} on {gpus} x {p.device_name}: planned {hours:.1f} h with a "
            f"{MARGIN - 1:.0%} margin"
            + (
                f"; CAPPED at --max-time {self.max_time_h:g} h: it may be cut off (evaluations do not resume)"
                if capped
                else ""
            ),
            *self._header(f"{name}.eval"),
            f"wait_for {name}",
            " ".join(shlex.quote(a) for a in command),
            "",
        ]
        self._add(self.out / f"{name}.eval.sbatch", lines)

    def _header(self, me: str, run: Path | None = None) -> list[str]:
        here = shlex.quote(str(self.out))
        return [
            "set -euo pipefail",
            f"here={here} me={me}" + (f" run={shlex.quote(str(run))}" if run else ""),
            f'. "$here/{CHAIN.name}"  # wait_for, finish: how a job waits for runs and a run goes on past its limit',
        ]

    def _loaders(self, entry: Entry, res: Resources) -> str:
        dev = self.p.device
        if self.data in SMALL_SOURCES:
            return f"loaders: {self.data} is loaded in memory: {res.workers} worker a GPU"
        line = f"loaders: {res.images_per_s:,.0f} images/s a GPU at {self.rate:g} a core: {res.wanted} workers a GPU"
        if res.loader_bound:
            self.loader_bound.append(f"{entry.id} {res.wanted} -> {res.workers}")
            line += (
                f"; LOADER-BOUND: the node's {dev.cpus_per_node} CPUs for {dev.node} GPUs give {self.per_node} GPUs "
                f"{res.workers} each"
            )
        if res.mem_capped:
            self.mem_capped.append(entry.id)
        return line

    def _add(self, path: Path, lines: list[str]) -> None:
        _write(path, lines)
        self.scripts.append(path)

    def summary(self) -> list[str]:
        dev, name = self.p.device, self.p.device_name
        notes = []
        if self.loader_bound:
            notes.append(
                f"loader-bound: {name}'s node has {dev.cpus_per_node} CPUs for {dev.node} GPUs (devices.toml), fewer "
                f"than the loaders need at {self.rate:g} images/s a core; workers a GPU, needed -> given: "
                f"{', '.join(_first(self.loader_bound))}; the GPUs will wait on decoding"
            )
        if self.mem_capped:
            capped = ", ".join(_first(self.mem_capped))
            notes.append(f"memory capped at the job's share of a node's {dev.host_memory_gib:g} GiB: {capped}")
        if self.time_capped:
            notes.append(
                f"evaluations over --max-time {self.max_time_h:g} h (planned with a {MARGIN - 1:.0%} margin), capped "
                f"at it and may be cut off (they do not resume): {', '.join(_first(self.time_capped))}; raise "
                "--max-time where the partition allows"
            )
        return notes


def _first(items: list[str], n: int = 4) -> list[str]:
    """The first `n` of the distinct items, and how many more (every seed repeats an entry)."""
    items = list(dict.fromkeys(items))
    return items[:n] + ([f"and {len(items) - n} more"] if len(items) > n else [])


def _report_command(suite_file: Path, data: str) -> str:
    return f"archspec bench --suite {shlex.quote(str(suite_file))} --data {shlex.quote(data)}"


def _readme(p: Plan, suite_file: Path, data: str, max_time_h: float) -> str:
    out = suite_file.parent
    return (
        f"# Slurm scripts for the {p.suite.suite.name} suite\n\nSubmit them all, once, with `bash {out}/submit.sh` "
        "from the folder where `archspec bench` will run. Each training runs in parts of at most "
        f"{max_time_h:g} h that resume from the step checkpoint: a part that ends with its run unfinished queues "
        "the next. Each job that needs a run (the trainings that start from it, its evaluation) waits for the "
        "run's marker in `state/` (its `NAME.done`), not for a fixed job: `chain.sh` has the logic. "
        f"`{suite_file.name}` is the suite in the precision the plan was costed in ({p.precision}). Afterwards "
        f"`{_report_command(suite_file, data)}` there reuses the runs and the evaluations (bench keys them by "
        "that `--data`) and reports.\n"
    )


def _sbatch(job: str, nodes: int, per_node: int, res: Resources, hours: float, log: Path) -> list[str]:
    minutes = math.ceil(hours * 60)
    return [
        "#!/bin/bash",
        f"#SBATCH --job-name={job}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gres=gpu:{per_node}",
        f"#SBATCH --cpus-per-task={res.cpus}",
        f"#SBATCH --mem={res.mem_gib}G",
        f"#SBATCH --time={minutes // 1440}-{minutes % 1440 // 60:02d}:{minutes % 60:02d}:00",
        f"#SBATCH --output={log}.%j.log",
        "#SBATCH --open-mode=append",  # a requeued job appends to its log instead of replacing it
    ]


def _submit_head(out: Path) -> list[str]:
    return [
        "#!/bin/bash",
        "# Every training and evaluation of the suite, in its order; each job waits for the runs it needs (chain.sh).",
        "# Run it once, where archspec bench will run: the runs go to bench/<suite>/runs/ under the current folder.",
        "set -euo pipefail",
        f"here={shlex.quote(str(out))}",
        f'. "$here/{CHAIN.name}"  # submit: sbatch, recording the job as the latest of its chain in state/',
        'mkdir -p "$state" && rm -f "$state"/*.job "$state"/*.done  # a new submission: no run marked done yet',
    ]


def _submit_lines(name: str, refs: list[str]) -> list[str]:
    """The training (after the first job of each run it starts from, afterany: it then waits for that run's
    marker) and its evaluation after it."""
    after = ":".join(f"${_var(r)}" for r in refs)
    dep = f" --dependency=afterany:{after}" if refs else ""
    return [
        f"{_var(name)}=$(submit {name}{dep})",
        f"submit {name}.eval --dependency=afterany:${_var(name)} > /dev/null",
    ]


def _var(name: str) -> str:
    return f"job_{re.sub(r'[^A-Za-z0-9]', '_', name)}"


def _write(path: Path, lines: list[str]) -> None:
    from archspec.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
