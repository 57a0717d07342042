"""The option choices shared by the CLI, the compiler, training and bench: one enum each, no torch import."""

from __future__ import annotations

from enum import Enum


class _Choice(str, Enum):
    def __str__(self) -> str:  # the value, as the option is written: `torch`, not `Backend.torch`
        return self.value


class Backend(_Choice):
    """Which compiler builds the module: torch layers, fused Triton kernels, or triton on CUDA and torch elsewhere."""

    torch = "torch"
    triton = "triton"
    auto = "auto"


class Init(_Choice):
    """Weight initialisation (Sec. 3.1): N(0, std), Glorot uniform, or torchvision's (Kaiming convs)."""

    normal = "normal"
    glorot = "glorot"
    torchvision = "torchvision"


class Schedule(_Choice):
    """How lr falls (Sec. 3.1): / 10 on validation plateaus (the paper's), / 10 after fixed epochs, or linearly
    to zero by the last step (for short budgets)."""

    plateau = "plateau"
    steps = "steps"
    linear = "linear"


class Precision(_Choice):
    """Arithmetic of the forward and backward passes: fp32 throughout, or bf16 autocast (convs and matmuls in
    bfloat16, weights, batch-norm statistics and the loss in fp32). auto: bf16 on CUDA and on a CPU with bf16 units
    (AMX or AVX512-BF16, as torch detects them), fp32 on any other CPU, where bf16 is emulated."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Weights(_Choice):
    """Which weights of a run: its final ones (the paper's end point), or the best on its held-out split."""

    final = "final"
    best = "best"


BACKEND_HELP = f"{' | '.join(Backend)} (auto: triton on CUDA, torch elsewhere)."  # `compile` and `train`
