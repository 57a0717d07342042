"""The one record bench hands the report (`BenchRecord`), and the files it persists as: outcomes.npz (every row's
per-image mistakes, from which `--report-only` recomputes the report) and report.json (read back by a later
bench). Everything the report quotes about runs and machines is gathered by bench into `Facts`, so that the
report side imports neither torch nor the evaluation code.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.files import read_record, regular

from ..suite import Suite
from ..training.config import SMALL_SOURCES
from .claims import Outcome

REPORT_JSON_BYTES = 64 << 20  # tables, claims and a header: far below this
SMALL_CLASSES = 10  # every small source (Fashion-MNIST, MNIST, the embedded subset, a suite's synthetic data)


class RunRecord(BaseModel):
    """What the header quotes from a run's run.json."""

    machine: str = "an unrecorded machine"
    threads: int | None = None
    code: str = "an unrecorded version"


class DataFacts(BaseModel):
    """The data of the suite's first finished run: its run.json and holdout.json."""

    trained: int | None  # training images, where holdout.json records them
    held: int
    fraction: float
    crop: int
    pad: int


class Compute(BaseModel):
    """The useful FLOPs the suite ran, from the IR as `bench --plan` counts them, and the machine's GEMM peak."""

    train_flops: float  # every seed's training, its held-out passes included
    eval_flops: float  # every seed's evaluation on the scored split
    peak_gflops: dict[str, float] | None  # per core, by precision, measured at the start of a bench (bench.json)
    peak_by: str | None  # what measured it: torch version and CPU
    cores: int  # the cores the suite ran on


class Facts(BaseModel):
    """What the header says about how the report was produced, gathered by bench from the runs and this machine."""

    here: str  # this machine: CPU, GPU, Python and torch versions
    threads: int  # torch threads per run here
    runs: list[RunRecord]  # every run.json of the suite's runs
    has_runs: bool  # the folder holds run folders (a committed report's does not)
    data: DataFacts | None  # None: no finished run yet
    precision: str | None  # how the suite's precision resolves here, and why; None: unknown (recomputed, no runs)
    compute: Compute | None = None  # None: the suite's FLOPs could not be counted (e.g. an unknown data set size)
    looks: str = ""  # the ledger's sentence on looks at the scored split, after this invocation's


class CostRow(BaseModel):
    """A row of the cost table (`bench.run._throughput`)."""

    entry: str
    params_full: int
    macs_full: int
    params_trained: int
    macs_trained: int
    epochs: int
    train_images_per_s: int | float
    train_s_all_seeds: float
    eval_images_per_s: float | None


@dataclass(frozen=True)
class BenchRecord:
    """Everything a bench report is written from."""

    root: Path
    suite: Suite
    suite_path: str
    suite_changed_from: str | None  # the suite's sha256 when this folder's runs were made, if it changed since
    data: str | None  # --data, overriding the suite's source
    complete: bool
    status: str
    tables: list[dict]
    outcomes: dict[str, Outcome]
    claims: list[dict]
    per_configuration: list[dict]
    throughput: list[dict]
    scaling: list[dict]
    trained: dict
    jobs: int
    jobs_most: int  # the most runs side by side of any invocation in this folder
    wall_s: float  # this invocation
    wall_s_total: float  # every invocation in this folder
    report_only: bool
    facts: Facts


class Previous(BaseModel):
    """What a recomputation keeps of the report.json a bench wrote before: its header and cost table."""

    header: list[str] = []
    throughput: list[CostRow] = []


def previous(root: Path) -> Previous:
    """The report.json a bench wrote in this folder before (empty if none); one line naming the file and the field
    where it is not a report's shape."""
    path = root / "report.json"
    return read_record(path, Previous, "a bench report", REPORT_JSON_BYTES) if path.is_file() else Previous()


def save_report_json(root: Path, doc: dict) -> None:
    with atomic_path(root / "report.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=str))


OUTCOMES = "outcomes.npz"


def save_outcomes(path: Path, outcomes: dict[str, Outcome], seeds: list[int]) -> None:
    """Every row's per-image mistakes, one byte per image, row and seed (compressed): what every interval and
    test of the report is computed from, so `bench --report-only` recomputes them without the runs."""
    outs = list(outcomes.values())
    n = max(o.wrong1.shape[1] for o in outs)

    def padded(w: np.ndarray) -> np.ndarray:  # a row scored on a prefix of the images: 0 after it, `images` says
        return np.pad(w, ((0, 0), (0, n - w.shape[1])))

    arrays = {
        "rows": np.array(list(outcomes)),
        "models": np.array([o.model for o in outs]),
        "seeds": np.array(seeds),
        "top1": np.stack([padded(o.wrong1) for o in outs]).astype(np.uint8),  # (rows, seeds, images)
        "top5": np.stack([padded(o.wrong5) for o in outs]).astype(np.uint8),
        "images": np.array([o.wrong1.shape[1] for o in outs]),
        "dense_map": np.array([-1 if o.dense_map is None else o.dense_map for o in outs]),
        "crop_views": np.array([-1 if o.crop_views is None else o.crop_views for o in outs]),
        "dense_cover": np.array([np.nan if o.dense_cover is None else o.dense_cover for o in outs]),
        "classes": np.array([-1 if o.classes is None else o.classes for o in outs]),
    }
    with atomic_path(path) as tmp:  # its name ends in .npz, so numpy keeps it
        np.savez_compressed(tmp, **arrays)


# what save_outcomes writes: each array's dtype kinds and shape, in rows (R), seeds (S) and scored images (N)
OUTCOME_ARRAYS = {
    "rows": ("U", "R"),
    "models": ("U", "R"),
    "seeds": ("iu", "S"),
    "top1": ("iub", "RSN"),
    "top5": ("iub", "RSN"),
    "dense_map": ("iu", "R"),
    "crop_views": ("iu", "R"),
    "dense_cover": ("f", "R"),
}
# written since classes, and rows scored on a prefix of the images (`multi_crop_images`), were recorded; older files
# lack them
OPTIONAL = {"classes": ("iu", "R"), "images": ("iu", "R")}
OUTCOMES_WHAT = "the per-image outcomes a bench report writes"


def _read_outcome_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an outcomes.npz, loaded without pickle and checked against `OUTCOME_ARRAYS`; one line
    naming the file and what is wrong (not a zip, a missing array, an object array, a shape or value)."""
    regular(path, OUTCOMES_WHAT)
    try:
        with np.load(path, allow_pickle=False) as z:
            if missing := [name for name in OUTCOME_ARRAYS if name not in z.files]:
                raise ArchspecError(f"{path}: no array {missing[0]!r}; expected {OUTCOMES_WHAT}")
            arrays = {name: z[name] for name in OUTCOME_ARRAYS | OPTIONAL if name in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ArchspecError(f"{path}: not a readable .npz file ({str(e)[:80]}); expected {OUTCOMES_WHAT}") from None
    sizes: dict[str, int] = {}
    for name, (kinds, dims) in (OUTCOME_ARRAYS | OPTIONAL).items():
        if name not in arrays:
            continue
        a = arrays[name]
        want = tuple(sizes.setdefault(d, a.shape[i]) if i < a.ndim else -1 for i, d in enumerate(dims))
        if a.dtype.kind not in kinds or a.shape != want:
            raise ArchspecError(
                f"{path}: array {name!r} of {a.dtype} {a.shape}; expected {OUTCOMES_WHAT}, shaped "
                f"({', '.join({'R': 'rows', 'S': 'seeds', 'N': 'images'}[d] for d in dims)})"
            )
    for name in ("top1", "top5"):
        if ((arrays[name] != 0) & (arrays[name] != 1)).any():
            raise ArchspecError(f"{path}: array {name!r} holds values other than 0 and 1; expected mistakes as 0/1")
    n = arrays["top1"].shape[2]
    if "images" in arrays and ((arrays["images"] < 1) | (arrays["images"] > n)).any():
        raise ArchspecError(f"{path}: array 'images' holds counts outside 1..{n}; expected each row's scored images")
    return arrays


def load_outcomes(path: Path, suite: Suite) -> tuple[dict[str, Outcome], list[int]]:
    """The outcomes `save_outcomes` wrote, for the suite's rows of the same labels, and their seeds. A file written
    before classes were recorded has none: a suite on a small set has 10, any other's stay unknown."""
    rows, z = {r.label: r for t in suite.table for r in t.rows}, _read_outcome_arrays(path)
    known = SMALL_CLASSES if suite.suite.data in SMALL_SOURCES else -1
    classes = z.get("classes", np.full(len(z["rows"]), known))
    images = z.get("images", np.full(len(z["rows"]), z["top1"].shape[2]))
    out = {}
    for i, label in enumerate(z["rows"].tolist()):
        if label not in rows:
            raise ArchspecError(f"{path}: row {label!r} is not in the suite; expected the suite that wrote it")
        dm, cv, dc = int(z["dense_map"][i]), int(z["crop_views"][i]), float(z["dense_cover"][i])
        out[label] = Outcome(
            rows[label],
            str(z["models"][i]),
            z["top1"][i, :, : images[i]].astype(np.float64),
            z["top5"][i, :, : images[i]].astype(np.float64),
            None if dm < 0 else dm,
            None if cv < 0 else cv,
            None if np.isnan(dc) else dc,
            None if classes[i] < 0 else int(classes[i]),
        )
    return out, z["seeds"].tolist()
