"""The devices a suite can be planned for (devices.toml): peak FLOP/s per precision, memory, links, each figure
with its source; and `--device cpu`, this machine, whose peak is measured (`machine.py`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import PositiveFloat, PositiveInt, ValidationError, model_validator

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.ir import Node

DEVICES_FILE = Path(__file__).with_name("devices.toml")
GIB = 2**30
# each cites its source
FIGURES = ("peak_tflops", "memory_gib", "link_gbs", "node", "network_gbs", "cpus_per_node", "host_memory_gib")
MEASURED = "cpu"  # --device cpu: this machine, measured when the plan is made


class Device(Node):
    title: str
    kind: Literal["gpu", "cpu", "core"]  # core: one core of this machine; processes on several cores add up
    peak_tflops: dict[str, PositiveFloat]
    memory_gib: PositiveFloat
    link_gbs: PositiveFloat
    node: PositiveInt
    network_gbs: PositiveFloat
    cpus_per_node: PositiveInt  # a node's CPU cores: the Slurm scripts' loader workers are capped at a job's share
    host_memory_gib: PositiveFloat  # a node's host memory, likewise
    sources: dict[str, str]

    @model_validator(mode="after")
    def _every_figure_sourced(self) -> Device:
        missing = [f for f in FIGURES if not self.sources.get(f, "").strip()]
        if missing:
            raise ValueError(f"no source for {', '.join(missing)}; expected one under [<device>.sources]")
        return self

    @property
    def additive(self) -> bool:
        """Processes on N devices get N times one device's peak (GPUs, cores); a `cpu` device's processes split it."""
        return self.kind != "cpu"

    def peak(self, precision: Precision) -> tuple[float, str]:
        """(FLOP/s, the precision it is for): bf16 where the device has bf16 units, else fp32."""
        key = "bf16" if precision is Precision.bf16 and "bf16" in self.peak_tflops else "fp32"
        return self.peak_tflops[key] * 1e12, key

    def bandwidth(self, devices: int) -> float:
        """Bytes/s of the link between `devices` devices: the link within a node, the network across nodes."""
        gbs = self.link_gbs if devices <= self.node else min(self.link_gbs, self.network_gbs)
        return gbs * 1e9


@cache
def devices() -> dict[str, Device]:
    raw = tomllib.loads(DEVICES_FILE.read_text(encoding="utf-8"))
    out = {}
    for name, d in raw.items():
        try:
            out[name] = Device.model_validate(d)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise ArchspecError(f"{DEVICES_FILE}: [{name}]{' ' + where if where else ''}: {first['msg']}") from None
    return out


def device(name: str) -> Device:
    """A device of devices.toml (`--device cpu`, measured, is `machine.this_machine`)."""
    if name not in devices():
        names = ", ".join([*devices(), MEASURED])
        raise ArchspecError(f"--device {name!r}: not in {DEVICES_FILE.name}; expected one of {names}")
    return devices()[name]
