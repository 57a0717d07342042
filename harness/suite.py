"""Bench suites: the schema of a suite file (TOML, `suites/*.toml`), its validation, and the scale mapping.

A suite lists configurations to train (`[[train]]`, ids in the paper's notation such as `D/[256;512]`),
tables to fill (`[[table]]`: rows naming trained ids, protocol and method, and the paper's numbers),
claims to decide (`[[claim]]`: pairs of rows, each pair one configuration the paper's sentence covers)
and tables quoted from the paper only (`[[paper_table]]`, e.g. Table 7).

Scales in a suite are always the paper's pixels (S = 256, [256;512], Q = 384). `ScaleMap` maps them to
the suite's crop by the paper's ratio crop/224, so S = 256/224 x crop and every Q set likewise.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import ConfigDict, Field, ValidationError, create_model, model_validator

from archspec.choices import Precision, Schedule
from archspec.errors import ArchspecError, SpecError
from archspec.files import read_bytes, read_text
from archspec.ir import Node
from archspec.passes import Overrides
from archspec.source import resolve
from archspec.views import DENSE, METHODS, MULTI, MULTI_CROP, PAPER_CROP, PROTOCOLS, SCALED, SINGLE

from .training.config import (
    ENTRY_OPTIONS,
    DataConfig,
    Recipe,
    TrainConfig,
    Training,
    parse_scale,
    unset_fields,
)


class Strict(Node):
    """A suite table: unknown keys are errors, so a typo never silently keeps a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Settings(Training, Strict):
    """`[suite]`: the recipe of every net (the `Training` fields, as `archspec train` takes them) and the suite's
    data, model size and seeds."""

    name: str
    description: str = ""
    note: str = Field(default="", description="printed under the report's title (e.g. what to expect)")
    data: str = DataConfig.model_fields["source"]
    crop: int | None = DataConfig.model_fields["crop"]
    pad: int = DataConfig.model_fields["pad"]
    holdout: float = DataConfig.model_fields["holdout"]
    width: float | None = Overrides.model_fields["width"]
    batch_norm: bool = Overrides.model_fields["batch_norm"]
    eval_limit: int | None = Field(default=None, ge=1)
    multi_crop_images: int | None = Field(
        default=None,
        ge=1,
        description="multi-crop rows (150 views an image) scored on the first N scored images, in the split's own "
        "order; dense and centre rows on all of them; a claim pairs two rows on the images both scored",
    )
    seed: int = Recipe.model_fields["seed"]
    seeds: int = Field(default=1, ge=1, le=100, description="each training entry runs this many times")


class EntryBase(Strict):
    id: str
    spec: str
    scale: str = Field(description="training S in the paper's pixels: 256, 384 or [256;512]")
    pretrained_a: str | None = Field(default=None, description="id of a trained net A in this suite")
    finetune: str | None = Field(default=None, description="id of a trained net of the same spec in this suite")


# `[[train]]`: a net to train, and its own settings over the suite's (`config.ENTRY_OPTIONS`, with the options'
# bounds and help; lr steps default to the suite's inside the entry's epochs, a crop and a width to the suite's)
Entry = create_model("Entry", __base__=EntryBase, **unset_fields(ENTRY_OPTIONS))


Method = Literal[tuple(METHODS)]  # archspec.views: one definition per method


class Row(Strict):
    label: str  # the paper's row, e.g. "D 256 256" or "D+E multi-crop & dense"
    train: list[str] = Field(min_length=1)  # suite ids; several: an ensemble
    protocol: Literal[tuple(PROTOCOLS)]  # archspec.views: one definition per protocol
    method: Method = "dense"
    paper_top1: float | None = None
    paper_top5: float | None = None


class Table(Strict):
    name: str
    title: str
    rows: list[Row]
    cost_plot: bool = Field(default=False, description="also plot its rows' error against MACs (log axis)")
    footnote: str | None = Field(
        default=None, description="printed under the table (e.g. where its paper columns come from); not hashed"
    )


class Claim(Strict):
    text: str
    kind: Literal["lower", "no_worse"] = Field(
        default="lower",
        description="lower: the first row of each pair has lower top-1 error; no_worse: its "
        "error is at most `margin` points above the second's",
    )
    margin: float = Field(default=0.0, ge=0)
    pairs: list[tuple[str, str]] = Field(min_length=1, description="[claimed row, compared row] per configuration")


class PaperTable(Strict):
    """A table quoted from the paper, never measured here (e.g. Table 7, the state of the art)."""

    name: str
    title: str
    rows: list[dict[str, str | float]]


class Suite(Strict):
    suite: Settings
    train: list[Entry] = Field(min_length=1)
    table: list[Table]
    claim: list[Claim] = []
    paper_table: list[PaperTable] = []

    def crop_of(self, entry: Entry | None, data: str | None = None) -> int:
        """The crop an entry trains and is tested at (None: the suite's own): its own, the suite's, or the data
        config's default (32 for a small set, else 224)."""
        s = self.suite
        return (entry and entry.crop) or DataConfig(source=data or s.data, crop=s.crop).crop_size

    @model_validator(mode="after")
    def _schedule_given(self) -> Suite:
        """A steps suite needs its steps, and warm-up belongs to the linear schedule: refused at load, not
        after the first runs have trained (each entry's recipe is checked only when it starts)."""
        s = self.suite
        if s.schedule is Schedule.steps and not s.lr_steps and not any(e.lr_steps for e in self.train):
            raise ValueError("schedule 'steps' with no lr_steps in [suite] or any entry; expected lr_steps = [...]")
        if s.warmup and s.schedule is not Schedule.linear:
            raise ValueError(f"warmup {s.warmup:g} with schedule {s.schedule.value!r}; expected schedule 'linear'")
        return self

    @model_validator(mode="after")
    def _references(self) -> Suite:
        ids, folders = [], {}
        for entry in self.train:
            if entry.id in ids:
                raise ValueError(f"train id {entry.id!r} appears twice; expected unique ids")
            if (clash := folders.setdefault(safe(entry.id), entry.id)) != entry.id:
                raise ValueError(f"train ids {clash!r} and {entry.id!r} share the run folder {safe(entry.id)!r}")
            for ref in (entry.pretrained_a, entry.finetune):
                if ref is not None and ref not in ids:
                    raise ValueError(f"train {entry.id!r} refers to {ref!r}; expected an id trained before it")
            ids.append(entry.id)
        labels = set()
        for table in self.table:
            for row in table.rows:
                if missing := [t for t in row.train if t not in ids]:
                    raise ValueError(f"{table.name} row {row.label!r}: unknown train id {missing[0]!r}")
                if row.label in labels:
                    raise ValueError(f"row label {row.label!r} appears twice; expected unique labels")
                labels.add(row.label)
        for claim in self.claim:
            for pair in claim.pairs:
                if missing := [label for label in pair if label not in labels]:
                    raise ValueError(f"claim {claim.text!r}: no table row {missing[0]!r}")
        return self


def safe(id_: str) -> str:
    """A run folder name for a suite id: `D/[256;512]` -> `D_256_512`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", id_).strip("_")


def suites_dir() -> Path:
    """The shipped suites: the checkout's suites/ (editable install) or archspec/suites/ (wheel)."""
    return Path(__file__).resolve().parents[1] / "suites"


SUITE = "a TOML suite file, or a name such as quick, small, paper"
MAX_SUITE_BYTES = 1 << 20


def suite_path(path: str | Path) -> Path:
    """A suite file, or the name of a shipped suite. A name is a bare word (`../pyproject` is a path, never the
    name of pyproject.toml); anything that exists is a path, and reading it says what is wrong with it."""
    p = Path(path)
    if p.exists() or p.is_symlink() or not re.fullmatch(r"[A-Za-z0-9_-]+", str(path)):
        return p
    builtin = suites_dir() / f"{path}.toml"
    if not builtin.is_file():
        raise ArchspecError(f"{path}: no such suite file; expected {SUITE}")
    return builtin


def suite_hash(path: str | Path) -> str:
    """sha256 of what the suite says, not how it is written: its parsed content less tables' footnotes, so a
    comment, footnote or layout fix does not orphan the reports and runs made from it. A file that does not parse
    hashes by its bytes."""
    data = read_bytes(suite_path(path), SUITE, MAX_SUITE_BYTES)
    try:
        parsed = tomllib.loads(data.decode("utf-8-sig"))
        tables = parsed.get("table")
        for table in tables if isinstance(tables, list) else []:
            if isinstance(table, dict):
                table.pop("footnote", None)  # words about a table, like a comment: they change no number
        data = json.dumps(parsed, sort_keys=True).encode()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        pass
    return hashlib.sha256(data).hexdigest()[:12]


def _invalid(p: Path, e: ValidationError) -> ArchspecError:
    """The first validation error as one line: where in the suite, what was found, what was expected."""
    err = e.errors()[0]
    where = ".".join(map(str, err["loc"]))
    where = f"{p}: {where}: " if where else f"{p}: "
    if err["type"] == "extra_forbidden":
        return ArchspecError(f"{where}unknown key; expected the keys documented in suites/README.md")
    if err["type"] == "missing":
        return ArchspecError(f"{where}missing; expected this key (see suites/README.md)")
    if err["type"] == "too_short":  # an empty [[train]] list
        return ArchspecError(f"{where}found none; expected at least {err['ctx']['min_length']} (see suites/README.md)")
    if err["type"] == "value_error":  # the suite's own checks say what they expected
        return ArchspecError(where + err["msg"].removeprefix("Value error, "))
    found = repr(err["input"])[:60]
    return ArchspecError(f"{where}found {found}; expected {err['msg'].removeprefix('Input should be ')}")


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite, every entry included (its scale, its spec), before anything trains."""
    p = suite_path(path)
    text = read_text(p, SUITE, MAX_SUITE_BYTES)
    try:
        suite = Suite.model_validate(tomllib.loads(text.removeprefix("\ufeff")))
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(e))
        found, line, col = (m[1], int(m[2]), int(m[3])) if m else (str(e), None, None)
        raise SpecError(found[:1].lower() + found[1:], "a TOML suite", path=str(p), line=line, col=col) from None
    except RecursionError:
        raise SpecError("TOML nested too deeply", "a TOML suite", path=str(p)) from None
    except ValidationError as e:
        raise _invalid(p, e) from None
    for entry in suite.train:
        try:
            # a bad or too small scale fails here, before any training
            ScaleMap(suite.crop_of(entry)).train(entry.scale)
            resolve(entry.spec)  # so does a missing spec of a later entry
        except ArchspecError as e:
            raise ArchspecError(f"{p}: train {entry.id!r}: {e}") from None
    return suite


class ScaleMap:
    """The paper's scales at another crop, by the paper's ratio: ours = round(paper x crop / 224)."""

    def __init__(self, crop: int) -> None:
        self.crop = crop

    def __call__(self, paper: float) -> int:
        return round(paper * self.crop / PAPER_CROP)

    def train(self, scale: str) -> tuple[int, int]:
        """A suite's S (paper pixels) -> (Smin, Smax) at this crop; S must not be smaller than the crop."""
        lo, hi = parse_scale(scale)
        ours = (self(lo), self(hi))
        if ours[0] < self.crop:
            raise ArchspecError(
                f"scale {scale!r}: S = {lo} maps to {ours[0]} at crop {self.crop}, smaller than the "
                f"crop; expected S >= {PAPER_CROP} (scales are the paper's pixels)"
            )
        return ours

    def test_scales(self, scale: str) -> tuple[list[int], list[int]]:
        """(paper's multi-scale Q set, ours) for a training scale: `MULTI.scales` of the paper's S at crop 224
        and of our S at our crop, so that `bench` and `eval` of a run use the same Q."""
        return MULTI.scales(parse_scale(scale), PAPER_CROP), MULTI.scales(self.train(scale), self.crop)

    def describe(self, entries: list[Entry]) -> str:
        """One line: every training scale and Q set of the suite, the paper's -> ours."""
        if self.crop == PAPER_CROP:
            return "the paper's scales (crop 224)"
        parts, seen = [], set()
        for e in entries:
            if e.scale in seen:
                continue
            seen.add(e.scale)
            lo, hi = parse_scale(e.scale)
            s_paper = str(lo) if lo == hi else f"[{lo};{hi}]"
            ours = self.train(e.scale)
            s_ours = str(ours[0]) if lo == hi else f"[{ours[0]};{ours[1]}]"
            paper_q, ours_q = self.test_scales(e.scale)
            parts.append(
                f"S {s_paper} -> {s_ours}, Q {{{','.join(map(str, paper_q))}}} -> {{{','.join(map(str, ours_q))}}}"
            )
        return f"crop 224 -> {self.crop} (x{self.crop / PAPER_CROP:.4g}): " + "; ".join(parts)


# ---------------------------------------------------------------- entries as runs


def seeds_of(suite: Suite) -> list[int]:
    return [suite.suite.seed + k for k in range(suite.suite.seeds)]


def run_dir(root: Path, id_: str, seed: int) -> Path:
    return root / "runs" / safe(id_) / f"seed{seed}"


def entry_config(suite: Suite, entry: Entry, root: Path, seed: int, devices: int, data: str | None) -> TrainConfig:
    s, shared = suite.suite, set(Training.model_fields)
    recipe = s.model_dump(include=shared) | entry.model_dump(include=shared, exclude_none=True)  # the entry's win
    steps = entry.lr_steps if entry.lr_steps is not None else tuple(e for e in s.lr_steps if e < recipe["epochs"])
    recipe |= {
        # an entry shorter than every step of the steps schedule keeps its lr (the plateau rule, as before)
        "schedule": Schedule.plateau if s.schedule is Schedule.steps and not steps else s.schedule,
        "lr_steps": steps,
        "warmup": 0.0 if entry.finetune else s.warmup,  # a fine-tune starts from trained weights at its lr
        "seed": seed,
        "pretrained_a": str(run_dir(root, entry.pretrained_a, seed)) if entry.pretrained_a else None,
        "finetune": str(run_dir(root, entry.finetune, seed)) if entry.finetune else None,
    }
    crop = suite.crop_of(entry, data)
    scale = ScaleMap(crop).train(entry.scale)
    dc = DataConfig(source=data or s.data, crop=crop, pad=s.pad, scale=scale, holdout=s.holdout)
    return TrainConfig(
        spec=entry.spec,
        name=entry.id,
        model=Overrides(
            width=s.width if entry.width is None else entry.width,
            batch_norm=s.batch_norm if entry.batch_norm is None else entry.batch_norm,
        ),
        data=dc,
        recipe=Recipe(**recipe),
        out=str(run_dir(root, entry.id, seed)),
        devices=devices,
        progress=True,
    )


def needs(suite: Suite, id_: str, crops: bool | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The protocols and methods the suite's rows need from this entry: multi-crop is 150 views an image, so
    it is computed only where a row asks for it, and the dense pass only where a row reads it (the centre crop
    comes with the single scale, so rows that read only the centre crop need no scaled method at all). An entry
    that no row names gets the single-scale dense pass. `crops`: only the rows whose method uses multi-crop views
    (True) or only the others (False), which a suite with `multi_crop_images` evaluates on different images."""
    rows = [r for t in suite.table for r in t.rows if id_ in r.train]
    if crops is not None:
        rows = [r for r in rows if uses_crops(r.method) == crops]
    protocols = tuple(p for p in PROTOCOLS if any(r.protocol == p for r in rows)) or (SINGLE.name,)
    wanted = {r.method for r in rows}
    return protocols, tuple(m.name for m in SCALED if m.name in wanted) or (() if rows else (DENSE.name,))


def uses_crops(method: str) -> bool:
    """Whether the method averages multi-crop views (150 an image)."""
    return MULTI_CROP.name in METHODS[method].parts


def eval_passes(suite: Suite, id_: str) -> list[tuple[int | None, tuple[str, ...], tuple[str, ...]]]:
    """bench's evaluations of this entry, as (images, protocols, methods), images None for every scored image: one,
    or two where its multi-crop rows score only the first `multi_crop_images` (the others all of them)."""
    s = suite.suite
    some = s.multi_crop_images is not None and (s.eval_limit is None or s.multi_crop_images < s.eval_limit)
    if some and any(uses_crops(m) for m in needs(suite, id_)[1]):
        return [(None, *needs(suite, id_, False)), (s.multi_crop_images, *needs(suite, id_, True))]
    return [(None, *needs(suite, id_))]


def eval_precision(suite: Suite) -> Precision:
    """A suite evaluates at the precision it trains at (posteriors in fp32); auto is bf16 where the evaluating device
    has bf16 units, as in training."""
    return suite.suite.precision
