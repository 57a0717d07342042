"""What `archspec compile` prints: one row per IR node with the torch module built for it, and every module
without a spec token (torchvision's `avgpool` of a flat net), each once, in the module's order.

Parameters are counted on the built module (not the IR), so the table doubles as
a check that the compiler built what the analysis counted.
"""

from __future__ import annotations

from torch import nn

from archspec.ir import dims_text, walk, where
from archspec.views import classifier_start

from .eager import Net
from .layout import module_paths

_NO_MODULE = {"softmax": "(loss)", "residual": "(add)", "concat": "(concat)"}


def _row(name: str, module: nn.Module | None, spec: str, out_shape: str) -> dict:
    return {
        "module": name,
        "op": type(module).__name__ if module is not None else spec.split(" @")[0],
        "spec": spec,
        "out_shape": out_shape,
        "params": sum(p.numel() for p in module.parameters()) if module is not None else 0,
    }


def module_rows(model: Net) -> list[dict]:
    nodes, paths, stats = list(walk(model.net.layers)), module_paths(model.net), model.stats.layers
    named = dict(model.named_modules())
    rows, seen = [], set()
    for node, path, s in zip(nodes, paths, stats, strict=True):
        if node.kind == "stage" or (path is not None and path in seen):
            continue  # a stage is its blocks; a shared module (a block's relu) is listed once
        if path is None and node.kind not in _NO_MODULE:
            name, module = "(functional)", None  # GoogLeNet's ReLU inside BasicConv2d
        else:
            name, module = (path, named[path]) if path is not None else (_NO_MODULE[node.kind], None)
        seen.add(path)
        rows.append(_row(name, module, where(node), dims_text(s.out_shape)))
    if not model.net.flat:
        return rows
    cut = classifier_start(model.net.layers)
    last = dims_text(stats[cut - 1].out_shape) if cut else ""
    extra = [_row("avgpool", model.avgpool, "(torchvision layout; no spec token)", last)]
    return rows[:cut] + extra + rows[cut:]  # every module once, in state_dict order
