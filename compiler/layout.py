"""Module names in torchvision's layout of each family: what makes torchvision's checkpoints load strictly.

`module_paths(net)` gives every IR node (in `ir.walk` order) the dotted path of its
module: `features.N` / `classifier.N` for a flat net (VGG, AlexNet), `conv1`,
`layer1.0.downsample.0`, `fc` for a net with residual stages (ResNet),
`conv1.conv`, `inception3a.branch2.1.conv` for a net with concatenations (GoogLeNet).
Pure naming: it reads the IR and imports no torch.
"""

from __future__ import annotations

from archspec.ir import BatchNorm, Concat, Conv, Layer, MaxPool, Network, ReLU, Residual, Softmax, Stage
from archspec.views import classifier_start


def _flat_paths(layers: tuple[Layer, ...]) -> list[str | None]:
    cut = classifier_start(layers)
    return [
        None if isinstance(layer, Softmax) else f"features.{i}" if i < cut else f"classifier.{i - cut}"
        for i, layer in enumerate(layers)
    ]


def _named(layers: tuple[Layer, ...], always: tuple[str, ...]) -> list[str]:
    """Top-level names as torchvision writes them: the kind, numbered when there are several (or always, for
    the kinds in `always`): conv1, bn1, relu, maxpool, avgpool, fc."""
    names = {"batchnorm": "bn", "avgpool_global": "avgpool"}
    totals: dict[str, int] = {}
    for layer in layers:
        totals[layer.kind] = totals.get(layer.kind, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for layer in layers:
        seen[layer.kind] = seen.get(layer.kind, 0) + 1
        base = names.get(layer.kind, layer.kind)
        out.append(f"{base}{seen[layer.kind]}" if layer.kind in always or totals[layer.kind] > 1 else base)
    return out


def _block_paths(block: Residual, prefix: str) -> list[str | None]:
    """torchvision's BasicBlock / Bottleneck: conv1, bn1, ..., one shared `relu`, `downsample.0|1`."""
    body = [
        f"{prefix}.{n}" if layer.kind != "relu" else f"{prefix}.relu"
        for layer, n in zip(block.body, _named(block.body, ("conv", "batchnorm")), strict=True)
    ]
    short = [f"{prefix}.downsample.{i}" for i in range(len(block.shortcut))]
    return body + short + [None]


def _resnet_paths(layers: tuple[Layer, ...]) -> list[str | None]:
    out: list[str | None] = []
    stage = 0
    for layer, name in zip(layers, _named(layers, ("conv", "batchnorm")), strict=True):
        if isinstance(layer, Stage):
            stage += 1
            for j, block in enumerate(layer.blocks):
                out += _block_paths(block, f"layer{stage}.{j}")
            out.append(None)
        else:
            out.append(None if isinstance(layer, Softmax) else name)
    return out


def _units(seq: tuple[Layer, ...]) -> list[list[Layer]]:
    """GoogLeNet's BasicConv2d units: a conv with the batch norm and ReLU after it; anything else alone."""
    units: list[list[Layer]] = []
    for layer in seq:
        if units and isinstance(units[-1][0], Conv) and isinstance(layer, (BatchNorm, ReLU)):
            units[-1].append(layer)
        else:
            units.append([layer])
    return units


def _unit_paths(unit: list[Layer], prefix: str) -> list[str | None]:
    if not isinstance(unit[0], Conv):
        return [prefix]
    return [
        f"{prefix}.conv" if isinstance(u, Conv) else f"{prefix}.bn" if isinstance(u, BatchNorm) else None for u in unit
    ]


def _inception_paths(layers: tuple[Layer, ...]) -> list[str | None]:
    """torchvision's GoogLeNet: conv1..3 and maxpool1..4 numbered, `inception3a` ... named by the stage (one
    more than the max-pools before it) and a letter, `branch1..4`, then avgpool, dropout, fc."""
    out: list[str | None] = []
    pools, stage, letter = 0, 0, 0
    units = _units(layers)
    tops = _named(tuple(u[0] for u in units), ("conv", "maxpool"))
    for unit, name in zip(units, tops, strict=True):
        head = unit[0]
        if isinstance(head, Concat):
            letter = letter + 1 if pools + 1 == stage else 1
            stage = pools + 1
            prefix = f"inception{stage}{'abcdefghijklmnopqrstuvwxyz'[letter - 1]}"
            for j, branch in enumerate(head.branches, 1):
                parts = _units(branch)
                for u, part in enumerate(parts):
                    out += _unit_paths(part, f"{prefix}.branch{j}" if len(parts) == 1 else f"{prefix}.branch{j}.{u}")
            out.append(None)
            continue
        pools += isinstance(head, MaxPool)
        out += [None] if isinstance(head, Softmax) else _unit_paths(unit, name)
    return out


def module_paths(net: Network) -> list[str | None]:
    """Each node's module path in torchvision's layout for its family, in `walk` order; None for a node with no
    module of its own (soft-max, a residual add, a concatenation, GoogLeNet's functional ReLU).

    Families: flat nets (VGG, AlexNet) `features.N` / `classifier.N`; nets with residual stages (ResNet)
    `conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, `fc`; nets with concatenations (GoogLeNet)
    `conv1.conv`, `inception3a.branch2.1.conv`, `fc`.
    """
    if any(isinstance(layer, Stage) for layer in net.layers):
        return _resnet_paths(net.layers)
    if any(isinstance(layer, Concat) for layer in net.layers):
        return _inception_paths(net.layers)
    return _flat_paths(net.layers)
