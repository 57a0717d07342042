"""The registry of shipped specs: the paper's Table 1 columns, Sec. 4.1's B-conv5, and what came next.

Specs are package data: the repository's `specs/` folder, installed as
`archspec/specs/` by a wheel (an editable install reads the checkout's folder).
torchvision's names resolve too: `vgg11` is A, `vgg13` B, `vgg16` D, `vgg19` E,
and a `_bn` suffix asks for the batch-normalised variant.
"""

from __future__ import annotations

from pathlib import Path

PAPER = ("A", "A-LRN", "B", "C", "D", "E", "B-conv5")
# torchvision's ResNets (stride on the 3x3 of a bottleneck), the ResNet paper's v1 (stride on the first 1x1),
# torchvision's single-tower AlexNet, its GoogLeNet without auxiliary heads, and the ResNet paper's plain
# baselines (ResNet-18/34 without shortcuts, Sec. 4.1).
BEYOND = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50-v1",
    "resnet101-v1",
    "resnet152-v1",
    "alexnet",
    "googlenet",
    "plain18",
    "plain34",
)
# The ResNet paper's CIFAR-10 nets (Sec. 4.2, Table 6): 6n+2 layers on 32x32 inputs, option-A shortcuts, and
# their plain counterparts (Fig. 6).
CIFAR = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain20", "plain32", "plain44", "plain56")
TORCHVISION = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def names() -> tuple[str, ...]:
    """Every shipped spec: Table 1 order, then the nets that came after, then the ResNet paper's CIFAR nets."""
    return PAPER + BEYOND + CIFAR


def spec_dir() -> Path:
    installed = Path(__file__).parent / "specs"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "specs"


def spec_path(name: str) -> Path:
    return spec_dir() / f"{name}.txt"


def lookup(name: str) -> tuple[Path, bool] | None:
    """`D` -> (path of D.txt, False); `vgg16_bn` -> (path of D.txt, True); unknown -> None."""
    bn = name.lower().endswith("_bn")
    base = name[:-3] if bn else name
    spec = TORCHVISION.get(base.lower()) or next((n for n in names() if n.lower() == base.lower()), None)
    return (spec_path(spec), bn) if spec else None
