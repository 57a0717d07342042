"""Slurm scripts for a plan: one sbatch script per (entry, seed), and submit.sh that chains them."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from archspec.errors import ArchspecError
from archspec.files import make_folder

from ..bench.suite import Entry, Suite, entry_config, safe, seeds_of
from ..training.config import to_options

if TYPE_CHECKING:
    from .plan import Plan


def train_argv(suite: Suite, entry: Entry, seed: int, gpus: int, data: str | None) -> list[str]:
    """`archspec train` arguments that make exactly the run `archspec bench` trains for (entry, seed), in
    bench's folder layout, so that bench reuses it afterwards: every option of its config (`config.to_options`)."""
    cfg = entry_config(suite, entry, Path("bench") / suite.suite.name, seed, gpus, data)
    return ["archspec", "train", cfg.spec, *to_options(cfg), "--gpus", str(gpus)]


def check_slurm_folder(folder: Path) -> None:
    """`--slurm` is a new or empty folder, or one a plan wrote (it has submit.sh): its README.md and scripts are
    replaced, never a user's files of the same names."""
    if folder.is_dir() and not (folder / "submit.sh").is_file() and any(folder.iterdir()):
        raise ArchspecError(
            f"{folder}: holds files that archspec bench --plan did not write (no submit.sh); expected a new or "
            "empty folder for --slurm, or one a plan wrote"
        )


def write_slurm(p: Plan, folder: str | Path, data: str | None = None) -> list[Path]:
    """One sbatch script per (entry, seed) on `per_run` GPUs (whole nodes when it spans several), `submit.sh`
    that submits them in the suite's order with --dependency=afterok: on what each starts from, and a README."""
    from archspec.atomic import atomic_path

    out = make_folder(folder, "the Slurm scripts")
    g, dev = p.per_run, p.device
    nodes = math.ceil(g / dev.node)
    per_node = g // nodes
    if per_node * nodes != g:
        raise ArchspecError(f"{g} GPUs per run do not fill {nodes} nodes of {dev.node}; expected a multiple")
    written = []
    submit = ["#!/bin/bash", "# Every training of the suite in its order; each waits for what it starts from."]
    submit += [
        "# Run it where archspec bench will run: the runs go to bench/<suite>/runs/ under this folder.",
        "set -euo pipefail",
        'here=$(dirname "$0")',
    ]
    by_id = {c.plan.entry.id: c for c in p.entries}
    for seed in seeds_of(p.suite):
        for i, c in enumerate(p.entries, 1):
            e = c.plan.entry
            name = f"{i:02d}-{safe(e.id)}-seed{seed}"
            hours = max(1.0, 1.5 * by_id[e.id].train_s / 3600)  # the plan's time with a 50% margin
            command = " ".join(shlex.quote(a) for a in train_argv(p.suite, e, seed, g, data))
            script = [
                "#!/bin/bash",
                f"#SBATCH --job-name={p.suite.suite.name}-{safe(e.id)}-seed{seed}",
                f"#SBATCH --nodes={nodes}",
                "#SBATCH --ntasks-per-node=1",
                f"#SBATCH --gres=gpu:{per_node}",
                f"#SBATCH --time={int(hours // 24)}-{int(hours % 24):02d}:{int(hours * 60 % 60):02d}:00",
                f"#SBATCH --output={out.resolve() / name}.%j.log",
                f"# {e.id} seed {seed}: {c.plan.epochs} epochs on {g} x {p.device_name}, "
                f"planned {c.train_s / 3600:.1f} h (MFU {p.mfu:g}); after: {', '.join(c.plan.refs) or 'nothing'}",
                "set -euo pipefail",
                'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                f'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node {per_node} --rdzv-id "$SLURM_JOB_ID" '
                '--rdzv-backend c10d --rdzv-endpoint "$head:29500" --no-python \\',
                f"    {command}",
                "",
            ]
            path = out / f"{name}.sbatch"
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join(script))
            written.append(path)
            var = f"job_{safe(e.id).replace('-', '_').replace('.', '_')}_{seed}"
            after = [f"$job_{safe(r).replace('-', '_').replace('.', '_')}_{seed}" for r in c.plan.refs]
            dep = f"--dependency=afterok:{':'.join(after)} " if after else ""
            submit.append(f'{var}=$(sbatch --parsable {dep}"$here/{name}.sbatch")')
    with atomic_path(out / "submit.sh") as tmp:
        tmp.write_text(
            "\n".join(submit)
            + '\necho "submitted; then: archspec bench --suite '
            + p.suite.suite.name
            + ' (evaluates and reports)"\n'
        )
    (out / "submit.sh").chmod(0o755)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(
            f"# Slurm scripts for the {p.suite.suite.name} suite\n\nSubmit them all with `bash {out}/submit.sh` from "
            "the folder where `archspec bench` will run (each job waits, with --dependency=afterok:, for the runs "
            f"it starts from); then `archspec bench --suite {p.suite.suite.name}` there reuses the runs, evaluates "
            "and reports.\n"
        )
    return written
