"""Training configuration, composed from small frozen pieces (torchtitan style).

`TrainConfig` = what to train (spec + the model `Overrides` of `archspec.passes`)
+ `DataConfig` + `Recipe` + where and how to run (`Launch` for the processes).
The class count and input shape come from the data, not from the overrides.
Defaults are the paper's Section 3.1 values; small data scales the protocol down
through `crop` and `scale` (e.g. crop 32 from S = 37 = 256/224 x 32).

Each option is written once, here: a field's description is its `archspec train --option` help, `OPTIONS` names
the flag that sets it, and a suite's `[suite]` table takes the `Training` fields as they are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from archspec.choices import BACKEND_HELP, Backend, Init, Precision, Schedule
from archspec.errors import ArchspecError
from archspec.ir import Node
from archspec.passes import Overrides
from archspec.source import network
from archspec.views import PAPER_CROP, RATIO, SINGLE

SMALL_SOURCES = ("embedded", "fashion-mnist", "mnist", "synthetic")


def parse_every(text: str) -> tuple[float | None, int | None]:
    """`--checkpoint-every`: `10m` (minutes of work) or `500` (steps) -> (minutes, steps)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(m|min)?\s*", text)
    if not m or float(m[1]) <= 0 or (not m[2] and "." in m[1]):
        raise ArchspecError(f"--checkpoint-every {text!r}: expected steps (e.g. 500) or minutes (e.g. 10m)")
    return (float(m[1]), None) if m[2] else (None, int(m[1]))


def parse_steps(text: str) -> tuple[int, ...]:
    """`--lr-steps 3,4`: the epochs after which lr is divided by 10."""
    if not re.fullmatch(r"\s*\d{1,5}(\s*,\s*\d{1,5})*\s*", text):
        raise ArchspecError(f"--lr-steps {text!r}: expected epochs separated by commas (e.g. 3,4)")
    return tuple(int(e) for e in text.split(","))


def parse_scale(text: str) -> tuple[int, int]:
    """`256` (fixed S), `256:512`, `256-512` or the paper's `[256;512]` (jittered S)."""
    m = re.fullmatch(r"\s*\[?\s*(\d{1,5})\s*(?:[:;,-]\s*(\d{1,5}))?\s*\]?\s*", text)
    if not m or int(m[1]) < 1 or (m[2] and int(m[2]) < int(m[1])):
        raise ArchspecError(f"scale {text!r}: expected S (e.g. 256) or Smin:Smax (e.g. 256:512, or [256;512])")
    return int(m[1]), int(m[2] or m[1])


def implied_schedule(data: Any) -> Any:
    """lr steps without a schedule (as `--lr-steps` alone, or run.json files older than `schedule`) mean the
    steps schedule."""
    if isinstance(data, dict) and data.get("lr_steps") and "schedule" not in data:
        data = {**data, "schedule": Schedule.steps}
    return data


class DataConfig(Node):
    source: str = Field(default="embedded", description="embedded | fashion-mnist | mnist | synthetic | FOLDER")
    root: str | None = Field(default=None, description="Folder of idx files (MNIST sets).")
    crop: int | None = Field(default=None, ge=1, description="Crop side (224; 32 for small sets).")
    # [Smin, Smax], equal for a fixed S; written as S, Smin:Smax or [Smin;Smax]
    scale: tuple[int, int] | None = Field(
        default=None, description="S or Smin:Smax (default: the paper's 256/224 of the crop, 256 at 224, 37 at 32)."
    )
    # added on every side before rescaling (LeNet-5 padded MNIST's 28 x 28 to 32 x 32)
    pad: int = Field(default=0, ge=0, description="Background pixels added around small-set images (28 -> 32: 2).")
    flip: bool = Field(default=True, description="Random horizontal flips.")
    pca_std: float = Field(default=0.1, ge=0, description="Std of AlexNet's PCA colour shift.")  # alpha ~ N(0, std)
    workers: int = Field(
        default=min(4, os.cpu_count() or 1),
        ge=0,
        description="Loader workers for folders (default: up to 4, one per core).",
    )
    synthetic: tuple[int, int, int] = Field(default=(2048, 10, 32), description="synthetic: images, classes, side")
    # for the plateau rule and the best weights; never the scored split
    holdout: float = Field(
        default=0.05, ge=0, lt=1, description="Share of each training class held out for the lr rule."
    )

    @field_validator("scale", mode="before")
    @classmethod
    def _scale_text(cls, value: Any) -> Any:
        return parse_scale(value) if isinstance(value, str) else value

    @property
    def small(self) -> bool:
        return self.source in SMALL_SOURCES

    @property
    def crop_size(self) -> int:
        return self.crop or (32 if self.small else PAPER_CROP)

    @property
    def scales(self) -> tuple[int, int]:
        """[Smin, Smax]; by default the paper's S = 256 at the paper's ratio to the crop (224 -> 256, 32 -> 37)."""
        s = round(RATIO * self.crop_size)
        return self.scale or (s, s)

    @property
    def test_scale(self) -> int:
        """The paper's single test scale: Q = S, or (Smin + Smax) / 2 for jittered S."""
        return SINGLE.scales(self.scales, self.crop_size)[0]

    @model_validator(mode="after")
    def _pad_small(self) -> DataConfig:
        if self.pad and not self.small:
            raise ArchspecError(f"pad {self.pad}: only the small sets are padded; expected 0 for {self.source}")
        return self

    @model_validator(mode="after")
    def _crop_fits(self) -> DataConfig:
        if self.scales[0] < self.crop_size:
            raise ArchspecError(f"scale S={self.scales[0]} is smaller than crop {self.crop_size}; expected S >= crop")
        return self


class Training(Node):
    """The recipe a suite sets for all its nets (its `[suite]` table) and `archspec train` takes as options."""

    epochs: int = Field(default=74, ge=1, description="Epochs (paper: 74).")
    batch: int = Field(default=256, ge=1, description="Global batch size (paper: 256).")
    lr: float = Field(default=0.01, gt=0, le=100, description="Initial learning rate (paper: 0.01).")
    dropout: float = Field(default=0.5, ge=0, lt=1, description="Dropout after the hidden FC layers (paper: 0.5).")
    patience: int = Field(default=2, ge=0, description="Epochs without improvement before lr /= 10.")
    schedule: Schedule = Field(
        default=Schedule.plateau,
        description=f"{' | '.join(Schedule)} (paper: plateau; steps with --lr-steps; linear: to 0 at the end).",
    )
    # for the steps schedule, in runs too short for a plateau; written as 3,4 on the command line
    lr_steps: tuple[int, ...] = Field(
        default=(), description="Epochs after which lr /= 10, e.g. 3,4 (instead of --patience)."
    )
    # then lr falls to 0; not for fine-tunes in a suite
    warmup: float = Field(default=0.0, ge=0, description="Linear schedule: epochs of lr rising from 0.")
    init: Init = Field(default=Init.normal, description=f"{' | '.join(Init)} (paper: normal).")
    init_std: float = Field(default=0.01, gt=0, description="Std of the normal init.")
    label_smoothing: float = Field(
        default=0.0, ge=0, lt=1, description="Target share spread over the classes (paper: 0)."
    )
    # bf16 autocast: convs and matmuls in bfloat16; a suite evaluates at its training precision
    precision: Precision = Field(
        default=Precision.auto,
        description=f"{' | '.join(Precision)} (bf16: autocast, fp32 weights; auto: bf16 on CUDA and on a CPU with "
        "AMX or AVX512-BF16, fp32 elsewhere).",
    )

    @model_validator(mode="before")
    @classmethod
    def _steps_mean_steps(cls, data: Any) -> Any:
        return implied_schedule(data)

    @field_validator("lr_steps", mode="before")
    @classmethod
    def _steps_text(cls, value: Any) -> Any:
        return parse_steps(value) if isinstance(value, str) else value


class Recipe(Training):
    """Section 3.1: SGD with momentum, weight decay, batch 256, lr 1e-2 divided by 10 on plateaus, at most 3 times."""

    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum (paper: 0.9).")
    weight_decay: float = Field(default=5e-4, ge=0, le=1, description="L2 multiplier (paper: 5e-4).")
    lr_decays: int = Field(default=3, ge=0, description="how many times lr may be divided by 10")
    # its first 4 convs and last 3 FCs
    pretrained_a: str | None = Field(default=None, description="Net-A run or weights.")
    finetune: str | None = Field(default=None, description="Start from this net's run/weights.")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="Seed: same seed, same run.")
    max_steps: int | None = Field(default=None, ge=1, description="Stop after N steps.")  # throughput runs

    @model_validator(mode="after")
    def _schedule_fits(self) -> Recipe:
        """Increasing epochs from 1; a step at or past the last epoch waits for a resume that extends the run.
        Steps belong to the steps schedule, warm-up to the linear one, and warm-up ends before the last epoch."""
        s = self.lr_steps
        if list(s) != sorted(set(s)) or any(e < 1 for e in s):
            raise ArchspecError(f"lr steps {','.join(map(str, s))}: expected increasing epochs from 1")
        if (self.schedule is Schedule.steps) != bool(s):
            raise ArchspecError(
                f"schedule {self.schedule} with lr steps ({','.join(map(str, s)) or 'none'}): "
                "expected lr steps exactly with the steps schedule"
            )
        if self.warmup and (self.schedule is not Schedule.linear or self.warmup >= self.epochs):
            raise ArchspecError(
                f"warm-up {self.warmup:g} epochs with the {self.schedule} schedule over {self.epochs} epochs: "
                "expected warm-up only with the linear schedule, shorter than the run"
            )
        return self


class Launch(Node):
    """How `distributed.launch` runs a job: how many processes, whether on CUDA, and where a worker leaves its
    one-line error for the launching process."""

    devices: int = Field(default=1, ge=1, description="processes: GPUs on CUDA, CPU processes (gloo) otherwise")
    cuda: bool | None = Field(default=None, description="None: use CUDA when available")
    errors: str = Field(description="folder for a worker's one-line error")


class TrainConfig(Node):
    spec: str
    name: str | None = Field(default=None, description="The run's label (bench: the entry id).")  # default: spec/S
    model: Overrides = Field(default=Overrides(), description="width and batch norm (classes and input: the data's)")
    data: DataConfig = DataConfig()
    recipe: Recipe = Recipe()
    out: str = "runs/run"
    backend: Backend = Field(default=Backend.auto, description=BACKEND_HELP)
    devices: int = Launch.model_fields["devices"]
    cuda: bool | None = Launch.model_fields["cuda"]
    progress: bool = True
    resume: bool = False
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads (default: torch's own; 1 on a busy machine)."
    )
    checkpoint_minutes: float | None = Field(default=10.0, gt=0, description="step checkpoint every N minutes")
    checkpoint_steps: int | None = Field(default=None, ge=1, description="step checkpoint every N steps (wins)")

    @model_validator(mode="before")
    @classmethod
    def _flat_overrides(cls, data: Any) -> Any:
        """run.json files written before `model` held the overrides had `width` and `batch_norm` at the top."""
        if isinstance(data, dict) and ("width" in data or "batch_norm" in data):
            data = dict(data)
            old = {k: data.pop(k) for k in ("width", "batch_norm") if k in data}
            data["model"] = {**dict(data.get("model") or {}), **{k: v for k, v in old.items() if v is not None}}
        return data

    def network(self, classes: int, channels: int, input: tuple[int, int] | None = None, spec: str | None = None):
        """The network this config trains: its spec (or `spec`) for the data's classes and channels, at the crop (or
        `input`, height and width), with the model overrides: the one place a config becomes an IR."""
        height, width = input or (self.data.crop_size, self.data.crop_size)
        size = f"{height}x{width}x{channels}"
        model = self.model.model_dump(include={"width", "batch_norm"})
        return network(spec or self.spec, num_classes=classes, input=size, **model)

    @property
    def launch(self) -> Launch:
        return Launch(devices=self.devices, cuda=self.cuda, errors=self.out)

    @model_validator(mode="after")
    def _batch_splits(self) -> TrainConfig:
        if self.recipe.batch % self.devices:
            raise ArchspecError(
                f"batch {self.recipe.batch} does not split over {self.devices} processes; expected a multiple"
            )
        return self


# `archspec train --FLAG` -> the field it sets; the option's type, default and help are the field's (a `--no-` flag
# sets a flag field to False).
OPTIONS = {
    "--name": "name",
    "--data": "data.source",
    "--data-root": "data.root",
    "--epochs": "recipe.epochs",
    "--batch": "recipe.batch",
    "--lr": "recipe.lr",
    "--momentum": "recipe.momentum",
    "--weight-decay": "recipe.weight_decay",
    "--dropout": "recipe.dropout",
    "--patience": "recipe.patience",
    "--schedule": "recipe.schedule",
    "--lr-steps": "recipe.lr_steps",
    "--warmup": "recipe.warmup",
    "--init": "recipe.init",
    "--init-std": "recipe.init_std",
    "--label-smoothing": "recipe.label_smoothing",
    "--precision": "recipe.precision",
    "--pretrained-a": "recipe.pretrained_a",
    "--finetune": "recipe.finetune",
    "--scale": "data.scale",
    "--crop": "data.crop",
    "--pad": "data.pad",
    "--no-flip": "data.flip",
    "--pca": "data.pca_std",
    "--workers": "data.workers",
    "--holdout": "data.holdout",
    "--seed": "recipe.seed",
    "--max-steps": "recipe.max_steps",
    "--backend": "backend",
}
MACHINE_DEFAULTS = {"--workers"}  # defaults that follow the machine (its cores): `to_options` leaves them out
# options that other commands share, so written with the CLI's other options: the fields they set
SHARED = {"--out": "out", "--threads": "threads", "--width": "model.width", "--bn": "model.batch_norm"}
# what a suite's `[[train]]` entry may set for its own net over the suite's recipe: its fields, bounds and help
ENTRY_OPTIONS = ("--epochs", "--lr", "--init", "--init-std", "--lr-steps", "--crop", "--width", "--bn")
# what `archspec train --resume` may change: how long the run goes on, and where and how it runs (the CLI's launch
# options); every other option would change the recipe mid-run
RESUME_OPTIONS = ("--epochs", "--gpus", "--nproc", "--workers", "--threads", "--checkpoint-every")


def option_name(flag: str) -> str:
    """The parameter an option arrives as: `--lr-steps` -> `lr_steps`."""
    return flag.removeprefix("--").replace("-", "_")


def option_field(flag: str):
    """The pydantic field behind an `OPTIONS` or `SHARED` flag."""
    model, *path = (TrainConfig, *(OPTIONS | SHARED)[flag].split("."))
    for part in path[:-1]:
        model = model.model_fields[part].annotation
    return model.model_fields[path[-1]]


def option_key(flag: str) -> str:
    """The config key an option sets, as suite files and reports name it: `--bn` -> `batch_norm`."""
    return (OPTIONS | SHARED)[flag].rsplit(".", 1)[-1]


def unset_fields(flags) -> dict[str, tuple[Any, Any]]:
    """{key: (type, field)} for `pydantic.create_model`: each option's field with its bounds and help, optional and
    unset by default (a suite entry's own setting, else the suite's)."""
    out = {}
    for flag in flags:
        field = option_field(flag)
        unset = FieldInfo.merge_field_infos(
            field, default=None, description=f"{field.description} Default: the suite's."
        )
        out[option_key(flag)] = (field.annotation | None, unset)
    return out


def from_options(spec: str, given: dict[str, Any], devices: int = 1, cuda: bool | None = None) -> TrainConfig:
    """`archspec train SPEC`: the config from the options the user gave (by parameter name, as `option_name`);
    every other field keeps its default."""
    parts: dict[str, dict[str, Any]] = {"data": {}, "recipe": {}, "model": {}, "": {}}
    for flag, path in (OPTIONS | SHARED).items():
        if (name := option_name(flag)) in given:
            part, _, key = path.rpartition(".")
            parts[part][key] = not given[name] if flag.startswith("--no-") else given[name]
    if "checkpoint_every" in given:
        parts[""]["checkpoint_minutes"], parts[""]["checkpoint_steps"] = parse_every(given["checkpoint_every"])
    parts[""].setdefault("out", f"runs/{Path(spec).stem if Path(spec).suffix else spec}")
    data, recipe, model = DataConfig(**parts["data"]), Recipe(**parts["recipe"]), Overrides(**parts["model"])
    return TrainConfig(spec=spec, model=model, data=data, recipe=recipe, devices=devices, cuda=cuda, **parts[""])


def to_options(cfg: TrainConfig) -> list[str]:
    """The inverse of `from_options`: the `archspec train` options (after the spec) that give `cfg` back, every
    field of `OPTIONS` and `SHARED` written out whatever its default, so a command line records the whole recipe
    (a flag where it is set, a `--no-` flag where its field is off). What the Slurm scripts run."""
    args: list[str] = []
    for flag, path in (OPTIONS | SHARED).items():
        value: Any = cfg
        for part in path.split("."):
            value = getattr(value, part)
        if flag in MACHINE_DEFAULTS and value == option_field(flag).default:
            continue  # the machine that runs the command picks its own
        if isinstance(value, bool):
            args += [flag] if value != flag.startswith("--no-") else []
        elif value is not None and value != ():
            args += [flag, _text(path, value)]
    return args + ["--checkpoint-every", every_text(cfg.checkpoint_minutes, cfg.checkpoint_steps)]


def every_text(minutes: float | None, steps: int | None) -> str:
    """The inverse of `parse_every`: steps win, as in training."""
    return str(steps) if steps else f"{minutes:g}m"


def _text(path: str, value: Any) -> str:
    if path == "data.scale":
        return f"{value[0]}:{value[1]}"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return repr(value)
    return str(value.value if hasattr(value, "value") else value)
