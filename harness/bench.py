"""`archspec bench`: reproduce the paper's experiment tables from a suite file.

A suite (TOML, `benches/*.toml`) lists configurations to train (`[[train]]`, each with
an id in the paper's notation such as `D/[256;512]`), the tables to fill (`[[table]]`,
rows naming the trained ids, the test protocol and method, and the paper's own numbers)
and which of the paper's claims to check (`[[claim]]`). `run_suite` trains what is
missing (resuming interrupted runs, reusing finished ones), evaluates each entry once
(cached), measures throughput and data-parallel scaling, and writes a report: Markdown,
CSV and PNG plots, each table beside the paper's numbers with the difference. A report
of an unfinished suite says so in its first line.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import ConfigDict, Field, ValidationError

from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.ir import Node

from . import metrics
from .config import DataConfig, Recipe, TrainConfig, parse_scale
from .evaluation import EvalJob, evaluate_checkpoints
from .train import train

PAPER_SPEEDUP_4GPU = 3.75


class Strict(Node):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Settings(Strict):
    name: str
    description: str = ""
    data: str = "embedded"
    crop: int | None = None
    width: float | None = None
    batch_norm: bool = False
    epochs: int = 74
    batch: int = 256
    lr: float = 0.01
    init: Literal["normal", "glorot", "torchvision"] = "normal"
    init_std: float = 0.01
    patience: int = 2
    eval_limit: int | None = None
    seed: int = 0


class Entry(Strict):
    id: str
    spec: str
    scale: str
    pretrained_a: str | None = Field(default=None, description="id of a trained net A in this suite")
    finetune: str | None = Field(default=None, description="id of a trained net of the same spec in this suite")
    epochs: int | None = None
    lr: float | None = None
    init: Literal["normal", "glorot", "torchvision"] | None = None
    init_std: float | None = None


class Row(Strict):
    label: str  # the paper's row, e.g. "D 256 256" or "D/[256;512] + E/[256;512]"
    train: list[str]  # suite ids; several: fusion
    protocol: Literal["single", "multi"]
    method: Literal["dense", "multi-crop", "multi-crop & dense", "centre"] = "dense"
    paper_top1: float | None = None
    paper_top5: float | None = None


class Table(Strict):
    name: str
    title: str
    rows: list[Row]


class Claim(Strict):
    text: str
    better: list[str] = Field(description="row labels (in the report's tables) claimed to have lower top-1 error")
    worse: list[str]
    tolerance: float = Field(default=0.0, description="'no better' claims: better may exceed worse by this")
    kind: Literal["lower", "not_lower"] = "lower"


class Suite(Strict):
    suite: Settings
    train: list[Entry]
    table: list[Table]
    claim: list[Claim] = []


# ---------------------------------------------------------------- loading


def suites_dir() -> Path:
    """The shipped suites: the checkout's benches/ (editable install) or archspec/benches/ (wheel)."""
    return Path(__file__).resolve().parent.parent / "benches"


def load_suite(path: str | Path) -> Suite:
    p = Path(path)
    if not p.is_file():
        builtin = suites_dir() / f"{path}.toml"
        if not builtin.is_file():
            raise ArchspecError(f"{path}: no such suite file; expected a TOML suite or a name such as quick, paper")
        p = builtin
    try:
        suite = Suite.model_validate(tomllib.loads(p.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as e:
        raise ArchspecError(f"{p}: {e}; expected a TOML suite") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"]))
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ArchspecError(f"{p}: {where}: {what}; expected the keys documented in benches/README.md") from None
    ids = [entry.id for entry in suite.train]
    for entry in suite.train:
        for ref in (entry.pretrained_a, entry.finetune):
            if ref is not None and ref not in ids[: ids.index(entry.id)]:
                raise ArchspecError(f"{p}: train {entry.id!r} refers to {ref!r}; expected an id trained before it")
        parse_scale(entry.scale)
    for table in suite.table:
        for row in table.rows:
            missing = [t for t in row.train if t not in ids]
            if missing:
                raise ArchspecError(f"{p}: {table.name} row {row.label!r}: unknown train id {missing[0]!r}")
    return suite


# ---------------------------------------------------------------- training and evaluation


def safe(id_: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", id_).strip("_")


def _config(suite: Suite, entry: Entry, out: Path, devices: int, data: str | None) -> TrainConfig:
    s = suite.suite
    recipe = Recipe(
        epochs=entry.epochs or s.epochs, batch=s.batch, lr=entry.lr or s.lr, init=entry.init or s.init,
        init_std=entry.init_std or s.init_std, patience=s.patience, seed=s.seed,
        pretrained_a=str(out / "runs" / safe(entry.pretrained_a)) if entry.pretrained_a else None,
        finetune=str(out / "runs" / safe(entry.finetune)) if entry.finetune else None,
    )  # fmt: skip
    source = data or s.data
    dc = DataConfig(source=source, crop=s.crop, scale=parse_scale(entry.scale))
    return TrainConfig(spec=entry.spec, name=entry.id, width=s.width, batch_norm=s.batch_norm, data=dc, recipe=recipe,
                       out=str(out / "runs" / safe(entry.id)), devices=devices, progress=True)  # fmt: skip


def _finished(run: Path, epochs: int) -> bool:
    """Read from the weights file's metadata: no need to load a checkpoint to know its epoch."""
    from safetensors import safe_open

    weights = run / "model.safetensors"
    if not (run / "checkpoint.pt").is_file() or not weights.is_file():
        return False
    with safe_open(weights, "pt") as f:
        meta = f.metadata() or {}
    return int(meta.get("epoch", 0)) >= epochs and meta.get("step", "0") == "0"


def train_entry(cfg: TrainConfig, log) -> str:
    run = Path(cfg.out)
    if _finished(run, cfg.recipe.epochs):
        return "reused"
    resume = (run / "checkpoint.pt").is_file()
    train(cfg.model_copy(update={"resume": resume}))
    log(f"trained {run}")
    return "resumed" if resume else "trained"


def evaluate_entry(out: Path, ids: list[str], limit: int | None, devices: int) -> tuple[list[dict], float]:
    """Rows for one model (or a fusion of several), cached in out/evals/."""
    cache = out / "evals" / f"{'+'.join(safe(i) for i in ids)}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        return saved["rows"], saved["images_per_s"]
    start = time.perf_counter()
    rows = evaluate_checkpoints(EvalJob([str(out / "runs" / safe(i)) for i in ids], limit=limit), devices=devices)
    rate = rows[0]["images"] * len(ids) / (time.perf_counter() - start)
    with atomic_path(cache) as tmp:
        tmp.write_text(json.dumps({"rows": rows, "images_per_s": rate}))
    return rows, rate


def _pick(rows: list[dict], row: Row) -> dict | None:
    method = f"fusion: {row.method}" if len(row.train) > 1 else row.method
    return next((r for r in rows if r["protocol"] == row.protocol and r["method"] == method), None)


# ---------------------------------------------------------------- scaling


def scaling(suite: Suite, out: Path, devices: int, data: str | None) -> list[dict]:
    """Training images/s for 1, 2, 4, ... processes on the suite's first net, and the speed-up."""
    entry, rows = suite.train[0], []
    counts = [n for n in (1, 2, 4, 8, 16, 32) if n <= devices]
    for n in counts:
        cfg = _config(suite, entry, out / "scaling", n, "synthetic")
        side = cfg.data.crop_size
        batch = max(suite.suite.batch, 32 * n) // n * n
        cfg = cfg.model_copy(update={
            "out": str(out / "scaling" / f"n{n}"), "progress": False,
            "data": cfg.data.model_copy(update={"synthetic": (batch * 12, 10, side), "scale": (side, side)}),
            "recipe": cfg.recipe.model_copy(update={"epochs": 1, "batch": batch, "pretrained_a": None,
                                                    "finetune": None, "max_steps": 10}),
        })  # fmt: skip
        shutil.rmtree(cfg.out, ignore_errors=True)
        rate = train(cfg).metrics[-1]["images_per_s"]
        rows.append({"processes": n, "train_images_per_s": round(rate, 1)})
    for r in rows:
        r["speedup"] = round(r["train_images_per_s"] / rows[0]["train_images_per_s"], 2)
        r["efficiency_%"] = round(100 * r["speedup"] / r["processes"], 1)
    return rows


# ---------------------------------------------------------------- report


def _claims(suite: Suite, table_rows: list[dict]) -> list[dict]:
    err = {r["row"]: r["top1_err"] for r in table_rows if r["top1_err"] is not None}
    out = []
    for c in suite.claim:
        names = c.better + c.worse
        if any(n not in err for n in names):
            out.append({"claim": c.text, "holds": "not measured", "evidence": ""})
            continue
        best_claimed = min(err[n] for n in c.better)
        best_other = min(err[n] for n in c.worse)
        holds = best_claimed < best_other if c.kind == "lower" else best_claimed >= best_other - c.tolerance
        evidence = ", ".join(f"{n}: {err[n]:.2f}" for n in names)
        out.append({"claim": c.text, "holds": "holds" if holds else "does not hold", "evidence": evidence})
    return out


def _markdown(name, status, tables, claims, throughput, scaling_rows) -> str:
    import pandas as pd

    lines = [f"# archspec bench: {name}", "", status, ""]
    for table in tables:
        lines += [f"## {table['name']}: {table['title']}", "", pd.DataFrame(table["rows"]).to_markdown(index=False),
                  "", f"![{table['name']}]({table['plot']})", ""]  # fmt: skip
    lines += ["## The paper's claims at this scale", "", pd.DataFrame(claims).to_markdown(index=False), ""]
    lines += ["## Throughput", "", pd.DataFrame(throughput).to_markdown(index=False), ""]
    if scaling_rows:
        lines += [f"## Data-parallel scaling (paper: {PAPER_SPEEDUP_4GPU}x on 4 GPUs)", "",
                  pd.DataFrame(scaling_rows).to_markdown(index=False), ""]  # fmt: skip
    return "\n".join(lines)


def _plot(path: Path, table: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in table["rows"] if r["top1_err"] is not None]
    fig = Figure(figsize=(max(6, 0.9 * len(rows) + 2), 3.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["top1_err"] for r in rows], 0.4, label="archspec (this run)")
    ax.bar([x + 0.2 for x in xs], [r["paper_top1"] or 0 for r in rows], 0.4, label="paper (ImageNet)")
    ax.set_xticks(list(xs), [r["row"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="top-1 error (%)", title=f"{table['name']}: {table['title']}")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def run_suite(path: str, out: str | None = None, devices: int = 1, data: str | None = None, log=print) -> dict:
    suite = load_suite(path)
    source = data or suite.suite.data
    if source not in ("embedded", "fashion-mnist", "mnist", "synthetic") and not Path(source).is_dir():
        raise ArchspecError(f"{source}: no such folder; expected the suite's data (an ImageNet-layout folder), "
                            "or pass --data")  # fmt: skip
    root = Path(out or f"bench/{suite.suite.name}")
    root.mkdir(parents=True, exist_ok=True)
    status, failed, failed_ids, throughput = {}, [], set(), []
    for entry in suite.train:
        cfg = _config(suite, entry, root, devices, data)
        try:
            status[entry.id] = train_entry(cfg, log)
        except ArchspecError as e:  # record and go on: the report will say it is incomplete
            failed.append(f"{entry.id}: {e}")
            failed_ids.add(entry.id)
            log(f"failed {entry.id}: {e}")
            continue
        last = metrics.read(Path(cfg.out) / "metrics.csv")[-1]
        throughput.append({"entry": entry.id, "train_images_per_s": round(last["images_per_s"], 1)})
    evaluated: dict[tuple[str, ...], list[dict]] = {}
    tables, all_rows = [], []
    for table in suite.table:
        rows = []
        for row in table.rows:
            key = tuple(row.train)
            if key not in evaluated and not failed_ids.intersection(key):
                try:
                    evaluated[key], rate = evaluate_entry(root, list(key), suite.suite.eval_limit, devices)
                    if len(key) == 1:
                        next(t for t in throughput if t["entry"] == key[0])["eval_images_per_s"] = round(rate, 1)
                except ArchspecError as e:
                    failed.append(f"eval {'+'.join(key)}: {e}")
            found = _pick(evaluated.get(key, []), row)
            ours1, ours5 = (found["top1_err"], found["top5_err"]) if found else (None, None)
            rows.append({
                "row": row.label, "ours": found["model"] if found else "missing", "protocol": row.protocol,
                "method": row.method, "top1_err": ours1, "top5_err": ours5,
                "paper_top1": row.paper_top1, "paper_top5": row.paper_top5,
                "diff_top1": round(ours1 - row.paper_top1, 2) if ours1 is not None and row.paper_top1 else None,
                "diff_top5": round(ours5 - row.paper_top5, 2) if ours5 is not None and row.paper_top5 else None,
            })  # fmt: skip
        plot = f"{safe(table.name)}.png"
        tables.append({"name": table.name, "title": table.title, "rows": rows, "plot": plot})
        all_rows += [{"table": table.name, **r} for r in rows]
    missing = sum(r["top1_err"] is None for r in all_rows)
    complete = not failed and not missing
    status_line = ("Complete: every entry trained and evaluated." if complete else
                   f"INCOMPLETE: {missing} of {len(all_rows)} table rows have no result; failed: "
                   f"{'; '.join(failed) or 'none'}. Rerun the same command to resume.")  # fmt: skip
    claims = _claims(suite, all_rows)
    scale_rows = scaling(suite, root, devices, data) if devices > 1 else []
    import pandas as pd

    for table in tables:
        _plot(root / table["plot"], table)
    with atomic_path(root / "report.csv") as tmp:
        pd.DataFrame(all_rows).to_csv(tmp, index=False)
    with atomic_path(root / "report.md") as tmp:
        tmp.write_text(_markdown(suite.suite.name, status_line, tables, claims, throughput, scale_rows))
    return {"root": root, "complete": complete, "status": status_line, "tables": tables, "claims": claims,
            "throughput": throughput, "scaling": scale_rows, "trained": status}  # fmt: skip
