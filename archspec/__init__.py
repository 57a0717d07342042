"""archspec: VGG-paper networks from Table 1 text to counts, modules, training and evaluation.

import archspec
net = archspec.network("specs/D.txt")            # typed IR (no torch import)
stats = archspec.infer(net)                      # shapes, params, MACs per layer
model = archspec.compile("specs/D.txt")          # torch.nn.Module, torchvision layout
model = archspec.compile("vgg16_bn", num_classes=10, input="32x32x3")

Names only: each lives in its own module (`source`, `infer`, `compiler`, ...); the compiler's names load on
first use, so `import archspec` does not import torch.
"""

from __future__ import annotations

from importlib import import_module

from .errors import ArchspecError, SpecError
from .infer import NetworkStats, infer
from .ir import Layer, Network, register_kind, unregister_kind
from .passes import Overrides
from .source import network, resolve
from .spec import load, parse

__all__ = [
    "ArchspecError",
    "Layer",
    "SpecError",
    "Network",
    "NetworkStats",
    "Overrides",
    "compile",
    "compile_spec",
    "infer",
    "load",
    "network",
    "parse",
    "register_kind",
    "resolve",
    "unregister_kind",
]

_COMPILER = ("compile", "compile_spec")  # import torch: loaded when first asked for


def __getattr__(name: str):
    if name in _COMPILER:
        return getattr(import_module(".compiler", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
