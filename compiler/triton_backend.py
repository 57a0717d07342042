"""The Triton backend: the eager `VGG` module, run through the fusion plan.

`TritonVGG` subclasses `VGG`, so parameters, initialisation and `state_dict`
are identical to the torch backend (torchvision checkpoints load the same way);
only `forward` differs: each step of `fusion.plan(net)` is one Triton kernel
launch (an autograd Function) or the torch module of a layer the plan leaves to
torch. Activations are channels-last throughout. Under autocast the
compute dtype is autocast's (weights are cast, differentiably, per call).
"""

from __future__ import annotations

import torch

from archspec.ir import Network

from . import ops
from .eager import VGG
from .fusion import Kernel, plan


class TritonVGG(VGG):
    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self.plan = plan(net)
        self._cut = len(self.features)

    def _module(self, i: int) -> torch.nn.Module:
        return self.features[i] if i < self._cut else self.classifier[i - self._cut]

    def _step(self, step: Kernel, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        first = self._module(step.layers[0])
        if step.impl == "torch":
            return first(x)
        if step.op == "lrn":
            lrn = self.net.layers[step.layers[0]]
            return ops.LocalResponseNorm.apply(x, lrn.size, lrn.torch_alpha / lrn.size, lrn.beta, lrn.k)
        w, b = first.weight.to(dtype), first.bias.to(dtype)
        if step.op == "conv_bias_relu_pool":
            return ops.ConvBiasReLUPool.apply(x, w, b)
        if step.op in ("conv_bias_relu", "conv_bias"):
            return ops.ConvBiasReLU.apply(x, w, b, step.op == "conv_bias_relu")
        return ops.LinearBiasReLU.apply(x, w, b, step.op == "linear_bias_relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
        x = x.to(dtype=dtype, memory_format=torch.channels_last)  # (N, C, H, W), channels-last
        flat = False
        for step in self.plan:
            if not flat and step.layers[0] >= self._cut:
                x = torch.flatten(self.avgpool(x), 1)  # (N, C*H7*W7) in torchvision's C, H, W order
                flat = True
            x = self._step(step, x, dtype)
        return x
