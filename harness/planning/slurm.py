"""Slurm scripts for a plan: per (entry, seed) a training script, chained in parts no longer than `--max-time`
that resume from the step checkpoint, and an evaluation script after it; submit.sh submits them in order.

- Precision: the scripts train the suite as planned: `<suite>.toml` beside them is the suite with the precision
  the plan was costed in, and `archspec bench --suite DIR/<suite>.toml` afterwards reuses the runs.
- CPUs and memory per task from the data loader's images/s per core (`loader.py`): enough loader workers for
  each GPU's planned images/s.
- A part ends 300 s before its time limit with SIGTERM (`--signal=TERM@300`), which `archspec train` turns into
  a checkpoint (train.py: `_sigterm_as_interrupt`); the next part (afterany) resumes from it; `--requeue` lets
  Slurm restart a preempted part, which resumes the same way.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archspec.errors import ArchspecError
from archspec.files import make_folder

from ..suite import Entry, Suite, entry_config, load_suite, safe, seeds_of
from ..training.config import to_options
from .devices import GIB
from .loader import DEFAULT_RATE

if TYPE_CHECKING:
    from .cost import Costed
    from .plan import Plan

MAX_TIME_H = 48.0  # --max-time's default: 2 days, a common partition limit
MARGIN = 1.5  # the plan's time with a 50% margin
SIGNAL = "TERM@300"
PROCESS_GIB = 4.0  # a training process's own host memory: torch, CUDA context, the dataset's file list
WORKER_GIB = 0.5  # a loader worker's: Python, PIL, its copy of the file list


@dataclass(frozen=True)
class Resources:
    """What one node's task asks for: a training process and its loader workers per GPU."""

    images_per_s: float  # each GPU's planned training images/s
    workers: int  # loader workers per GPU
    cpus: int  # per node
    mem_gib: int  # per node


def resources(c: Costed, per_node: int, crop: int, rate: float) -> Resources:
    """Loader workers enough for each GPU's planned images/s at `rate` images/s a core, a core for each training
    process; memory for each process, its workers and their prefetched batches (2 a worker, uint8) and a host
    copy of the weights and momentum when checkpointing."""
    per_gpu = c.plan.batch / c.devices
    images_per_s = per_gpu / c.step.overlapped
    workers = max(1, math.ceil(images_per_s / rate))
    batch_bytes = per_gpu * 3 * crop * crop
    gib = PROCESS_GIB + 2 * 4 * c.plan.cost.params / GIB + workers * (WORKER_GIB + 2 * batch_bytes / GIB)
    return Resources(images_per_s, workers, per_node * (workers + 1), math.ceil(per_node * gib))


def train_argv(suite: Suite, entry: Entry, seed: int, gpus: int, data: str | None, workers: int | None = None):
    """`archspec train` arguments that make exactly the run `archspec bench` trains for (entry, seed), in
    bench's folder layout, so that bench reuses it afterwards: every option of its config (`config.to_options`)."""
    cfg = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, gpus, data)
    workers_option = ["--workers", str(workers)] if workers else []  # how to load, not what is trained
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


def evaluate_entry(suite_file: str, which: str, out: str | None, devices: int, data: str | None) -> str:
    """What an evaluation script runs (`bench --evaluate ID@SEED`): bench's evaluation of one trained run, into
    bench's cache, so that `archspec bench` afterwards reuses it."""
    from ..bench.run import evaluate_run

    suite = load_suite(suite_file)
    id_, at, seed = which.rpartition("@")
    entry = next((e for e in suite.train if e.id == id_), None)
    if not at or entry is None or not seed.isdigit():
        ids = ", ".join(e.id for e in suite.train)
        raise ArchspecError(f"--evaluate {which!r}: expected ENTRY@SEED with an entry of the suite ({ids})")
    root = Path(out) if out else Path("bench") / suite.suite.name
    evaluate_run(root, suite, entry, int(seed), devices, data)
    return f"evaluated {id_} seed {seed} into {root / 'evals'}"


def write_slurm(
    p: Plan,
    folder: str | Path,
    suite_text: str,
    data: str | None = None,
    max_time_h: float = MAX_TIME_H,
    rate: float = DEFAULT_RATE,
) -> list[Path]:
    """The scripts, submit.sh and a README; returns the scripts."""
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
    written, submit = [], _submit_head(suite_file)
    for seed in seeds_of(suite):
        for i, (entry, c) in enumerate(zip(suite.train, p.entries, strict=True), 1):
            name = f"{i:02d}-{safe(entry.id)}-seed{seed}"
            res = resources(c, per_node, suite.crop_of(entry, data), rate)
            hours = max(1.0, MARGIN * c.train_s / 3600)
            parts = math.ceil(hours / max_time_h)
            train = out / f"{name}.sbatch"
            command = " ".join(shlex.quote(a) for a in train_argv(suite, entry, seed, g, data, res.workers))
            run = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, g, data).out
            lines = _sbatch(
                f"{suite.suite.name}-{safe(entry.id)}-seed{seed}",
                nodes,
                per_node,
                res,
                min(hours, max_time_h),
                out / name,
            )
            lines += [
                "#SBATCH --requeue",
                f"#SBATCH --signal={SIGNAL}",
                f"# {entry.id} seed {seed}: {c.plan.epochs} epochs on {g} x {p.device_name} in {p.precision}, planned "
                f"{c.train_s / 3600:.1f} h (MFU {p.mfu:g}), submitted as {parts} part(s) of at most {max_time_h:g} h",
                f"# loaders: {res.images_per_s:,.0f} images/s a GPU at {rate:g} a core: {res.workers} workers a GPU",
                "set -euo pipefail",
                'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                f'launch=(srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node {per_node} --rdzv-id '
                '"$SLURM_JOB_ID" --rdzv-backend c10d --rdzv-endpoint "$head:29500" --no-python)',
                f"if [ -f {shlex.quote(str(run))}/checkpoint.pt ]; then  # an earlier part or a requeue saved it",
                f'    "${{launch[@]}}" archspec train --resume {shlex.quote(str(run))} --gpus {g} '
                f"--workers {res.workers}",
                "else",
                f'    "${{launch[@]}}" {command}',
                "fi",
                "",
            ]
            _write(train, lines)
            evaluate = out / f"{name}.eval.sbatch"
            gpus = min(g, dev.node)
            eval_cmd = ["archspec", "bench", "--suite", str(suite_file), "--evaluate", f"{entry.id}@{seed}"]
            eval_cmd += ["--gpus", str(gpus)] + (["--data", data] if data else [])
            eval_res = Resources(0, res.workers, gpus * (res.workers + 1), math.ceil(res.mem_gib * gpus / per_node))
            eval_lines = _sbatch(
                f"{suite.suite.name}-eval-{safe(entry.id)}-seed{seed}",
                1,
                gpus,
                eval_res,
                max(1.0, MARGIN * c.eval_s / 3600 * g / gpus),
                out / f"{name}.eval",
            )
            eval_lines += ["set -euo pipefail", " ".join(shlex.quote(a) for a in eval_cmd), ""]
            _write(evaluate, eval_lines)
            written += [train, evaluate]
            submit += _submit_lines(entry, seed, c.plan.refs, train, evaluate, parts)
    submit.append(f'echo "submitted; then: archspec bench --suite {suite_file} (reuses the runs and evaluations)"')
    _write(out / "submit.sh", submit + [""])
    (out / "submit.sh").chmod(0o755)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(
            f"# Slurm scripts for the {suite.suite.name} suite\n\nSubmit them all with `bash {out}/submit.sh` from "
            "the folder where `archspec bench` will run. Each training waits (afterok) for the runs it starts from, "
            f"runs in parts of at most {max_time_h:g} h that resume from the step checkpoint (afterany), and its "
            f"evaluation waits (afterok) for its last part. `{suite_file.name}` is the suite in the precision the "
            f"plan was costed in ({p.precision}); then `archspec bench --suite {suite_file}` there reuses the runs "
            "and the evaluations and reports.\n"
        )
    return written


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
    ]


def _submit_head(suite_file: Path) -> list[str]:
    return [
        "#!/bin/bash",
        f"# Every training and evaluation of {suite_file.name} in the suite's order; each waits for what it needs.",
        "# Run it where archspec bench will run: the runs go to bench/<suite>/runs/ under the current folder.",
        "set -euo pipefail",
        'here=$(dirname "$0")',
    ]


def _var(id_: str, seed: int) -> str:
    return f"job_{re.sub(r'[^A-Za-z0-9]', '_', safe(id_))}_{seed}"


def _submit_lines(entry: Entry, seed: int, refs: list[str], train: Path, evaluate: Path, parts: int) -> list[str]:
    """The entry's parts (the first after what it starts from, afterok; each next after the one before, afterany:
    a part stopped at its time limit has saved a checkpoint) and its evaluation after the last part."""
    var = _var(entry.id, seed)
    after = [f"${_var(r, seed)}" for r in refs]
    dep = f"--dependency=afterok:{':'.join(after)} " if after else ""
    lines = [f'{var}=$(sbatch --parsable {dep}"$here/{train.name}")']
    for _ in range(parts - 1):
        lines.append(f'{var}=$(sbatch --parsable --dependency=afterany:${var} "$here/{train.name}")')
    lines.append(f'sbatch --parsable --dependency=afterok:${var} "$here/{evaluate.name}" > /dev/null')
    return lines


def _write(path: Path, lines: list[str]) -> None:
    from archspec.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
