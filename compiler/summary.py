"""What `archspec compile` prints: one row per IR layer with the torch module built for it, and every module
without a spec token (torchvision's `avgpool`), each once, in the module's order.

Parameters are counted on the built module (not the IR), so the table doubles as
a check that the compiler built what the analysis counted.
"""

from __future__ import annotations

from torch import nn

from archspec.report import shape_text

from .eager import VGG, split


def module_rows(model: VGG) -> list[dict]:
    cut = split(model.net)
    features, classifier = list(model.features), list(model.classifier)  # indexing nn.Sequential is O(n)
    rows = []
    for i, (layer, s) in enumerate(zip(model.net.layers, model.stats.layers, strict=True)):
        if layer.kind == "softmax":
            name, module = "(loss)", None
        elif i < cut:
            name, module = f"features.{i}", features[i]
        else:
            name, module = f"classifier.{i - cut}", classifier[i - cut]
        rows.append(
            {
                "module": name,
                "op": type(module).__name__ if module is not None else "soft-max",
                "spec": f"{layer.label} @{layer.src.line}:{layer.src.col}" if layer.src else layer.label,
                "out_shape": shape_text(s.out_shape),
                "params": sum(p.numel() for p in module.parameters()) if isinstance(module, nn.Module) else 0,
            }
        )
    others = [(name, m) for name, m in model.named_children() if name not in ("features", "classifier")]
    last = shape_text(model.stats.layers[cut - 1].out_shape) if cut else ""
    extra = [
        {
            "module": name,
            "op": type(m).__name__,
            "spec": "(torchvision layout; no spec token)",
            "out_shape": last,
            "params": sum(p.numel() for p in m.parameters()),
        }
        for name, m in others
    ]
    return rows[:cut] + extra + rows[cut:]  # every module once, in state_dict order
