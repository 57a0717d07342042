"""Test oracle: the ResNet paper's CIFAR-10 nets (He et al. 2016, Sec. 4.2) written out in torch by hand,
independently of archspec's spec language, IR and compiler.

6n+2 layers: a 3x3 conv to 16 channels, three stages of n basic blocks [3x3, c; 3x3, c] with c = 16, 32, 64 on
32, 16 and 8 pixel maps (the stride on each later stage's first conv), global average pooling and a 10-way FC;
batch norm after every conv. Shortcuts are option A, as fb.resnet.torch builds its type 'A': a 1x1 average pool
of stride 2 (one pixel in four), concatenated with zero channels after the input's. Module names follow
torchvision's ResNet (conv1, bn1, layer1.0.conv1, fc), so a state_dict moves across by name.
"""

import torch
import torch.nn.functional as F
from torch import nn


class OptionA(nn.Module):
    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x):
        x = F.avg_pool2d(x, 1, self.stride)  # (N, C, H/2, W/2): a 1x1 window keeps one pixel of each 2x2
        zeros = x.new_zeros(x.shape[0], self.extra, *x.shape[2:])
        return torch.cat([x, zeros], 1)  # (N, C + extra, H/2, W/2)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c: int, stride: int, shortcuts: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.shortcuts = shortcuts
        self.shortcut = OptionA(stride, c - c_in) if (stride, c_in) != (1, c) else nn.Identity()

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x) if self.shortcuts else out)


class CifarNet(nn.Module):
    """ResNet-(6n+2) with `shortcuts`, the plain net of the same depth without; `widths` for narrower nets."""

    def __init__(self, depth: int, shortcuts: bool = True, widths=(16, 32, 64), classes: int = 10) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c_in = widths[0]
        for i, c in enumerate(widths, 1):
            blocks = [BasicBlock(c_in if j == 0 else c, c, 2 if (j == 0 and i > 1) else 1, shortcuts) for j in range(n)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            c_in = c
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, 8, 8)
        return self.fc(x.mean((2, 3)))  # (N, classes)
