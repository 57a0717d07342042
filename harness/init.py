"""Weight initialisation (Sec. 3.1) and pre-initialisation from a trained net A.

- `normal`: N(0, std) for conv and FC weights, zero biases. The paper says
  "variance 10^-2", which read literally is std 0.1; Caffe's VGG model files and
  most reimplementations use std 0.01. The default is 0.01 (`--init-std` sets it).
- `glorot`: Glorot & Bengio (2010) uniform, which the authors note works without
  pre-training.
- `torchvision`: Kaiming-normal convs, N(0, 0.01) FCs (what `archspec.compile` gives).
- Pre-initialisation: the first four conv layers and the last three FC layers
  of net A are copied, in order, onto the first four convs and last three FCs
  of the deeper net, each where shapes match; everything else stays random.
"""

from __future__ import annotations

from torch import nn

from archspec.compiler.eager import init_weights


def initialise(model: nn.Module, scheme: str, std: float = 0.01) -> None:
    if scheme == "torchvision":
        init_weights(model)
        return
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "glorot":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _weight_layers(model: nn.Module, kind: type) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, kind)]


def preinit_from_a(model: nn.Module, state_a: dict) -> list[tuple[str, str]]:
    """Copy net A's first 4 convs and last 3 FCs onto `model` where shapes match; returns (from, to) pairs."""
    convs_a = sorted({k.rsplit(".", 1)[0] for k, v in state_a.items() if k.endswith("weight") and v.dim() == 4},
                     key=_order)  # fmt: skip
    fcs_a = sorted({k.rsplit(".", 1)[0] for k, v in state_a.items() if k.endswith("weight") and v.dim() == 2},
                   key=_order)  # fmt: skip
    pairs = list(zip(convs_a[:4], _weight_layers(model, nn.Conv2d)[:4], strict=False))
    pairs += list(zip(fcs_a[-3:], _weight_layers(model, nn.Linear)[-3:], strict=False))
    own = model.state_dict()
    copied = []
    for src, dst in pairs:
        if all(f"{src}.{p}" in state_a and state_a[f"{src}.{p}"].shape == own[f"{dst}.{p}"].shape
               for p in ("weight", "bias")):  # fmt: skip
            for p in ("weight", "bias"):
                own[f"{dst}.{p}"].copy_(state_a[f"{src}.{p}"])
            copied.append((src, dst))
    return copied


def _order(name: str) -> tuple[int, int]:
    part, index = name.split(".")[:2]
    return (0 if part == "features" else 1, int(index))
