"""A squeeze-and-excitation block (Hu et al., 2018) as an archspec layer kind, from outside archspec.

Written `se<r>` (reduction ratio r): global average pooling, FC C -> C/r, ReLU, FC C/r -> C, sigmoid, and the map
scaled channel by channel. Load it with `--plugin docs/examples/squeeze_excite.py` on any command, or install it
as an entry point of the `archspec.kinds` group; docs/language.md walks through it.
"""

from typing import ClassVar, Literal

from archspec import Layer, register_kind


class SqueezeExcite(Layer):
    kind: Literal["se"] = "se"
    ratio: int

    token: ClassVar[str] = r"se([0-9]+)"  # the written word: se4, se16
    syntax: ClassVar[str] = "se<r>"
    example: ClassVar[str] = "se4"

    @classmethod
    def read(cls, m, num):
        return cls(ratio=num(1, "reduction ratio", 1, 1024))

    @property
    def label(self):
        return f"se{self.ratio}"

    def infer(self, shape, rf, jump):
        c, h, w = shape  # (C, H, W): the map keeps its shape
        hidden = max(1, c // self.ratio)
        params = (c * hidden + hidden) + (hidden * c + c)  # two FC layers with biases
        macs = 2 * c * hidden  # the FC layers (pooling and scaling are no multiply-accumulates of weights)
        return shape, params, macs, rf, jump

    def torch(self, shape, nn):
        return _SqueezeExcite(shape[0], max(1, shape[0] // self.ratio), nn)


def _SqueezeExcite(channels, hidden, nn):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(channels, hidden), nn.Linear(hidden, channels)

        def forward(self, x):  # (N, C, H, W)
            s = x.mean((2, 3))  # (N, C)
            s = self.fc2(self.fc1(s).relu()).sigmoid()  # (N, C)
            return x * s[:, :, None, None]  # (N, C, H, W)

    return Block()


register_kind(SqueezeExcite)
