"""The `archspec` command line: parse arguments, call one library function, render.

Every user error is an `ArchspecError` (or an invalid option value) and becomes
one line on stderr with exit status 2; no traceback.
"""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from .choices import BACKEND_HELP, Backend, Precision, Weights
from .errors import ArchspecError, Interrupted
from .formats import Format, console, show
from .harness.planning.cost import DEFAULT_MFU
from .harness.planning.plan import DEFAULT_DEVICE, DEFAULT_DEVICES
from .harness.planning.slurm import MAX_TIME_H
from .harness.training.config import OPTIONS, TrainConfig, every_text, option_field, option_name
from .passes import Overrides
from .table import TableFormat

KEYWORD = inspect.Parameter.KEYWORD_ONLY

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: fits a terminal and a pipe, and no `<bool>` after a flag
    context_settings={"max_content_width": 120},
    help="Describe, count, compile, train and benchmark VGG-paper ConvNets from Table 1 text.",
)
stdout = console()
err = console(stderr=True)

Input = Annotated[str | None, typer.Option("--input", help="Input HxWxC, e.g. 32x32x1 (default: the spec's).")]
Fmt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
WeightsOption = Annotated[Weights, typer.Option("--weights", help=Weights.__doc__)]
Plugin = Annotated[
    list[str] | None,
    typer.Option(
        "--plugin",
        help="A module or .py file that registers layer kinds (repeatable); installed `archspec.kinds` plugins load "
        "anyway.",
    ),
]
Opset = Annotated[int | None, typer.Option("--opset", min=1, help="ONNX opset of a .onnx output (default 17).")]


def _shared(flag: str, field=None):
    """A `config.SHARED` option as other commands take it (or the option of another model field): the type, bounds
    and help of the field it sets."""
    field = field or option_field(flag)
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return Annotated[field.annotation, typer.Option(flag, help=field.description, min=low, max=high)]


Width = _shared("--width")  # gt=0 is the field's own check, in one line
BN = _shared("--bn")
Classes = _shared("--classes", Overrides.model_fields["num_classes"])
Threads = _shared("--threads")


def _plugins(plugin: list[str] | None) -> None:
    from .plugins import load_all

    load_all(plugin or ())


def _overrides(classes, input, width, bn) -> dict:
    return {"num_classes": classes, "input": input, "width": width, "batch_norm": bn}


@app.command()
def params(
    specs: Annotated[list[str] | None, typer.Argument(help="Spec files or registered names (default: all).")] = None,
    layers: Annotated[bool, typer.Option("--layers", help="Add the per-layer breakdown.")] = False,
    fmt: Fmt = Format.table,
    check: Annotated[Path | None, typer.Option("--check", help="Golden CSV; exit 1 on any mismatch.")] = None,
    classes: Classes = None,
    input: Input = None,
    width: Width = None,
    bn: BN = False,
    plugin: Plugin = None,
) -> None:
    """Parameter counts and compute, as the paper's Table 2 (analytic: no weights, no torch)."""
    _plugins(plugin)
    from .counts import check as check_golden
    from .counts import params as params_report

    report = params_report(specs, layers=layers, **_overrides(classes, input, width, bn))
    if fmt is Format.json and layers:
        for row in report.rows:
            row["layers"] = report.layers[row["name"]]
        show(stdout, report.rows, "json")
    elif layers and fmt is not Format.table and fmt is not Format.markdown:
        show(stdout, [{"name": n, **r} for n, rows in report.layers.items() for r in rows], fmt.value)
    else:
        for name, rows in report.layers.items():
            show(stdout, rows, fmt.value, title=f"{name}: per layer")
        show(
            stdout,
            report.rows,
            fmt.value,
            title="Table 2: parameters and compute",
            headers={"params_m": "params (M)", "macs": "MACs", "gflops": "GFLOPs (2xMACs)"},
        )
    if check is not None:
        diffs = check_golden(report.rows, check)
        for line in diffs:
            err.print(f"mismatch: {line}", markup=False, soft_wrap=True)
        if diffs:
            raise typer.Exit(1)
        err.print(f"all {len(report.rows)} rows match {check}", markup=False)


@app.command()
def table(
    specs: Annotated[
        list[str], typer.Argument(help="Spec files or registered names, one column each (A A-LRN B C D E).")
    ],
    fmt: Annotated[TableFormat, typer.Option("--format", "-f", help="Output format.")] = TableFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write markdown, latex or png to this file.")
    ] = None,
    classes: Classes = None,
    input: Input = None,
    width: Width = None,
    bn: BN = False,
    plugin: Plugin = None,
) -> None:
    """The paper's Table 1 written from specs: one column per net, added layers in bold."""
    _plugins(plugin)
    from .source import spec_file
    from .table import latex, markdown, rich_table, save, table1

    result = table1(specs, **_overrides(classes, input, width, bn))
    if output is not None:
        path = save(result, fmt, output, [spec_file(s) for s in specs])
        stdout.print(f"wrote {path}", markup=False)
    elif fmt is TableFormat.png:
        raise ArchspecError("-f png: a picture is not printed; expected -o FILE.png")
    elif fmt is TableFormat.table:
        stdout.print(rich_table(result))
    else:
        text = markdown(result) if fmt is TableFormat.markdown else latex(result)
        stdout.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("compile")
def compile_(
    spec: Annotated[str, typer.Argument(help="Spec file or registered name.")],
    backend: Annotated[str, typer.Option("--backend", help=BACKEND_HELP)] = Backend.torch.value,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the module: FILE.onnx (ONNX), else torch.export .pt2.")
    ] = None,
    opset: Opset = None,
    fmt: Fmt = Format.table,
    classes: Classes = None,
    input: Input = None,
    width: Width = None,
    bn: BN = False,
    plugin: Plugin = None,
) -> None:
    """Build the PyTorch module for a spec and print a per-layer summary."""
    _plugins(plugin)
    from .compiler import compile_spec
    from .compiler.export import usage

    result = compile_spec(spec, backend=backend, output=output, opset=opset, **_overrides(classes, input, width, bn))
    net = result.model.net
    if result.launches is not None:  # Triton backend: which spec layers went into which kernel launch
        rows = (
            result.launches
            if fmt is Format.json
            else [{**r, "layers": " + ".join(r["layers"])} for r in result.launches]
        )
        show(
            stdout,
            rows,
            fmt.value,
            title=f"{net.name}: Triton fusion schedule ({len(rows)} launches), input {net.input}",
        )
    else:
        title = f"{net.name} ({result.backend} backend, {result.reason}), input {net.input}"
        show(stdout, result.rows, fmt.value, title=title)
    if fmt is Format.table:
        stdout.print(f"total parameters: {result.params:,}")
        if result.output:
            stdout.print(f"wrote {result.output} (load with {usage(result.output)[0]})", markup=False)


def _option(flag: str) -> inspect.Parameter:
    """The typer option of an `OPTIONS` flag: the type, default and help of the config field it sets; other than
    numbers and flags the option takes text, which the field parses (an enum's value, `3,4`, `256:512`)."""
    field = option_field(flag)
    default, text = field.get_default(call_default_factory=True), field.description
    if flag.startswith("--no-"):
        default, text = False, f"No {text[0].lower()}{text[1:]}"
    default = None if default == () else default.value if isinstance(default, Enum) else default
    kind = next((t for t in (bool, int, float) if field.annotation in (t, t | None)), str)
    kind = kind if default is not None else kind | None
    option = typer.Option(flag, help=text)
    return inspect.Parameter(option_name(flag), KEYWORD, default=default, annotation=Annotated[kind, option])


def _with_options(command):
    """Add the `OPTIONS` to a command, before its `gpus`."""
    fixed = [p.replace(kind=KEYWORD) for p in inspect.signature(command, eval_str=True).parameters.values()][:-1]
    at = [p.name for p in fixed].index("gpus")
    command.__signature__ = inspect.Signature([*fixed[:at], *map(_option, OPTIONS), *fixed[at:]])
    return command


@app.command()
@_with_options
def train(
    ctx: typer.Context,
    spec: Annotated[str | None, typer.Argument(help="Spec file or registered name.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Run folder (default runs/<spec>).")] = None,
    resume_run: Annotated[str | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="Data-parallel GPU processes (NCCL).")] = 1,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Data-parallel CPU processes (gloo).")] = 1,
    checkpoint_every: Annotated[
        str, typer.Option("--checkpoint-every", help="Step checkpoints: every N steps (500) or minutes (10m).")
    ] = every_text(TrainConfig.model_fields["checkpoint_minutes"].default, None),  # the field's: 10m
    threads: Threads = None,
    width: Width = None,
    bn: BN = False,
    plugin: Plugin = None,
    **options,  # the recipe, data and backend options: `harness.training.config.OPTIONS`, added by `_with_options`
) -> None:
    """Train a spec with the paper's Section 3.1 recipe; leaves a checkpoint and metrics."""
    _plugins(plugin)
    from .harness.training.metrics import FIELDS
    from .harness.training.train import train_command

    given = {  # what the user typed; plugins reach the processes a run starts through the environment
        p: ctx.params[p] for p in ctx.params if ctx.get_parameter_source(p).name == "COMMANDLINE" and p != "plugin"
    }
    result = train_command(spec, given, gpus, nproc)
    rows = [
        {k: round(v, 3) if isinstance(v, float) else v for k, v in ((k, r.get(k)) for k in FIELDS)}
        for r in result.metrics
    ]  # every row in the CSV's column order, resumed or not
    if rows:
        show(stdout, rows[-10:], "table", title=f"{result.run}: last epochs ({result.params:,} parameters)")
    if result.elsewhere:  # a process of a multi-node run without rank 0: nothing was written here
        stdout.print(f"the run is written by rank 0 on {result.elsewhere} (weights, metrics, plot), not here")
        return
    stdout.print(
        f"weights: {result.run / 'model.safetensors'} (best: best.safetensors), "
        f"metrics: {result.run / 'metrics.csv'}, plot: {result.run / 'metrics.png'}"
    )


@app.command("export")
def export_(
    run: Annotated[str, typer.Argument(help="A run folder (archspec train).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write: FILE.onnx (ONNX), else .pt2.")],
    weights: WeightsOption = Weights.final,
    opset: Opset = None,
    plugin: Plugin = None,
) -> None:
    """A trained run as one torch.export or ONNX file with its preprocessing inside, runnable without archspec."""
    _plugins(plugin)
    from .compiler.export import usage
    from .harness.evaluation.export_run import export_run

    path = export_run(run, output, weights, opset)
    run_with, metadata = usage(path)
    stdout.print(
        f"wrote {path}: {run_with} takes images in [0, 1] (N, C, crop, crop), mean subtracted inside; "
        f"metadata in {metadata}",
        markup=False,
        soft_wrap=True,
    )


@app.command("eval")
def eval_(
    checkpoints: Annotated[list[str], typer.Argument(help="Run folders (archspec train), or weights with --spec.")],
    data: Annotated[str | None, typer.Option("--data", help="Validation data (default: the run's).")] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="Network of a torchvision weights file.")] = None,
    scales: Annotated[str | None, typer.Option("--scales", help="Multi-scale Q set, e.g. 256,384,512.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Evaluate the first N images.")] = None,
    weights: WeightsOption = Weights.final,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="Shard over N GPU processes.")] = 1,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Shard over N CPU processes.")] = 1,
    precision: Annotated[
        Precision, typer.Option("--precision", help=option_field("--precision").description)
    ] = Precision.fp32,
    threads: Threads = None,
    fmt: Fmt = Format.table,
    plugin: Plugin = None,
) -> None:
    """The paper's test protocol: single/multi-scale, dense, multi-crop, both, centre crop, ensembles."""
    _plugins(plugin)
    from .harness.evaluation.evaluate import EvalJob, evaluate_checkpoints, parse_scales

    job = EvalJob(
        checkpoints,
        spec=spec,
        data=data,
        scales=parse_scales(scales) if scales else None,
        limit=limit,
        weights=weights,
        threads=threads,
        precision=precision,
    )
    from .harness.training.distributed import processes

    rows = evaluate_checkpoints(job, devices=processes(gpus, nproc), cuda=None if nproc == 1 else False)
    show(stdout, rows, fmt.value, title="Evaluation: top-1 / top-5 error (%) with 95% Wilson intervals (lo, hi)")


@app.command()
def bench(
    suite: Annotated[str, typer.Option("--suite", help="quick | small | paper | a suite TOML file.")] = "quick",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Bench folder (default bench/<suite>).")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Data for every entry (overrides the suite's).")] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPU processes; also measures 1..N scaling.")] = 1,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="CPU processes (gloo); also measures scaling.")] = 1,
    threads: Threads = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="Trainings and evaluations run side by side (CPU: the cores shared out)."
        ),
    ] = 1,
    plan: Annotated[bool, typer.Option("--plan", help="Train nothing: the suite's cost, from the IR alone.")] = False,
    device: Annotated[
        str, typer.Option("--device", help="--plan: a device of harness/planning/devices.toml, or cpu (this one).")
    ] = DEFAULT_DEVICE,
    devices: Annotated[
        int | None,
        typer.Option("--devices", min=1, help=f"--plan: devices in all (default {DEFAULT_DEVICES}; cpu: its cores)."),
    ] = None,
    per_run: Annotated[
        int | None,
        typer.Option(
            "--per-run", min=1, help="--plan: devices per training (default: the fastest that fits in memory)."
        ),
    ] = None,
    mfu: Annotated[
        float | None,
        typer.Option(
            "--mfu", help=f"--plan: model-FLOPs utilisation (default {DEFAULT_MFU}; measured per net for --device cpu)."
        ),
    ] = None,
    slurm: Annotated[Path | None, typer.Option("--slurm", help="--plan: write sbatch scripts here.")] = None,
    gantt: Annotated[Path | None, typer.Option("--gantt", help="--plan: write the schedule as a PNG.")] = None,
    max_time: Annotated[
        float, typer.Option("--max-time", help="--plan --slurm: hours a job may run; longer runs go on in parts.")
    ] = MAX_TIME_H,
    evaluate: Annotated[
        str | None, typer.Option("--evaluate", help="Evaluate one trained run, ENTRY@SEED, into bench's cache.")
    ] = None,
    fmt: Fmt = Format.table,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Recompute every interval and test from --out's outcomes.npz; no runs."),
    ] = False,
    plugin: Plugin = None,
) -> None:
    """Reproduce the paper's Tables 3-6 from a suite: train or reuse, evaluate, report beside the paper."""
    _plugins(plugin)
    if plan:
        from .harness.planning import plan_suite

        _show_plan(plan_suite(suite, device, devices, mfu, per_run, data, slurm, gantt, max_time), fmt)
        return
    if evaluate:  # what the evaluation scripts of --plan --slurm run
        from .harness.bench.run import evaluate_entry
        from .harness.training.distributed import processes

        stdout.print(evaluate_entry(suite, evaluate, out, processes(gpus, nproc), data), markup=False)
        return
    from .harness.bench.run import run_suite
    from .harness.report.writer import PAPER_SPEEDUP_4GPU, display_rows
    from .harness.training.distributed import processes

    result = run_suite(
        suite,
        out,
        processes(gpus, nproc),
        data,
        log=lambda line: err.print(line, markup=False),
        threads=threads,
        jobs=jobs,
        report_only=report_only,
    )
    for table in result.tables:
        show(stdout, display_rows(table), "table", title=f"{table['name']}: {table['title']} (error, %)")
    show(stdout, result.claims, "table", title="The paper's claims at this scale (paired tests, Holm across claims)")
    if result.scaling:
        show(stdout, result.scaling, "table", title=f"Data-parallel scaling (paper: {PAPER_SPEEDUP_4GPU}x on 4 GPUs)")
    stdout.print(result.status, markup=False)
    stdout.print(f"report: {result.root / 'report.md'} (CSV: report.csv, plots: *.png)", markup=False)
    if not result.complete:
        raise typer.Exit(1)


def _show_plan(report: dict, fmt: Format) -> None:
    if fmt is Format.json:  # one object: every table, and FLOPs per image for every entry, protocol and method
        stdout.print(json.dumps(report, indent=2), markup=False, highlight=False, soft_wrap=True)
        return
    if fmt is not Format.table:
        show(stdout, report["entries"], fmt.value)
        return
    from rich.tree import Tree

    from .harness.planning.plan import HEADERS, screen_tables

    for line in report["header"]:  # within 100 columns, as every table
        stdout.print(textwrap.fill(line, 100, subsequent_indent="  "), markup=False, soft_wrap=True)
    tree, nodes = Tree("trainings (each after the one it starts from)"), {}
    for id_, after in report["graph"].items():
        nodes[id_] = nodes.get(id_) or tree.add(id_)
        for child in after:
            nodes[child] = nodes[id_].add(child)
    stdout.print(tree)
    for title, rows in screen_tables(report):  # the title on its own line: rich would centre and pad it
        stdout.print(title, markup=False)
        show(stdout, rows, "table", headers=HEADERS)
    for line in report["notes"] + report.get("written", []):
        stdout.print(textwrap.fill(line, 100, subsequent_indent="  "), markup=False, soft_wrap=True)


STOPPED = (
    "every file already saved is intact (writes are atomic); run the same command again: bench reuses finished runs "
    "and resumes the others, and train --resume goes on from the last checkpoint where one was written"
)


def main() -> None:
    warnings.formatwarning = lambda message, *args, **kwargs: f"archspec: warning: {message}\n"
    try:
        app()
    except ArchspecError as e:
        err.print(f"archspec: error: {e}", markup=False, soft_wrap=True)
        sys.exit(2)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        err.print(f"archspec: error: {where}: {first['msg']}", markup=False, soft_wrap=True)
        sys.exit(2)
    except Interrupted as e:  # Ctrl-C or SIGTERM stopped a training run: where it saved and how to go on
        err.print(f"archspec: interrupted; {e}", markup=False, soft_wrap=True)
        sys.exit(130)
    except SystemExit as e:  # Ctrl-C anywhere else: typer turns it into a bare exit 130; say what it means
        if e.code == 130 and isinstance(getattr(e.__context__, "__cause__", None), KeyboardInterrupt):
            err.print(f"archspec: interrupted; {STOPPED}", markup=False, soft_wrap=True)
        raise


if __name__ == "__main__":
    main()
