"""The bench report: a header that says exactly what produced it, the tables beside the paper's numbers,
the claims with their paired tests, and the same as CSV, JSON and one PNG per table.

Every error carries its 95% interval (bootstrap over the scored images, of the mean over seeds) and the
spread between seeds; rows that cannot stand for the paper's method at this scale say so.
"""

from __future__ import annotations

import json
import os
import platform
import textwrap
from pathlib import Path

import torch

from archspec.atomic import atomic_path
from archspec.choices import Precision, Schedule
from archspec.provenance import code_version

from .checkpoint import read_run
from .claims import CLAIM_RULE
from .suite import PAPER_CROP, ScaleMap, Settings, Suite, run_dir, seeds_of, suite_hash, suite_path

PAPER_SPEEDUP_4GPU = 3.75

PAPER = Settings(name="paper")  # Settings' defaults are the paper's Section 3.1 recipe
RECIPE_KEYS = (
    "epochs",
    "batch",
    "lr",
    "init",
    "init_std",
    "dropout",
    "label_smoothing",
    "patience",
    "batch_norm",
    "width",
    "crop",
)
DETERMINISM = (
    "Determinism: a run is a pure function of its seed on one machine, torch build and thread count "
    "(resume is tested bit-exact); another thread count or CPU can change floating-point summation "
    "order, so numbers may differ in the last digits and verdicts near a boundary may move."
)


# ---------------------------------------------------------------- header


def _threads(result: dict) -> str:
    jobs, threads = result.get("jobs", 1), result.get("threads") or torch.get_num_threads()
    each = f"{threads} torch thread{'s' if threads > 1 else ''}"
    return f"{jobs} runs side by side (--jobs {jobs}), {each} each" if jobs > 1 else each


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    py, tv = platform.python_version(), torch.__version__
    return f"{cpu}, {os.cpu_count()} logical CPUs, {device}; Python {py}, torch {tv}"


def _trained_by(result: dict) -> str:
    """The code versions recorded in the suite's run folders, with how many runs each trained."""
    suite: Suite = result["suite"]
    made: dict[str, int] = {}
    for seed in seeds_of(suite):
        for entry in suite.train:
            path = run_dir(result["root"], entry.id, seed) / "run.json"
            if path.is_file():
                code = json.loads(path.read_text()).get("code", "an unrecorded version")
                made[code] = made.get(code, 0) + 1
    return "; ".join(f"{code} ({n} runs)" for code, n in made.items()) or "no run yet"


def _data_line(result: dict) -> str:
    suite: Suite = result["suite"]
    root, seed = result["root"], seeds_of(suite)[0]
    first = run_dir(root, suite.train[0].id, seed)
    source = result["data"] or suite.suite.data
    try:
        cfg = read_run(first)[0]
        held = json.loads((first / "holdout.json").read_text())
    except Exception:  # an incomplete bench: say what is known
        return f"{source} (no finished run yet)"
    tested = next((r["images"] for t in result["tables"] for r in t["rows"] if r["images"]), 0)
    trained = held.get("train")
    plateau = suite.suite.schedule is Schedule.plateau
    watch = "the lr plateau rule watches these" if plateau else "best weights are selected on these"
    return (
        (f"{source}: {trained:,} training images" if trained else f"{source}: training images")
        + f", {held['count']:,} held out from them ({100 * held['fraction']:g}% of each class, fixed seed; "
        f"{watch}), {tested:,} scored test images; crop {cfg.data.crop_size}"
        + (f"; every image padded with {cfg.data.pad} background pixels a side first" if cfg.data.pad else "")
    )


def _recipe_lines(suite: Suite) -> list[str]:
    s = suite.suite
    lines = []
    for key in RECIPE_KEYS:
        ours, paper = getattr(s, key), getattr(PAPER, key)
        if key == "crop":
            ours, paper = ours or PAPER_CROP, PAPER_CROP
        if key == "width":
            ours, paper = ours or 1.0, 1.0
        if ours != paper:
            lines.append(f"{key} {ours} (paper: {paper})")
    if s.precision is Precision.bf16:
        lines.append(
            "bf16 autocast in training and evaluation: convs and matmuls in bfloat16, weights in fp32 (paper: fp32)"
        )
    elif s.precision is Precision.auto:
        lines.append("bf16 autocast in training where it runs on CUDA, fp32 on a CPU and in evaluation (paper: fp32)")
    held = f"{100 * s.holdout:g}% of the training set held out (paper: its validation set)"
    paper_rule = "paper: / 10 three times, each when the validation error stopped improving, over 74 epochs"
    if s.schedule is Schedule.steps:
        lines.append(
            f"lr / 10 after epoch {', '.join(map(str, s.lr_steps))} ({paper_rule}); reported errors use the final "
            "weights"
        )
    elif s.schedule is Schedule.linear:
        warm = f"rises linearly from 0 over {s.warmup:g} epochs (not for fine-tunes), then " if s.warmup else ""
        lines.append(
            f"lr {warm}falls linearly to 0 at the last step of each run ({paper_rule}); reported errors use the "
            "final weights"
        )
    else:
        lines.append(f"plateau rule on {held}")
    for e in suite.train:
        own = {k: getattr(e, k) for k in ("epochs", "lr", "init", "init_std", "lr_steps") if getattr(e, k) is not None}
        if own:
            lines.append(f"{e.id}: " + ", ".join(f"{k} {v}" for k, v in own.items()))
    return lines


def header(result: dict) -> list[str]:
    suite: Suite = result["suite"]
    s = suite.suite
    crop = s.crop or PAPER_CROP
    sha = suite_hash(result["suite_path"])
    changed = result["suite_changed_from"]
    lines = [f"# archspec bench: {s.name}", "", result["status"], "", s.description, ""]
    if s.note:
        lines += [f"> {s.note}", ""]
    lines += ["## What produced this report", ""]
    lines += [
        f"- **Code:** this report by {code_version()}; its runs trained by {_trained_by(result)}",
        f"- **Suite:** `{suite_path(result['suite_path']).name}`, sha256 {sha}"
        + (f" (changed since this folder's runs were made: was {changed})" if changed else ""),
        f"- **Data:** {_data_line(result)}",
        f"- **Scale mapping:** {ScaleMap(crop).describe(suite.train)}",
        "- **Recipe, where it differs from the paper's:** " + "; ".join(_recipe_lines(suite)),
        f"- **Seeds:** {', '.join(map(str, seeds_of(suite)))} (each training entry runs once per seed)",
        f"- **Machine:** {_machine()}; {_threads(result)}",
        f"- **Wall time:** {result['wall_s_total'] / 60:.1f} min over every invocation that built this folder "
        f"({result['wall_s']:.0f} s for the last); {sum(t['train_s_all_seeds'] for t in result['throughput']):.0f} s "
        "of it training",
        "- **Intervals:** 95%, of the mean over seeds, from a two-level bootstrap over the scored images and the "
        "seeds (so they hold both the test set's sampling error and training noise); `±` is the standard "
        "deviation between seeds.",
        f"- {DETERMINISM}",
        "",
    ]
    return lines


# ---------------------------------------------------------------- tables


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def _display(row: dict) -> dict:
    """A table row for reading: error with its interval and seed spread in one cell each."""

    def cell(k):
        if row[f"top{k}_err"] is None:
            return "missing"
        sd = row[f"top{k}_seed_sd"]
        return f"{row[f'top{k}_err']:.2f} [{row[f'top{k}_lo']:.2f}, {row[f'top{k}_hi']:.2f}]" + (
            f" ±{sd:.2f}" if sd is not None else ""
        )

    return {
        "row": row["row"],
        "ours": row["ours"],
        "top-1 err [95% CI] ±seed sd": cell(1),
        "top-5 err [95% CI] ±seed sd": cell(5),
        "paper top-1": row["paper_top1"],
        "paper top-5": row["paper_top5"],
        "comparable": row["comparable"],
    }


def display_rows(table: dict) -> list[dict]:
    return [_display(r) for r in table["rows"]]


def _single_net_rows(tables: list[dict]) -> list[dict]:
    """Comparable rows of one net (no fusion) that were measured, each with its table's name."""
    return [
        {"table": t["name"], **r}
        for t in tables
        for r in t["rows"]
        if r["top1_err"] is not None and r["comparable"] == "yes" and r["nets"] == 1
    ]


def lowest_single_net(tables: list[dict]) -> dict | None:
    """The comparable single-net row with the lowest mean top-1 error, or None."""
    return min(_single_net_rows(tables), key=lambda r: r["top1_err"], default=None)


def _lowest_lines(tables: list[dict]) -> list[str]:
    best = lowest_single_net(tables)
    if best is None:
        return []
    return [
        "## Lowest single-net error",
        "",
        f"{best['table']}, {best['row']} ({best['ours']}): top-1 error {best['top1_err']:.2f}% "
        f"[{best['top1_lo']:.2f}, {best['top1_hi']:.2f}], the lowest of {len(_single_net_rows(tables))} comparable "
        "single-net rows. The lowest of several rows scored on the same images is biased downwards: it describes "
        "this report, it is not an estimate of any one net's error, and no claim uses it.",
        "",
    ]


def markdown(result: dict) -> str:
    suite: Suite = result["suite"]
    lines = header(result)
    for table in result["tables"]:
        lines += [
            f"## {table['name']}: {table['title']}",
            "",
            _frame(display_rows(table)).to_markdown(index=False),
            "",
            f"![{table['name']}]({table['plot']})",
            "",
        ]
    lines += _lowest_lines(result["tables"])
    for table in suite.paper_table:
        lines += [
            f"## {table.name}: {table.title}",
            "",
            "*The paper's numbers only: nothing here was measured by archspec.*",
            "",
            _frame(table.rows).to_markdown(index=False),
            "",
        ]
    lines += [
        "## The paper's claims at this scale",
        "",
        CLAIM_RULE,
        "",
        _frame(result["claims"]).to_markdown(index=False),
        "",
        "### Per configuration",
        "",
        "`diff` is ours in top-1 points (first minus second), `paper_diff` the paper's.",
        "",
        _frame(result["per_configuration"]).to_markdown(index=False),
        "",
    ]
    lines += ["## Throughput", "", _frame(result["throughput"]).to_markdown(index=False), ""]
    if result["scaling"]:
        lines += [
            f"## Data-parallel scaling (paper: {PAPER_SPEEDUP_4GPU}x on 4 GPUs)",
            "",
            _frame(result["scaling"]).to_markdown(index=False),
            "",
        ]
    return "\n".join(lines)


def plot(path: Path, table: dict, subtitle: str) -> None:
    """Ours (mean over seeds, 95% interval as error bars) beside the paper's top-1 error, per row."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [r for r in table["rows"] if r["top1_err"] is not None]
    fig = Figure(figsize=(max(8, 0.9 * len(rows) + 3), 5.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = list(range(len(rows)))
    ours = [r["top1_err"] for r in rows]
    yerr = [[r["top1_err"] - r["top1_lo"] for r in rows], [r["top1_hi"] - r["top1_err"] for r in rows]]
    colours = ["tab:blue" if r["comparable"] == "yes" else "lightgray" for r in rows]
    ax.bar([x - 0.2 for x in xs], ours, 0.4, yerr=yerr, capsize=3, color=colours)
    ax.bar([x + 0.2 for x in xs], [r["paper_top1"] or 0 for r in rows], 0.4, color="tab:orange")
    ax.set_xticks(xs, [r["row"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="top-1 error (%)")
    ax.set_title(f"{table['name']}: {table['title']}\n{subtitle}", fontsize=8)
    handles = [Patch(color="tab:blue", label="archspec, 95% CI"), Patch(color="tab:orange", label="paper (ImageNet)")]
    if "lightgray" in colours:
        handles.append(Patch(color="lightgray", label="archspec, not comparable\nat this scale"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def write(result: dict) -> None:
    root: Path = result["root"]
    suite: Suite = result["suite"]
    crop = suite.suite.crop or PAPER_CROP
    for table, spec in zip(result["tables"], suite.table, strict=True):
        ids = {i for row in spec.rows for i in row.train}
        entries = [e for e in suite.train if e.id in ids]
        scales = f"paper -> ours, {ScaleMap(crop).describe(entries)}" if crop != PAPER_CROP else "the paper's scales"
        plot(root / table["plot"], table, "\n".join(textwrap.wrap(scales, 120)))
    all_rows = [{"table": t["name"], **r} for t in result["tables"] for r in t["rows"]]
    with atomic_path(root / "report.csv") as tmp:
        _frame(all_rows).to_csv(tmp, index=False)
    with atomic_path(root / "claims.csv") as tmp:
        _frame(result["per_configuration"]).to_csv(tmp, index=False)
    doc = {k: result[k] for k in ("status", "tables", "claims", "per_configuration", "throughput", "scaling")}
    doc |= {"header": header(result), "claim_rule": CLAIM_RULE, "complete": result["complete"]}
    doc["lowest_single_net"] = lowest_single_net(result["tables"])
    with atomic_path(root / "report.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=str))
    with atomic_path(root / "report.md") as tmp:
        tmp.write_text(markdown(result))
