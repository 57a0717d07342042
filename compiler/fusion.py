"""The fusion pass: group IR layers into kernel launches for the Triton backend.

Patterns, in order of preference at each position:
  conv, relu, maxpool(2x2/2)  -> conv_bias_relu_pool   (one Triton kernel)
  conv, relu                  -> conv_bias_relu        (one Triton kernel)
  conv (e.g. before BN)       -> conv_bias             (Triton, no ReLU)
  fc, relu / fc               -> linear_bias_relu / linear_bias (Triton GEMM)
  lrn                         -> lrn                   (Triton)
Everything else (batch norm, a max-pool that follows no conv+ReLU, dropout, ReLU
after BN) runs as the torch module of that layer. Soft-max is no launch: the
model returns logits. Convs that are not stride-1 "same" with an odd kernel fall
back to torch. The pass is pure: it reads the IR and imports no torch.
"""

from __future__ import annotations

from typing import Literal

from archspec.ir import FC, LRN, Conv, Layer, MaxPool, Network, Node, ReLU, Softmax


class Kernel(Node):
    op: str
    impl: Literal["triton", "torch"]
    layers: tuple[int, ...]  # indices into Network.layers

    def spec(self, net: Network) -> list[str]:
        return [_where(net.layers[i]) for i in self.layers]


def _where(layer: Layer) -> str:
    return f"{layer.label} @{layer.src.line}:{layer.src.col}" if layer.src else layer.label


def _fusable_conv(layer: Layer) -> bool:
    return isinstance(layer, Conv) and layer.stride == 1 and layer.padding == -1 and layer.kernel % 2 == 1


def _pool2(layer: Layer | None) -> bool:
    return isinstance(layer, MaxPool) and layer.kernel == 2 and layer.stride == 2


def plan(net: Network) -> tuple[Kernel, ...]:
    layers = list(net.layers) + [None, None]  # lookahead padding
    steps, i = [], 0
    while i < len(net.layers):
        layer, nxt, nxt2 = layers[i], layers[i + 1], layers[i + 2]
        if _fusable_conv(layer) and isinstance(nxt, ReLU) and _pool2(nxt2):
            steps.append(Kernel(op="conv_bias_relu_pool", impl="triton", layers=(i, i + 1, i + 2)))
        elif _fusable_conv(layer) and isinstance(nxt, ReLU):
            steps.append(Kernel(op="conv_bias_relu", impl="triton", layers=(i, i + 1)))
        elif _fusable_conv(layer):
            steps.append(Kernel(op="conv_bias", impl="triton", layers=(i,)))
        elif isinstance(layer, FC) and isinstance(nxt, ReLU):
            steps.append(Kernel(op="linear_bias_relu", impl="triton", layers=(i, i + 1)))
        elif isinstance(layer, FC):
            steps.append(Kernel(op="linear_bias", impl="triton", layers=(i,)))
        elif isinstance(layer, LRN):
            steps.append(Kernel(op="lrn", impl="triton", layers=(i,)))
        elif not isinstance(layer, Softmax):
            steps.append(Kernel(op=layer.kind, impl="torch", layers=(i,)))
        i += len(steps[-1].layers) if steps and steps[-1].layers[0] == i else 1
    return tuple(steps)


def plan_rows(net: Network) -> list[dict]:
    """The plan as rows: one per kernel launch, with the spec layers it covers."""
    return [
        {"kernel": k, "op": step.op, "impl": step.impl, "layers": step.spec(net)} for k, step in enumerate(plan(net))
    ]
