"""Channels-last memory for a built net, with the one CPU convolution that oneDNN gets wrong routed around.

Channels-last is faster for cuDNN and oneDNN alike (about 1.3x for A and 1.5x for D on two AVX2 cores; issue 35's
table). But torch 2.13.0+cpu's oneDNN corrupts the heap in the backward of a 1x1 convolution with stride 2 in
channels-last memory when it has fewer input channels than its channel block (8 on AVX2): `free(): invalid size`
with one thread, wrong weight gradients (6-15 of 200 random shapes) or a hang with two. Upstream:
uxlfoundation/oneDNN issue 6035, "1x1 convolution backward_weights writes past the rtus workspace (nhwc,
IC < ic_block)". Every strided shortcut of a narrow ResNet is such a convolution.

So on a CPU each 1x1 convolution with a stride above 1 keeps its weight and reads its input in contiguous (NCHW)
memory, and hands its output back in channels-last: two copies of one small map per shortcut, where running the
whole net contiguous costs more: a training step ran 1.59x faster for ResNet-18 and 1.14x for D at width 1/8 routed
than all-NCHW (`benchmarks/test_bench_memory_format.py`, benchmarks/results/memory-format-amd-epyc.json). Measured on an
AMD EPYC (AVX2, FMA): 3x3 convolutions at stride 1 and 2, and 1x1 at stride 1, agree with contiguous memory in
200 of 200 shapes each.
"""

from __future__ import annotations

import torch
from torch import nn


def channels_last(model: nn.Module, device: torch.device | str) -> nn.Module:
    """`model` on `device` in channels-last memory; on a CPU, its strided 1x1 convolutions routed to NCHW."""
    model = model.to(device, memory_format=torch.channels_last)
    if torch.device(device).type == "cpu":
        for conv in routed_convs(model):
            # A 1x1 weight counts as contiguous either way, so `.contiguous()` keeps its channels-last strides, which
            # alone send the convolution down oneDNN's channels-last path: clone it to NCHW strides.
            conv.weight.data = conv.weight.data.clone(memory_format=torch.contiguous_format)
            if not getattr(conv, "_archspec_nchw", False):  # once, however often the model is moved
                conv.register_forward_pre_hook(_nchw_input)
                conv.register_forward_hook(_channels_last_output)
                conv._archspec_nchw = True
    return model


def routed_convs(model: nn.Module) -> list[nn.Conv2d]:
    """The convolutions oneDNN's bug can reach: 1x1 kernels with a stride above 1 (see the module docstring)."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1]


def _nchw_input(conv: nn.Conv2d, args: tuple) -> tuple:
    x, *rest = args  # (N, C, H, W) in channels-last memory
    return (x.contiguous(), *rest)  # (N, C, H, W) in NCHW: oneDNN's reference-correct path


def _channels_last_output(conv: nn.Conv2d, args: tuple, y: torch.Tensor) -> torch.Tensor:
    return y.contiguous(memory_format=torch.channels_last)  # the rest of the net stays channels-last
