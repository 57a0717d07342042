"""The Triton backend: the eager modules, run through the fusion schedule.

`TritonNet` subclasses the eager `Net`, so parameters, initialisation and
`state_dict` are identical to the torch backend (torchvision checkpoints load the
same way); only the leaf step differs: each step of `fusion.launches(net)` is one Triton
kernel launch (an autograd Function) or the torch module of a node the schedule leaves
to torch. `LAUNCHERS` maps every Triton op of the
launch to its launcher; an op without one is an error when the model is built, never
a silent fallback. Batch norm folds into its conv's weights and bias in eval mode;
in training its batch statistics are computed by the torch module after a Triton
conv. Activations are channels-last throughout. Under autocast the compute dtype is
autocast's (weights are cast, differentiably, per call).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from archspec.errors import ArchspecError
from archspec.ir import Network

from . import ops
from .eager import Net
from .fusion import Kernel, launches


def _conv(model, step: Kernel, x: torch.Tensor, dtype, residual=None) -> torch.Tensor:
    """conv_bias(_relu), conv_bn(_relu), conv_bn_add_relu: one Triton conv, batch norm folded in eval mode."""
    conv = model.module_at(step.layers[0])
    stride, pad, relu = conv.stride[0], conv.padding[0], step.op.endswith("relu")
    bn = model.module_at(step.layers[1]) if "_bn" in step.op else None
    folded = bn if bn is not None and not bn.training else None
    weight, bias, packed = ops.conv_weights(conv, folded, dtype)
    if bn is None or folded is not None:
        return ops.Conv.apply(x, weight, bias, stride, pad, relu, residual, packed)
    y = bn(ops.Conv.apply(x, weight, bias, stride, pad, False, None, packed))  # batch statistics: BN in torch
    y = y + residual if residual is not None else y
    return F.relu(y) if relu else y


def _conv_pool(model, step: Kernel, x, dtype, residual=None) -> torch.Tensor:
    return ops.ConvBiasReLUPool.apply(x, *ops.conv_weights(model.module_at(step.layers[0]), None, dtype))


def _linear(model, step: Kernel, x, dtype, residual=None) -> torch.Tensor:
    fc = model.module_at(step.layers[0])
    return ops.LinearBiasReLU.apply(x, fc.weight.to(dtype), fc.bias.to(dtype), step.op == "linear_bias_relu")


def _lrn(model, step: Kernel, x, dtype, residual=None) -> torch.Tensor:
    lrn = model.node_at(step.layers[0])
    return ops.LocalResponseNorm.apply(x, lrn.size, lrn.torch_alpha / lrn.size, lrn.beta, lrn.k)


LAUNCHERS: dict[str, Callable[..., torch.Tensor]] = {
    "conv_bias_relu_pool": _conv_pool,
    "conv_bias_relu": _conv,
    "conv_bias": _conv,
    "conv_bn_relu": _conv,
    "conv_bn": _conv,
    "conv_bn_add_relu": _conv,
    "linear_bias_relu": _linear,
    "linear_bias": _linear,
    "lrn": _lrn,
}


def checked_launches(net: Network) -> tuple[Kernel, ...]:
    steps = launches(net)
    for step in steps:
        if step.impl == "triton" and step.op not in LAUNCHERS:
            raise ArchspecError(f"{net.name}: the fusion schedule's op {step.op!r} has no Triton launcher")
    return steps


def _dtype(x: torch.Tensor) -> torch.dtype:
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


class TritonNet(Net):
    """The eager net with its leaf step replaced: each leaf runs its launch (a Triton kernel launch, which may
    cover the next nodes, or the torch module of a node the schedule leaves to torch); groups join as in `Net`."""

    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self.launches = checked_launches(net)
        self._starts = {step.layers[0]: step for step in self.launches}
        self._fused_adds = {step.layers[-1] for step in self.launches if step.op == "conv_bn_add_relu"}

    def _joined_inside(self, group: int) -> bool:
        return group in self._fused_adds

    def _leaf(self, layer, i, x, dense, residual):
        step = self._starts.get(i)
        if dense or step is None:  # the dense form (evaluation only) runs eager; soft-max has no step
            return super()._leaf(layer, i, x, dense, residual)
        if i == self._head:
            x = torch.flatten(self.avgpool(x), 1)  # (N, C*H7*W7) in torchvision's C, H, W order
        elif isinstance(self.module_at(i), nn.Linear) and x.dim() > 2:
            x = torch.flatten(x, 1)  # (N, C*H*W)
        dtype = _dtype(x)
        residual = residual if step.op == "conv_bn_add_relu" else None
        if step.impl == "torch":
            return self.module_at(i)(x.to(dtype=dtype)), step.layers[1:]
        return LAUNCHERS[step.op](self, step, x.to(dtype=dtype), dtype, residual), step.layers[1:]

    def forward(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        """Logits through the launches; the dense form (`dense=True`, evaluation only) runs the eager net."""
        if not dense:
            x = x.to(dtype=_dtype(x), memory_format=torch.channels_last)
        return super().forward(x, dense)
