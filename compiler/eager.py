"""The eager backend: IR -> one `nn.Module` class, `Net`, for every family, in torchvision's layout.

Each IR node's own `torch` method (in `archspec.ir`) builds its torch layer from the `nn` it is handed
(`LAYERS`: `torch.nn`, with `lrn.LocalResponseNorm` and `batchnorm.BatchNorm2d`, the same layers computed
faster, in their places, and `shortcut.ZeroPadShortcut`, the option-A shortcut torch lacks) and
`layout.module_paths` says where it goes: `features.0` / `classifier.6` for a flat net
(VGG, AlexNet), `layer1.0.downsample.0` for ResNet, `inception3a.branch2.1.conv` for
GoogLeNet, so torchvision's checkpoints load with `strict=True`. The levels of the
layout are real modules: numbered ones (`features`, `layer1`, `downsample`) are
`nn.Sequential`, named ones (a residual block, an Inception module, a BasicConv2d) are
`Group`s that run the IR nodes they hold, so `model.layer1(x)` works as in torchvision.

`Net.forward` walks the IR tree: a group joins its children's outputs (a residual
block adds body and shortcut and applies ReLU, a concatenation joins its branches) and
a leaf runs its module in `_leaf`, the one step the Triton backend overrides. A flat
net has torchvision's `avgpool` before its classifier: `AdaptiveAvgPool2d` to the map
size the spec has at its own input size (7x7 for VGG at 224x224, 6x6 for AlexNet), the
identity there, torchvision's behaviour elsewhere.

Soft-max is not a module: the model returns logits (the loss applies soft-max). The
paper's way to run a net on another size is the fully convolutional form,
`forward(x, dense=True)` (`archspec.compiler.dense.to_dense`). For inference,
`fold_batchnorm` folds a flat net's batch norms into its convs.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from archspec.infer import NetworkStats, infer
from archspec.ir import Dims, Layer, Network, Numbered, numbered, walk
from archspec.views import classifier_start

from .batchnorm import BatchNorm2d
from .layout import module_paths
from .lrn import LocalResponseNorm
from .shortcut import ZeroPadShortcut


class _Layers:
    """`torch.nn` as each kind's `torch(shape, nn)` is handed it, with archspec's faster LRN and batch norm in their
    places and the option-A shortcut beside."""

    BatchNorm2d = BatchNorm2d
    LocalResponseNorm = LocalResponseNorm
    ZeroPadShortcut = ZeroPadShortcut

    def __getattr__(self, name: str):
        return getattr(nn, name)


LAYERS = _Layers()


class Group(nn.Module):
    """A named level of torchvision's layout (a residual block, an Inception module, a BasicConv2d): it holds
    modules and runs the IR nodes they belong to through the enclosing net's walk."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net, items = self.run
        return net._seq(items, x)


def _put(root: nn.Module, path: str, module: nn.Module) -> list[tuple[str, Group]]:
    """Register `module` at a dotted path, creating the levels on the way (Sequential where children are
    numbered, as torchvision's `layer1` and `downsample`, else a Group); returns the Groups it created."""
    *parents, name = path.split(".")
    node, made = root, []
    for i, part in enumerate(parents):
        if part not in node._modules:
            numbered_children = (parents + [name])[i + 1].isdigit()
            node.add_module(part, nn.Sequential() if numbered_children else Group())
            if not numbered_children:
                made.append((".".join(parents[: i + 1]), node._modules[part]))
        node = node._modules[part]
    node.add_module(name, module)
    return made


def _paths_under(item, paths: list[str | None]) -> list[str]:
    layer, i, subs = item
    return [p for seq in subs for sub in seq for p in _paths_under(sub, paths)] + ([paths[i]] if paths[i] else [])


def _run_of(items: Numbered, prefix: str, paths: list[str | None]) -> Numbered:
    """The IR nodes a Group at `prefix` runs: the run of sibling nodes whose modules all lie under it (with a
    module-less node right after, GoogLeNet's functional ReLU), at the outermost level where there is one."""
    inside = [
        k
        for k, item in enumerate(items)
        if (under := _paths_under(item, paths)) and all(p.startswith(prefix + ".") for p in under)
    ]
    if inside:
        end = inside[-1] + 1
        while end < len(items) and not items[end][2] and paths[items[end][1]] is None:
            end += 1
        return items[inside[0] : end]
    return next((run for _, _, subs in items for seq in subs if (run := _run_of(seq, prefix, paths))), [])


def _fc_on_map(fc: nn.Linear, in_shape: Dims, x: torch.Tensor) -> torch.Tensor:
    """An FC layer as a conv over a map: its kernel is the map it flattens at the spec's input size (7x7 for
    VGG's first FC; 1x1 for an FC after another or after a global pool), so it scores every position."""
    c, h, w = in_shape if len(in_shape) == 3 else (*in_shape, 1, 1)
    return F.conv2d(x, fc.weight.view(fc.out_features, c, h, w), fc.bias)  # (N, out, H - h + 1, W - w + 1)


class Net(nn.Module):
    """A compiled spec of any family in torchvision's layout. `net` and `stats` keep the IR it came from."""

    def __init__(self, net: Network, stats: NetworkStats | None = None) -> None:
        super().__init__()
        self.net, self.stats = net, stats or infer(net)
        paths = module_paths(net)
        self._tree = numbered(net.layers)
        self._nodes = list(walk(net.layers))
        # a flat net: torchvision's avgpool, then the flattened map into the classifier, at this layer
        self._head = classifier_start(net.layers) if net.flat else None
        groups: list[tuple[str, Group]] = []
        placed: dict[str, nn.Module] = {}  # a residual block's one ReLU serves all its ReLU nodes
        modules: list[nn.Module | None] = []
        for i, (node, path, s) in enumerate(zip(self._nodes, paths, self.stats.layers, strict=True)):
            if i == self._head:
                self.avgpool: nn.Module = nn.AdaptiveAvgPool2d(s.in_shape[1:])  # (h, w) at the spec's input size
            module = placed.get(path) if path else None
            if module is None and not node.children():
                module = node.torch(s.in_shape, LAYERS)
                if path and module is not None:
                    groups += _put(self, path, module)
                    placed[path] = module
                elif module is not None and any(True for _ in module.parameters()):
                    raise AssertionError(f"{node.label}: a module with parameters needs a path")
            modules.append(module)
        if net.flat and self._head == len(net.layers):
            self.avgpool = nn.Identity()  # no FC layer: the model returns the feature map
        self._by_index = modules  # a plain list: the modules are registered at their paths
        for prefix, group in groups:
            group.run = (self, _run_of(self._tree, prefix, paths))
        init_weights(self)

    def module_at(self, i: int) -> nn.Module | None:
        """The module of the node with `ir.walk` index i (None for soft-max and groups)."""
        return self._by_index[i]

    def node_at(self, i: int) -> Layer:
        return self._nodes[i]

    def _joined_inside(self, group: int) -> bool:
        """Whether the last kernel of group node `group`'s first child did the join (a fused residual add)."""
        return False

    def _leaf(self, layer: Layer, i: int, x: torch.Tensor, dense: bool, residual) -> tuple[torch.Tensor, tuple]:
        """Run leaf node i; returns the output and the indices of later nodes it also covered."""
        if i == self._head and not dense:
            x = torch.flatten(self.avgpool(x), 1)  # (N, C*H7*W7) in torchvision's C, H, W order
        module = self.module_at(i)
        if module is None or (dense and layer.global_pool):
            return x, ()  # dense: the FC layers score every position; evaluation averages the map
        if isinstance(module, nn.Linear) and x.dim() > 2:
            return (_fc_on_map(module, self.stats.layers[i].in_shape, x) if dense else module(x.flatten(1))), ()
        return module(x), ()

    def _seq(self, items: Numbered, x: torch.Tensor, dense: bool = False, residual=None) -> torch.Tensor:
        covered: set[int] = set()
        for layer, i, subs in items:
            if i in covered:
                continue
            if subs:
                x = self._group(layer, i, subs, x, dense)
            else:
                x, more = self._leaf(layer, i, x, dense, residual)
                covered.update(more)
        return x

    def _group(self, layer: Layer, i: int, subs: list, x: torch.Tensor, dense: bool) -> torch.Tensor:
        """A group node: each child sequence on the group's input, in the kind's order, joined as the kind says
        (a residual block's body gets the shortcut's output, which a fused last kernel may add itself)."""
        outs = [x] * len(subs)  # an empty child (the identity shortcut) returns the input
        for k in layer.order():
            outs[k] = self._seq(subs[k], x, dense, residual=outs[1] if k == 0 and layer.tail_join else None)
        return outs[0] if self._joined_inside(i) else layer.join(outs, torch)

    def forward(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        """Logits (N, classes); with `dense`, the class score map (N, classes, h, w) of the fully convolutional
        form (global pooling left out, each FC layer a conv sliding over the map)."""
        return self._seq(self._tree, x, dense)


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


def fold_batchnorm(model: Net) -> Net:
    """An eval-mode copy of a flat net with each conv's batch norm folded into its weights and bias (one conv
    instead of conv + normalise: the same function in eval mode, less work per image). Other layouts are
    returned as they are. The model given is left untouched."""
    if not model.net.flat or not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return model
    folded = copy.deepcopy(model).eval()
    paths = module_paths(model.net)
    for i, (conv, bn) in enumerate(itertools.pairwise(list(folded._by_index))):
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            for j, module in ((i, fuse_conv_bn_eval(conv, bn)), (i + 1, nn.Identity())):
                _put(folded, paths[j], module)
                folded._by_index[j] = module
    return folded


def build(net: Network) -> Net:
    return Net(net)
