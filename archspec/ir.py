"""The typed intermediate representation of a network.

A `Network` is an immutable pydantic model: an input shape and a flat tuple of
layer nodes, one discriminated union keyed by `kind`. Every node implied by the
paper but not written in Table 1 (ReLU after each hidden weight layer, dropout
after the first two FC layers, batch norm in `_bn` variants) is an explicit node
here, carrying the source position of the table token that implied it.

This module must not import torch: counting and validation are pure Python.
Passes over the IR live in `archspec.passes` (overrides) and `archspec.infer`
(shapes, parameters, compute).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Src(Node):
    """Where a node came from: the table token (file, 1-based line and column)."""

    path: str | None = None
    line: int = Field(ge=1)
    col: int = Field(ge=1)
    text: str

    def __str__(self) -> str:
        return f"{self.path or '<spec>'}:{self.line}:{self.col}"


class Layer(Node):
    src: Src | None = None

    @property
    def label(self) -> str:
        """The layer as the paper would write it (implied layers get a lower-case name)."""
        return self.kind


class Conv(Layer):
    """`conv<k>-<c>`: k x k convolution, c output channels, bias, zero padding."""

    kind: Literal["conv"] = "conv"
    kernel: int = Field(ge=1, le=31)
    out_channels: int = Field(ge=1)
    stride: int = Field(default=1, ge=1)
    padding: int = Field(default=-1, ge=-1, description="-1 means 'same' (kernel // 2)")
    bias: bool = True

    @model_validator(mode="after")
    def _odd_same(self) -> Conv:
        if self.padding == -1 and self.kernel % 2 == 0:
            raise ValueError(f"conv{self.kernel}-{self.out_channels}: 'same' padding needs an odd kernel")
        return self

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding == -1 else self.padding

    @property
    def label(self) -> str:
        return f"conv{self.kernel}-{self.out_channels}"


class BatchNorm(Layer):
    """Batch normalisation after a conv (torchvision's `vgg*_bn`)."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: float = 1e-5
    momentum: float = 0.1


class ReLU(Layer):
    kind: Literal["relu"] = "relu"


class MaxPool(Layer):
    """`maxpool`: the paper's 2x2 window, stride 2 (floor on odd sizes)."""

    kind: Literal["maxpool"] = "maxpool"
    kernel: int = Field(default=2, ge=1)
    stride: int = Field(default=2, ge=1)


class LRN(Layer):
    """Cross-channel local response normalisation, Krizhevsky et al. 2012.

    `alpha_convention="sum"` is AlexNet's formula,
    b = a / (k + alpha * sum_{window} a^2) ** beta, with no division by `size`;
    PyTorch's `LocalResponseNorm` divides by `size` ("mean"), so a compiler must
    pass `alpha * size` to it for the "sum" convention.
    """

    kind: Literal["lrn"] = "lrn"
    size: int = Field(default=5, ge=1)
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    alpha_convention: Literal["sum", "mean"] = "sum"

    @property
    def label(self) -> str:
        return "LRN"

    @property
    def torch_alpha(self) -> float:
        """The `alpha` to give `torch.nn.LocalResponseNorm` (which divides by size)."""
        return self.alpha * self.size if self.alpha_convention == "sum" else self.alpha


class FC(Layer):
    """`FC-<n>`: fully connected layer with n outputs and bias."""

    kind: Literal["fc"] = "fc"
    out_features: int = Field(ge=1)

    @property
    def label(self) -> str:
        return f"FC-{self.out_features}"


class Dropout(Layer):
    kind: Literal["dropout"] = "dropout"
    p: float = Field(default=0.5, ge=0.0, lt=1.0)


class Softmax(Layer):
    """`soft-max`: the output posterior; compiled modules return logits (the loss applies it)."""

    kind: Literal["softmax"] = "softmax"

    @property
    def label(self) -> str:
        return "soft-max"


AnyLayer = Annotated[
    Conv | BatchNorm | ReLU | MaxPool | LRN | FC | Dropout | Softmax,
    Field(discriminator="kind"),
]
WEIGHT_KINDS = frozenset({"conv", "fc"})


class Shape(Node):
    """The input image: channels x height x width."""

    channels: int = Field(ge=1, le=64)
    height: int = Field(ge=1, le=16384)
    width: int = Field(ge=1, le=16384)

    def __str__(self) -> str:
        return f"{self.height}x{self.width}x{self.channels}"


class Network(Node):
    """A whole network: name, input shape and the explicit layer sequence."""

    name: str
    input: Shape
    layers: tuple[AnyLayer, ...]
    source: str | None = Field(default=None, description="the spec file it was read from")

    @property
    def weight_layers(self) -> int:
        return sum(layer.kind in WEIGHT_KINDS for layer in self.layers)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def structure_hash(self) -> str:
        """What the network computes, without where it was written: the same for a spec whose comments or
        layout changed, different for any change of a layer, a size or the input."""
        import hashlib
        import json

        layers = [layer.model_dump(exclude={"src"}) for layer in self.layers]
        text = json.dumps({"input": self.input.model_dump(), "layers": layers}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str) -> Network:
        return cls.model_validate_json(text)
