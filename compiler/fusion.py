"""The fusion pass: group IR nodes into kernel launches for the Triton backend.

Fusion is a table: each layer kind lists its patterns in `archspec.ir` (`fusion`,
tried in order where a sequence has that kind), e.g. for a conv:
  conv, relu, maxpool(2x2/2)  -> conv_bias_relu_pool   (one Triton kernel)
  conv, bn  at a block's end  -> conv_bn_add_relu      (conv + folded BN + residual add + ReLU)
  conv, bn, relu              -> conv_bn_relu          (conv + folded BN + ReLU)
  conv, bn                    -> conv_bn               (a projection shortcut)
  conv, relu / conv           -> conv_bias_relu / conv_bias (any stride, padding below the kernel)
  fc, relu / fc               -> linear_bias_relu / linear_bias (Triton GEMM)
  lrn                         -> lrn                   (Triton)
A node no pattern starts at runs as its torch module (impl "torch"); groups add
torch steps for a residual add a kernel did not absorb (`add_relu`) and for a
concatenation. Batch norm folds into the conv only in eval mode: in training it
needs the batch's statistics, so the conv runs in Triton and the batch norm, ReLU
and add in torch; `training` in each row says so. Soft-max is no launch: the model
returns logits. Steps are in execution order (a block's shortcut before its body).
Kernel `layers` are node indices in `ir.walk` order (the layer index, for a flat
net). The pass is pure: it reads the IR and imports no torch.
"""

from __future__ import annotations

from typing import Literal

from archspec.ir import Network, Node, Numbered, numbered, walk, where


class Kernel(Node):
    op: str
    impl: Literal["triton", "torch"]
    layers: tuple[int, ...]  # node indices in ir.walk order
    training: str = "same"  # what runs where in training mode, when it differs

    def spec(self, net: Network) -> list[str]:
        nodes = list(walk(net.layers))
        return [where(nodes[i]) for i in self.layers]


def _match(items: Numbered, i: int, tail: int | None) -> Kernel | None:
    layer = items[i][0]
    for pattern in layer.fusion:
        ahead = items[i + 1 : i + 1 + len(pattern.follow)]
        if len(ahead) < len(pattern.follow) or not pattern.when(layer):
            continue
        if any(
            node_children or not ok(node) for (node, _, node_children), ok in zip(ahead, pattern.follow, strict=True)
        ):
            continue
        if pattern.tail and (tail is None or i + len(pattern.follow) != len(items) - 1):
            continue
        layers = tuple(idx for _, idx, _ in items[i : i + 1 + len(pattern.follow)]) + ((tail,) if pattern.tail else ())
        training = "conv Triton; BN (batch statistics) and the rest torch" if "_bn" in pattern.op else "same"
        return Kernel(op=pattern.op, impl="triton", layers=layers, training=training)
    return None


def _launches(items: Numbered, tail: int | None = None) -> list[Kernel]:
    steps: list[Kernel] = []
    i = 0
    while i < len(items):
        layer, idx, subs = items[i]
        i += 1
        if subs:  # a group: its children in the kind's order, then the torch step that joins them
            planned = {k: _launches(subs[k], tail=idx if k == 0 and layer.tail_join else None) for k in layer.order()}
            steps += [step for k in layer.order() for step in planned[k]]
            if layer.join_op and not any(idx in step.layers for step in planned[0]):  # no kernel joined them
                steps.append(Kernel(op=layer.join_op, impl="torch", layers=(idx,)))
        elif (kernel := _match(items, i - 1, tail)) is not None:
            steps.append(kernel)
            i += len(kernel.layers) - 1 - (kernel.layers[-1] == tail and tail is not None)
        elif layer.compiled:
            steps.append(Kernel(op=layer.kind, impl="torch", layers=(idx,)))
    return steps


def launches(net: Network) -> tuple[Kernel, ...]:
    return tuple(_launches(numbered(net.layers)))


def launch_rows(net: Network) -> list[dict]:
    """The launches as rows: one per kernel launch, with the spec layers it covers and what runs where in training."""
    return [
        {"kernel": k, "op": step.op, "impl": step.impl, "layers": step.spec(net), "training": step.training}
        for k, step in enumerate(launches(net))
    ]
