"""The eager backend: IR -> `nn.Module` from standard torch layers.

One builder turns each IR node into a torch layer (`LAYERS`), and `VGG` puts
them in torchvision's layout: `features` (everything before the first FC),
`avgpool`, `classifier` (the FC part). Module indices therefore equal
torchvision's (`features.0.weight`, `classifier.0|3|6`), so torchvision's VGG
checkpoints load with `strict=True`.

Input sizes: `avgpool` is `AdaptiveAvgPool2d` to the map size the spec has at
its own input size (7x7 for 224x224). At that size it is the identity; at other
sizes it behaves as torchvision does. The paper's way to run a net on another
size is the fully convolutional form: `archspec.compiler.dense.to_dense`.
Soft-max is not a module: the model returns logits (the loss applies soft-max).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from archspec.infer import Dims, NetworkStats, infer
from archspec.ir import FC, LRN, BatchNorm, Conv, Dropout, Layer, MaxPool, Network, ReLU, Softmax


def _conv(layer: Conv, shape: Dims) -> nn.Module:
    return nn.Conv2d(shape[0], layer.out_channels, layer.kernel, layer.stride, layer.pad, bias=layer.bias)


def _fc(layer: FC, shape: Dims) -> nn.Module:
    n_in = 1
    for d in shape:
        n_in *= d
    return nn.Linear(n_in, layer.out_features)


LAYERS: dict[type, Callable[[Layer, Dims], nn.Module]] = {
    Conv: _conv,
    FC: _fc,
    BatchNorm: lambda layer, shape: nn.BatchNorm2d(shape[0], eps=layer.eps, momentum=layer.momentum),
    ReLU: lambda layer, shape: nn.ReLU(inplace=True),
    MaxPool: lambda layer, shape: nn.MaxPool2d(layer.kernel, layer.stride),
    LRN: lambda layer, shape: nn.LocalResponseNorm(layer.size, layer.torch_alpha, layer.beta, layer.k),
    Dropout: lambda layer, shape: nn.Dropout(layer.p),
}


def split(net: Network) -> int:
    """Index of the first FC layer (where `classifier` starts), or len(layers)."""
    return next((i for i, layer in enumerate(net.layers) if isinstance(layer, FC)), len(net.layers))


class VGG(nn.Module):
    """A compiled spec in torchvision's VGG layout. `net` and `stats` keep the IR it came from."""

    def __init__(self, net: Network, stats: NetworkStats | None = None) -> None:
        super().__init__()
        self.net, self.stats = net, stats or infer(net)
        cut = split(net)
        modules = [
            LAYERS[type(layer)](layer, s.in_shape)
            for layer, s in zip(net.layers, self.stats.layers, strict=True)
            if not isinstance(layer, Softmax)
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


def init_weights(model: nn.Module) -> None:
    """torchvision's VGG initialisation (Kaiming-normal convs, N(0, 0.01) FC, zero biases).

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


def build(net: Network) -> VGG:
    return VGG(net)
