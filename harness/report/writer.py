"""The bench report: a header that says exactly what produced it, the tables beside the paper's numbers,
the claims with their paired tests, and the same as CSV, JSON and one PNG per table.

Every error carries its 95% interval (`stats.error_rate`: of the mean over the scored images and seeds) and the
spread between seeds; rows that cannot stand for the paper's method at this scale say so, and so do rows whose
seeds are bimodal or whose runs failed to train.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from archspec.atomic import atomic_path
from archspec.choices import Schedule
from archspec.formats import dumps
from archspec.provenance import code_version
from archspec.views import PAPER_CROP

from ..suite import ScaleMap, Settings, Suite, seeds_of, suite_hash, suite_path
from ..training.config import ENTRY_OPTIONS, OPTIONS, SHARED, Recipe, option_key
from . import forest
from .claims import claim_rule
from .record import OUTCOMES, BenchRecord, previous, save_outcomes, save_report_json

PAPER_SPEEDUP_4GPU = 3.75  # Sec. 3.3: 4 Titan Black GPUs over one
FOREST_TITLE = (
    "each claim configuration, our top-1 difference with its 95% interval, coloured by the verdict after Holm"
)

PAPER = Settings(name="paper")  # Settings' defaults are the paper's Section 3.1 recipe
OWN_LINES = {
    "name",
    "schedule",
    "lr_steps",
    "warmup",
    "precision",
    "pad",
    "holdout",
    "seed",
}  # each said on its own line
# the suite settings that are `archspec train` options, compared with the paper's on the recipe line
RECIPE_KEYS = tuple(
    k for k in dict.fromkeys(map(option_key, OPTIONS | SHARED)) if k in Settings.model_fields and k not in OWN_LINES
)
ENTRY_KEYS = tuple(map(option_key, ENTRY_OPTIONS))  # an entry's own settings
CLAIM_COLUMNS = (
    "claim",
    "kind",
    "configurations",
    "used",
    "verdict",
    "raw verdict",
    "p",
    "holm p",
    "per configuration",
)
DETERMINISM = (
    "Determinism: a run is a pure function of its seed on one machine, torch build and thread count "
    "(resume is tested bit-exact); another thread count or CPU can change floating-point summation "
    "order, so numbers may differ in the last digits and verdicts near a boundary may move."
)


# ---------------------------------------------------------------- header


def _threads(record: BenchRecord) -> str:
    if record.report_only:
        return "recomputed from outcomes.npz, nothing trained or evaluated"
    jobs, threads = record.jobs, record.facts.threads
    each = f"{threads} torch thread{'s' if threads > 1 else ''}"
    return f"{jobs} runs side by side (--jobs {jobs}), {each} each" if jobs > 1 else each


def _machines(record: BenchRecord) -> str:
    """The machines and torch threads the suite's runs trained with (run.json), and this writer's where they
    differ: the header must not pass off the writer's machine as the trainers'."""
    used: dict[tuple[str, str], int] = {}
    for info in record.facts.runs:
        threads = info.threads
        each = f"{threads} torch thread{'s' if threads != 1 else ''}" if threads else "threads unrecorded"
        key = (info.machine, each)
        used[key] = used.get(key, 0) + 1
    here = record.facts.here
    if not used:
        return f"{here}; {_threads(record)}"
    if {m for m, _ in used} == {here}:
        runs = "; ".join(f"{t} ({n} runs)" for (_, t), n in used.items())
        return f"{here}, where the runs trained ({runs}) and this report was written ({_threads(record)})"
    runs = "; ".join(f"{m}, {t} ({n} runs)" for (m, t), n in used.items())
    return f"runs trained on {runs}; this report written on {here}, {_threads(record)}"


def _trained_by(record: BenchRecord) -> str:
    """The code versions recorded in the suite's run folders, with how many runs each trained."""
    made: dict[str, int] = {}
    for info in record.facts.runs:
        made[info.code] = made.get(info.code, 0) + 1
    return "; ".join(f"{code} ({n} runs)" for code, n in made.items()) or "no run yet"


def _data_line(record: BenchRecord) -> str:
    source, d = record.data or record.suite.suite.data, record.facts.data
    if d is None:  # an incomplete bench: say what is known
        return f"{source} (no finished run yet)"
    tested = max((r["images"] for t in record.tables for r in t["rows"]), default=0)
    crops = record.suite.suite.multi_crop_images
    some = f" (multi-crop rows: the first {crops:,} of them, in the test set's own order)" if crops else ""
    plateau = record.suite.suite.schedule is Schedule.plateau
    watch = "the lr plateau rule watches these" if plateau else "watched during training; the final weights are scored"
    return (
        (f"{source}: {d.trained:,} training images" if d.trained else f"{source}: training images")
        + f", {d.held:,} held out from them ({100 * d.fraction:g}% of each class, fixed seed; "
        f"{watch}), {tested:,} scored test images{some}; crop {d.crop}"
        + (f"; every image padded with {d.pad} background pixels a side first" if d.pad else "")
    )


def _recipe_lines(suite: Suite, data: str | None = None) -> list[str]:
    s = suite.suite
    lines = []
    for key in RECIPE_KEYS:
        if key == "patience" and s.schedule is not Schedule.plateau:  # only the plateau rule reads it
            continue
        ours, paper = getattr(s, key), getattr(PAPER, key)
        if key == "crop":
            ours, paper = suite.crop_of(None, data), PAPER_CROP
        if key == "width":
            ours, paper = ours or 1.0, 1.0
        if ours != paper:
            lines.append(f"{key} {ours} (paper: {paper})")
    held = f"{100 * s.holdout:g}% of the training set held out (paper: its validation set)"
    paper_rule = (
        f"paper: / 10 {Recipe().lr_decays} times, each when the validation error stopped improving, over "
        f"{PAPER.epochs} epochs"
    )
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
        own = {k: getattr(e, k) for k in ENTRY_KEYS if getattr(e, k) is not None}
        if own:
            lines.append(f"{e.id}: " + ", ".join(f"{k} {v}" for k, v in own.items()))
    return lines


def _precision_line(record: BenchRecord) -> str:
    """What the suite's precision ran in, training and evaluation, and why: auto is resolved on this machine, which
    ran the runs unless this is a recomputation without them."""
    how = record.facts.precision
    if how is None:
        return "auto, resolved on the machine that trained the runs (the report recomputed does not say which)"
    if how.startswith("bf16"):
        how += "; autocast: convs and matmuls in bfloat16; weights, batch-norm statistics, losses, posteriors in fp32"
    return f"{how}, in training and evaluation (paper: fp32)"


def _wall_line(record: BenchRecord) -> str:
    """The wall time the bench folder recorded, beside the training time its runs recorded themselves: if the runs'
    seconds need more wall time than was recorded, even side by side, some invocation went unrecorded."""
    wall, jobs = record.wall_s_total, record.jobs_most
    train = sum(t["train_s_all_seeds"] for t in record.throughput)
    last = "" if record.report_only else f" ({record.wall_s:.0f} s for the last)"
    line = (
        f"- **Wall time:** {wall / 60:.1f} min recorded for this folder{last} (each invocation adds its time after "
        f"every finished run and when it ends or is stopped); the runs' training took {train / 60:.1f} min summed "
        "over runs"
    )
    if train / jobs > wall:
        line += (
            f", more than fits in the recorded time with {jobs} runs side by side: some invocation's time went "
            "unrecorded (one killed outright, or run by a bench that recorded only at its end), and the wall time "
            f"was at least {train / jobs / 60:.1f} min"
        )
    return line


def _compute_line(record: BenchRecord) -> str:
    """The useful FLOPs the suite ran (from the IR), the machine's GEMM peak and the share of it the suite reached
    over its recorded wall time on all the machine's cores, at the precision it trained in."""
    c = record.facts.compute
    if c is None:
        return "- **Compute:** not counted (the planner does not know this data set's size)"
    total = c.train_flops + c.eval_flops
    line = (
        f"- **Compute:** {total / 1e12:,.1f} TFLOP useful, from the IR as `bench --plan` counts it (training with "
        f"its held-out passes {c.train_flops / 1e12:,.1f}, evaluation {c.eval_flops / 1e12:,.1f})"
    )
    if not c.peak_gflops:
        return line + "; the machine's GEMM peak was not recorded (a bench older than its measurement)"
    key = "bf16" if (record.facts.precision or "").startswith("bf16") else "fp32"
    peak = c.peak_gflops[key] * 1e9 * c.cores
    share = total / (record.wall_s_total * peak) if record.wall_s_total > 0 else 0.0
    return line + (
        f"; GEMM peak per core: fp32 {c.peak_gflops['fp32']:g} GFLOPS, bf16 {c.peak_gflops['bf16']:g} GFLOPS "
        f"({c.peak_by}); over the recorded wall time the suite ran at {100 * share:.0f}% of {c.cores} cores' "
        f"{key} peak"
    )


def _intervals_line(seeds: int) -> str:
    if seeds == 1:
        return (
            "- **Intervals:** 95%, over the scored images only. With one seed they hold the test set's sampling "
            "error and nothing of training noise: a verdict says how these nets compare on these images, not how "
            "another training run would, and each verdict says so ('1 seed: image noise only')."
        )
    return (
        f"- **Intervals:** 95%, of the mean over the scored images and the {seeds} seeds: Student's t with "
        f"{seeds - 1} degrees of freedom over the per-seed means, plus the images' shared part estimated within "
        "seeds (`harness/report/stats.py`), so they hold both the test set's sampling error and training noise; `±` is "
        "the standard deviation between seeds."
    )


def scale_mapping(suite: Suite, entries: list, data: str | None = None) -> str:
    """The paper's scales -> ours for these entries, one part per crop (an entry may have its own)."""
    crops = sorted({suite.crop_of(e, data) for e in entries})
    parts = []
    for crop in crops:
        at = [e for e in entries if suite.crop_of(e, data) == crop]
        own = [e.id for e in at if e.crop]
        parts.append(ScaleMap(crop).describe(at) + (f" (for {', '.join(own)})" if own else ""))
    return "; ".join(parts)


def header(record: BenchRecord) -> list[str]:
    suite: Suite = record.suite
    s = suite.suite
    sha = suite_hash(record.suite_path)
    changed = record.suite_changed_from
    lines = [f"# archspec bench: {s.name}", "", record.status, "", s.description, ""]
    if s.note:
        lines += [f"> {s.note}", ""]
    lines += ["## What produced this report", ""]
    what = [
        f"- **Code:** this report by {code_version()}; its runs trained by {_trained_by(record)}",
        f"- **Suite:** `{suite_path(record.suite_path).name}`, sha256 {sha}"
        + (f" (changed since this folder's runs were made: was {changed})" if changed else ""),
        f"- **Data:** {_data_line(record)}",
        f"- **Scale mapping:** {scale_mapping(suite, suite.train, record.data)}",
        "- **Recipe, where it differs from the paper's:** " + "; ".join(_recipe_lines(suite, record.data)),
        f"- **Precision:** {_precision_line(record)}",
        f"- **Seeds:** {', '.join(map(str, seeds_of(suite)))} (each training entry runs once per seed)",
        f"- **Looks at the scored split:** {record.facts.looks}",
        f"- **Machine:** {_machines(record)}",
        _wall_line(record),
        _compute_line(record),
        _intervals_line(len(seeds_of(suite))),
        f"- **Claims:** {sum('holm p' in c for c in record.claims)} claims decided; the family-wise error rate "
        "across them is kept at 5% by Holm's method, and a raw verdict the adjustment changes is shown beside it.",
        f"- **Outcomes:** every row's per-image mistakes per seed are in `{OUTCOMES}` and each seed's error in "
        f"`per_seed.csv`; `archspec bench --suite {suite_path(record.suite_path).stem} --report-only --out "
        "FOLDER` recomputes every interval and test from them, without the runs.",
        f"- {DETERMINISM}",
    ]
    if record.report_only:
        what = _recomputed(record, what)
    return lines + what + [""]


ABOUT_RUNS = ("- **Code", "- **Data", "- **Machine", "- **Wall time", "- **Compute", "- **Precision")


def _recomputed(record: BenchRecord, lines: list[str]) -> list[str]:
    """A report recomputed from outcomes.npz: where the runs are not in the folder (a committed report), the
    lines about them (code, data, machine, wall time, precision) are the original report's, and a line says what was
    recomputed by which code."""
    before = previous(record.root).header
    has_runs = record.facts.has_runs
    out = []
    for line in lines:
        key = line.split(":**", 1)[0]
        old = next((b for b in before if b.split(":**", 1)[0] == key), None)
        if not has_runs and old and key in ABOUT_RUNS:
            line = old
        out.append(line)
    return out + [
        f"- **Recomputed:** every interval, test and verdict by {code_version()} from `{OUTCOMES}` "
        "(`archspec bench --report-only`), without retraining or re-evaluating."
    ]


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
        "dense windows": _windows(row),
        "comparable": row["comparable"],
        "seed outcomes": row.get("seed outcomes", ""),
    }


def _windows(row: dict) -> str:
    """The dense pass's window positions per side at the largest Q and the share of the image they cover."""
    if row.get("dense_map") is None:
        return ""
    m, cover = row["dense_map"], row.get("dense_cover")
    return f"{m}x{m}" + (f", {100 * cover:.0f}% of the image" if cover is not None else "")


def display_rows(table: dict) -> list[dict]:
    """The rows for reading; a table whose rows differ in crop (a claim pairs like crops only) or in scored images
    (`multi_crop_images`: errors on different images; a claim pairs rows on the images both scored) names each
    row's."""
    rows = table["rows"]
    differ = {
        name: key for name, key in (("crop", "crop"), ("test images", "images")) if len({r.get(key) for r in rows}) > 1
    }
    return [{"row": r["row"]} | {name: r.get(key) for name, key in differ.items()} | _display(r) for r in rows]


def _single_net_rows(tables: list[dict]) -> list[dict]:
    """Comparable rows of one net (no ensemble) that were measured, each with its table's name; of those, the rows
    scored on every scored image (rows on fewer, `multi_crop_images`, saw other images and are not ranked)."""
    rows = [
        {"table": t["name"], **r}
        for t in tables
        for r in t["rows"]
        if r["top1_err"] is not None and r["comparable"] == "yes" and r["nets"] == 1
    ]
    most = max((r.get("images") or 0 for r in rows), default=0)
    return [r for r in rows if (r.get("images") or 0) == most]


def lowest_single_nets(tables: list[dict]) -> list[dict]:
    """The comparable single-net row with the lowest mean top-1 error at each crop (rows at another crop see other
    pixels at another cost, so they are not ranked together), by crop; empty if none."""
    rows = _single_net_rows(tables)
    crops = sorted({r.get("crop") for r in rows}, key=lambda c: (c is None, c))
    return [min((r for r in rows if r.get("crop") == c), key=lambda r: r["top1_err"]) for c in crops]


def _lowest_lines(tables: list[dict]) -> list[str]:
    lowest = lowest_single_nets(tables)
    if not lowest:
        return []
    rows, several = _single_net_rows(tables), len(lowest) > 1
    lines = ["## Lowest single-net error", ""]
    for best in lowest:
        at = [r for r in rows if r.get("crop") == best.get("crop")]
        lines.append(
            f"- {best['table']}, {best['row']} ({best['ours']}): top-1 error {best['top1_err']:.2f}% "
            f"[{best['top1_lo']:.2f}, {best['top1_hi']:.2f}], the lowest of {len(at)} comparable single-net rows"
            + (f" at crop {best['crop']}" if several else "")
        )
    return lines + [
        "",
        "The lowest of several rows scored on the same images is biased downwards: it describes this report, it is "
        "not an estimate of any one net's error, and no claim uses it."
        + (
            " Rows at different crops see different pixels at a different cost, so each crop has its own."
            if several
            else ""
        ),
        "",
    ]


def markdown(record: BenchRecord) -> str:
    suite: Suite = record.suite
    lines = header(record)
    for table, spec in zip(record.tables, suite.table, strict=True):
        lines += [
            f"## {table['name']}: {table['title']}",
            "",
            dumps(display_rows(table), "markdown"),
            "",
            *([f"*{spec.footnote}*", ""] if spec.footnote else []),
            f"![{table['name']}]({table['plot']})",
            "",
        ]
        if spec.cost_plot:
            lines += [f"![{table['name']}: error against MACs]({cost_plot_name(table)})", ""]
    lines += _lowest_lines(record.tables)
    for table in suite.paper_table:
        lines += [
            f"## {table.name}: {table.title}",
            "",
            "*The paper's numbers only: nothing here was measured by archspec.*",
            "",
            dumps(table.rows, "markdown"),
            "",
        ]
    lines += [
        "## The paper's claims at this scale",
        "",
        claim_rule(len(seeds_of(suite))),
        "",
        dumps([{k: c.get(k) for k in CLAIM_COLUMNS} for c in record.claims], "markdown"),
        "",
        "### Per configuration",
        "",
        "`diff` is ours in top-1 points (first minus second), `paper_diff` the paper's.",
        "",
        dumps(record.per_configuration, "markdown"),
        "",
    ]
    if record.suite.claim:
        lines += [
            f"![every claim configuration: our difference, its interval, the paper's, the verdict]({forest.NAME})",
            "",
        ]
    lines += [
        "## Cost and throughput",
        "",
        "Parameters and MACs (multiply-accumulates) per image: at full scale, the spec as written (for the shipped "
        "specs 224 x 224, 1,000 classes); as trained here, at this suite's width, crop and classes. Images/s on this "
        "machine, first seed; training seconds over all seeds.",
        "",
        dumps([_cost_display(r) for r in record.throughput], "markdown"),
        "",
    ]
    if record.scaling:
        lines += [
            f"## Data-parallel scaling (paper: {PAPER_SPEEDUP_4GPU}x on 4 GPUs)",
            "",
            dumps(record.scaling, "markdown"),
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


def _cost_display(r: dict) -> dict:
    return {
        "entry": r["entry"],
        "params (full)": f"{r['params_full']:,}",
        "MACs (full)": f"{r['macs_full']:,}",
        "params (as trained)": f"{r['params_trained']:,}",
        "MACs (as trained)": f"{r['macs_trained']:,}",
        "epochs": r["epochs"],
        "train images/s": r["train_images_per_s"],
        "eval images/s": r["eval_images_per_s"],
        "train s (all seeds)": r["train_s_all_seeds"],
    }


def cost_plot_name(table: dict) -> str:
    return table["plot"].removesuffix(".png") + "-cost.png"


def cost_label(row: dict, table: dict) -> str:
    """A point's label: its row, and its crop where the table's rows differ in crop and the row does not say it."""
    named = f"crop {row['crop']}" in row["row"] or len({q.get("crop") for q in table["rows"]}) == 1
    return row["row"] + ("" if named else f" (crop {row['crop']})")


def cost_plot(path: Path, table: dict, suite: Suite, throughput: list[dict]) -> None:
    """Each row's top-1 error (mean over seeds, 95% interval as bars) against its net's MACs per image as trained,
    on a log axis; each row its own colour and marker, named in the legend (hollow: not comparable)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    macs = {t["entry"]: t["macs_trained"] for t in throughput}
    spec_rows = {r.label: r for r in next(t for t in suite.table if t.name == table["name"]).rows}
    rows = [r for r in table["rows"] if r["top1_err"] is not None and spec_rows[r["row"]].train[0] in macs]
    fig = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, r in enumerate(rows):
        x = macs[spec_rows[r["row"]].train[0]]
        err = [[r["top1_err"] - r["top1_lo"]], [r["top1_hi"] - r["top1_err"]]]
        colour = f"C{i % 10}"
        ax.errorbar(
            [x],
            [r["top1_err"]],
            yerr=err,
            fmt="osD^v<>ph*"[i % 10],
            capsize=3,
            color=colour,
            mfc=colour if r["comparable"] == "yes" else "none",
            label=cost_label(r, table),
        )
    ax.set_xscale("log")
    ax.set(xlabel="MACs per image as trained (log)", ylabel="top-1 error (%), 95% interval")
    ax.set_title(f"{table['name']}: error against compute", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def per_seed_rows(record: BenchRecord) -> list[dict]:
    """Long form: each row's top-1 and top-5 error (%) for each seed."""
    seeds = seeds_of(record.suite)
    return [
        {"table": t["name"], "row": r["row"], "seed": s, "top1_err": e1, "top5_err": e5}
        for t in record.tables
        for r in t["rows"]
        for s, e1, e5 in zip(seeds, r["top1_per_seed"], r["top5_per_seed"], strict=False)
    ]


def write(record: BenchRecord) -> None:
    root: Path = record.root
    suite: Suite = record.suite
    for table, spec in zip(record.tables, suite.table, strict=True):
        ids = {i for row in spec.rows for i in row.train}
        scales = scale_mapping(suite, [e for e in suite.train if e.id in ids], record.data)
        plot(root / table["plot"], table, "\n".join(textwrap.wrap(f"paper -> ours, {scales}", 120)))
        if spec.cost_plot and record.throughput:
            cost_plot(root / cost_plot_name(table), table, suite, record.throughput)
    per_seed = {"top1_per_seed", "top5_per_seed"}
    all_rows = [
        {"table": t["name"]} | {k: v for k, v in r.items() if k not in per_seed}
        for t in record.tables
        for r in t["rows"]
    ]
    with atomic_path(root / "report.csv") as tmp:
        _frame(all_rows).to_csv(tmp, index=False)
    with atomic_path(root / "per_seed.csv") as tmp:
        _frame(per_seed_rows(record)).to_csv(tmp, index=False)
    if record.outcomes:
        save_outcomes(root / OUTCOMES, record.outcomes, seeds_of(suite))
    with atomic_path(root / "claims.csv") as tmp:
        _frame(record.per_configuration).to_csv(tmp, index=False)
    if suite.claim:
        forest.plot(root / forest.NAME, record.claims, record.per_configuration, f"{suite.suite.name}: {FOREST_TITLE}")
    keys = ("status", "tables", "claims", "per_configuration", "throughput", "scaling")
    doc = {k: getattr(record, k) for k in keys}
    doc |= {"header": header(record), "claim_rule": claim_rule(len(seeds_of(suite))), "complete": record.complete}
    doc["lowest_single_nets"] = lowest_single_nets(record.tables)
    save_report_json(root, doc)
    with atomic_path(root / "report.md") as tmp:
        tmp.write_text(markdown(record))
