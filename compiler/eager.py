"""The eager backend: IR -> `nn.Module` from standard torch layers, in torchvision's layout.

Each IR node's own `torch` method (in `archspec.ir`) builds its torch layer; this
file only places the layers. `build(net)` gives:

- `VGG` for a flat net (VGG, AlexNet): `features` (everything before the classifier),
  `avgpool`, `classifier` (from the first FC, or the dropout written before it).
  Module indices equal torchvision's (`features.0.weight`, `classifier.0|3|6`), so
  torchvision's checkpoints load with `strict=True`. `avgpool` is `AdaptiveAvgPool2d`
  to the map size the spec has at its own input size (7x7 for VGG at 224x224, 6x6 for
  AlexNet): the identity there, torchvision's behaviour elsewhere.
- `GraphNet` for a net with groups (ResNet's stages, GoogLeNet's Inception modules):
  every node's module at the path `ir.module_paths` names (`layer1.0.downsample.0`,
  `inception3a.branch2.1.conv`), and a forward that walks the IR tree: a residual block
  adds its body and shortcut and applies ReLU, a concatenation joins its branches.

Soft-max is not a module: the model returns logits (the loss applies soft-max). The
paper's way to run a net on another size is the fully convolutional form:
`archspec.compiler.dense.to_dense`. For inference, `fold_batchnorm` folds a VGG's batch
norms into its convs.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from archspec.infer import NetworkStats, infer
from archspec.ir import Concat, Layer, Network, Numbered, Residual, numbered, walk

from .layout import classifier_start, module_paths


def split(net: Network) -> int:
    """Index of the first classifier layer (where `classifier` starts), or len(layers)."""
    return classifier_start(net.layers)


class VGG(nn.Module):
    """A compiled flat spec in torchvision's VGG layout. `net` and `stats` keep the IR it came from."""

    def __init__(self, net: Network, stats: NetworkStats | None = None) -> None:
        super().__init__()
        self.net, self.stats = net, stats or infer(net)
        cut = split(net)
        modules = [
            layer.torch(s.in_shape, nn)
            for layer, s in zip(net.layers, self.stats.layers, strict=True)
            if layer.kind != "softmax"
        ]
        self.features = nn.Sequential(*modules[:cut])
        if cut < len(net.layers):
            c, h, w = self.stats.layers[cut].in_shape
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d((h, w))
        else:
            self.avgpool = nn.Identity()  # no FC layer: the model returns the feature map
        self.classifier = nn.Sequential(*modules[cut:])
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, C, h, w)
        x = self.avgpool(x)  # (N, C, H7, W7): the map size at the spec's input size
        if len(self.classifier):
            x = torch.flatten(x, 1)  # (N, C*H7*W7)
            x = self.classifier(x)  # (N, classes): logits
        return x


class _Container(nn.Module):
    """A named level of torchvision's layout (a residual block, an Inception module, a BasicConv2d): it holds
    modules; `GraphNet` runs them."""

    def forward(self, x):  # pragma: no cover - never called: GraphNet walks the IR
        raise TypeError("run the enclosing GraphNet; its forward walks the IR")


def _place(root: nn.Module, path: str, module: nn.Module) -> None:
    """Register `module` at a dotted path, creating containers on the way (Sequential where children are
    numbered, as torchvision's `layer1` and `downsample`)."""
    *parents, name = path.split(".")
    node = root
    for i, part in enumerate(parents):
        child = (parents + [name])[i + 1]
        if part not in node._modules:
            node.add_module(part, nn.Sequential() if child.isdigit() else _Container())
        node = node._modules[part]
    node.add_module(name, module)


class GraphNet(nn.Module):
    """A compiled spec with residual blocks or branches, in torchvision's layout for its family."""

    def __init__(self, net: Network, stats: NetworkStats | None = None) -> None:
        super().__init__()
        self.net, self.stats = net, stats or infer(net)
        paths = module_paths(net)
        placed: dict[str, nn.Module] = {}
        modules: list[nn.Module | None] = []
        for node, path, s in zip(walk(net.layers), paths, self.stats.layers, strict=True):
            module = placed.get(path) if path else None
            if module is None and not node.children():
                module = node.torch(s.in_shape, nn)
                if path and module is not None:
                    _place(self, path, module)
                    placed[path] = module
                elif module is not None and any(True for _ in module.parameters()):
                    raise AssertionError(f"{node.label}: a module with parameters needs a path")
            modules.append(module)
        self._by_index = modules  # a plain list: the modules are registered at their paths
        self._nodes = list(walk(net.layers))
        self._tree = numbered(net.layers)
        init_weights(self)

    def module_at(self, i: int) -> nn.Module | None:
        """The module of the node with `ir.walk` index i (None for soft-max and groups)."""
        return self._by_index[i]

    def node_at(self, i: int) -> Layer:
        return self._nodes[i]

    def _adds_inside(self, block: int) -> bool:
        """Whether the body of residual block `block` adds its shortcut itself (a fused kernel does)."""
        return False

    def _leaf(self, layer: Layer, i: int, x: torch.Tensor, dense: bool, residual) -> tuple[torch.Tensor, tuple]:
        """Run leaf node i; returns the output and the indices of later nodes it also covered."""
        module = self.module_at(i)
        if module is None:
            return x, ()
        if layer.global_pool and dense:
            return x, ()  # dense: the FC layers score every position; evaluation averages the map
        if isinstance(module, nn.Linear) and x.dim() > 2:
            return (_linear_on_map(module, x), ()) if dense else (module(torch.flatten(x, 1)), ())  # (N, C*H*W)
        return module(x), ()

    def _seq(self, items: Numbered, x: torch.Tensor, dense: bool = False, residual=None) -> torch.Tensor:
        covered: set[int] = set()
        for layer, i, subs in items:
            if i in covered:
                continue
            if isinstance(layer, Residual):
                r = self._seq(subs[1], x, dense) if layer.shortcut else x
                y = self._seq(subs[0], x, dense, residual=r)  # a fused last kernel may add r itself
                x = y if self._adds_inside(i) else F.relu(y + r)
            elif isinstance(layer, Concat):
                x = torch.cat([self._seq(branch, x, dense) for branch in subs], 1)  # (N, sum of C, H, W)
            elif subs:  # a stage: its blocks
                x = self._seq(subs[0], x, dense)
            else:
                x, more = self._leaf(layer, i, x, dense, residual)
                covered.update(more)
        return x

    def forward(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        """Logits (N, classes); with `dense`, the class score map (N, classes, h, w) of the fully convolutional
        form (global pooling left out, each FC applied at every position)."""
        return self._seq(self._tree, x, dense)


def _linear_on_map(fc: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """An FC layer applied at every position of a map whose channels are its inputs (a 1x1 conv)."""
    return F.conv2d(x, fc.weight[:, :, None, None], fc.bias)  # (N, out, H, W)


def init_weights(model: nn.Module) -> None:
    """torchvision's VGG initialisation (Kaiming-normal convs, N(0, 0.01) FC, zero biases, BN at 1 and 0).

    The paper's own schemes (normal with a chosen std, Glorot, pre-initialisation
    from net A) belong to training: `archspec.harness` applies them.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def fold_batchnorm(model: VGG | GraphNet) -> VGG | GraphNet:
    """An eval-mode copy of a VGG-layout net with each conv's batch norm folded into its weights and bias
    (one conv instead of conv + normalise: the same function in eval mode, less work per image). Other
    layouts are returned as they are. The model given is left untouched."""
    if not isinstance(model, VGG) or not any(isinstance(m, nn.BatchNorm2d) for m in model.features):
        return model
    folded = copy.deepcopy(model).eval()
    layers = list(folded.features)
    for i, (conv, bn) in enumerate(itertools.pairwise(folded.features)):
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            layers[i], layers[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    folded.features = nn.Sequential(*layers)
    return folded


def build(net: Network) -> VGG | GraphNet:
    return VGG(net) if net.flat else GraphNet(net)
