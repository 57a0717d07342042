"""The devices a suite can be planned for (devices.toml): peak FLOP/s per precision, memory, links, each figure
with its source."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import PositiveFloat, PositiveInt

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.ir import Node

DEVICES_FILE = Path(__file__).with_name("devices.toml")
GIB = 2**30


class Device(Node):
    title: str
    kind: Literal["gpu", "cpu"]
    peak_tflops: dict[str, PositiveFloat]
    memory_gib: PositiveFloat
    link_gbs: PositiveFloat
    node: PositiveInt
    network_gbs: PositiveFloat
    source: str

    def peak(self, precision: Precision) -> tuple[float, str]:
        """(FLOP/s, the precision it is for): bf16 where the device has bf16 units, else fp32."""
        key = "bf16" if precision is Precision.bf16 and "bf16" in self.peak_tflops else "fp32"
        return self.peak_tflops[key] * 1e12, key

    def bandwidth(self, devices: int) -> float:
        """Bytes/s of the ring between `devices` devices: the link within a node, the network across nodes."""
        gbs = self.link_gbs if devices <= self.node else min(self.link_gbs, self.network_gbs)
        return gbs * 1e9


@cache
def devices() -> dict[str, Device]:
    raw = tomllib.loads(DEVICES_FILE.read_text(encoding="utf-8"))
    return {name: Device.model_validate(d) for name, d in raw.items()}


def device(name: str) -> Device:
    if name not in devices():
        raise ArchspecError(f"--device {name!r}: not in {DEVICES_FILE.name}; expected one of {', '.join(devices())}")
    return devices()[name]
