"""Weight initialisation (Sec. 3.1) and pre-initialisation from a trained net A.

- `normal`: N(0, std) for conv and FC weights, zero biases. The paper says
  "variance 10^-2", which read literally is std 0.1; Caffe's VGG model files and
  most reimplementations use std 0.01. The default is 0.01 (`--init-std` sets it).
- `glorot`: Glorot & Bengio (2010) uniform, which the authors note works without
  pre-training.
- `torchvision`: Kaiming-normal convs, N(0, 0.01) FCs (what `archspec.compile` gives).
- Pre-initialisation: net A's first four conv layers (conv1, conv2, conv3_1,
  conv3_2) are copied onto the deeper net's convs at the same block and the
  same position in the block (for D: conv1_1, conv2_1, conv3_1, conv3_2), and
  A's three FC layers onto the last three FCs, each where shapes match;
  everything else stays random (blocks are the runs of convs between max-pools).
"""

from __future__ import annotations

from torch import nn

from archspec.compiler.eager import init_weights
from archspec.compiler.layout import module_paths
from archspec.errors import ArchspecError
from archspec.ir import FC, Conv, MaxPool, Network


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
            if m.bias is not None:  # convs before batch norm have none
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def conv_slots(net: Network) -> dict[tuple[int, int], str]:
    """(block, position in block) -> module name of each conv, in torchvision's layout."""
    slots, block, pos = {}, 0, 0
    for layer, path in zip(net.layers, module_paths(net), strict=True):
        if isinstance(layer, MaxPool):
            block, pos = block + 1, 0
        elif isinstance(layer, Conv):
            slots[(block, pos)] = path
            pos += 1
    return slots


def fc_names(net: Network) -> list[str]:
    return [path for layer, path in zip(net.layers, module_paths(net), strict=True) if isinstance(layer, FC)]


def check_plain(net: Network) -> None:
    """Pre-initialisation from net A is for the plain nets of Table 1."""
    if not net.flat:
        raise ArchspecError(
            f"{net.name}: has residual blocks or branches; expected plain nets for pre-initialisation from "
            "net A (Sec. 3.1): train it from random initialisation (torchvision init) instead"
        )


def preinit_from_a(model: nn.Module, state_a: dict, net_a: Network) -> list[tuple[str, str]]:
    """Copy net A's first 4 convs and last 3 FCs onto `model` where shapes match; returns (from, to) pairs.
    Both nets are flat (Sec. 3.1 is about the plain nets of Table 1)."""
    check_plain(model.net)
    check_plain(net_a)
    target = conv_slots(model.net)
    pairs = [(name, target[slot]) for slot, name in list(conv_slots(net_a).items())[:4] if slot in target]
    pairs += list(zip(fc_names(net_a)[-3:], fc_names(model.net)[-3:], strict=False))
    own = model.state_dict()
    copied = []
    for src, dst in pairs:
        if all(
            f"{src}.{p}" in state_a and state_a[f"{src}.{p}"].shape == own[f"{dst}.{p}"].shape
            for p in ("weight", "bias")
        ):
            for p in ("weight", "bias"):
                own[f"{dst}.{p}"].copy_(state_a[f"{src}.{p}"])
            copied.append((src, dst))
    return copied
