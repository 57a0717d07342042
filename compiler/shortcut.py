"""The ResNet paper's option-A shortcut (the `zeropad` kind's module): subsample by the stride, then zero channels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ZeroPadShortcut(nn.Module):
    """Parameter-free: every `stride`-th pixel of each row and column, then `channels` zero channels after the
    input's (fb.resnet.torch's shortcut type A; the paper's CIFAR nets use it where a stage halves the map)."""

    def __init__(self, stride: int, channels: int) -> None:
        super().__init__()
        self.stride, self.channels = stride, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (N, C, ceil(H / s), ceil(W / s))
        return F.pad(x, (0, 0, 0, 0, 0, self.channels))  # (N, C + channels, H', W'): the zeros after the input's

    def extra_repr(self) -> str:
        return f"stride={self.stride}, channels={self.channels}"
