"""The leaf layer kinds, one class each: conv, batch norm, the pools, LRN, FC, dropout, soft-max, zeropad."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .node import Layer, Pattern, ReLU, ShapeError, map_shape


def _pool_side(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    """torch's pooling output size (ceil mode: a last window may start in the padding, never past it)."""
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    return out - 1 if ceil and (out - 1) * s >= n + p else out


def _stride_words(stride: int) -> str:
    return f", stride {stride}" if stride != 1 else ""


def _relu(layer: Layer | None) -> bool:
    return isinstance(layer, ReLU)


def _bn(layer: Layer | None) -> bool:
    return isinstance(layer, BatchNorm)


def _pool2(layer: Layer | None) -> bool:
    return isinstance(layer, MaxPool) and (layer.kernel, layer.stride, layer.padding, layer.ceil) == (2, 2, 0, False)


def _same_odd_conv(layer: Layer) -> bool:
    return layer.stride == 1 and layer.padding == -1 and layer.kernel % 2 == 1


def _any_conv(layer: Layer) -> bool:
    return layer.pad < layer.kernel  # the Triton conv takes any stride and padding below the kernel size


class Conv(Layer):
    """`conv<k>-<c>[/<stride>][p<pad>]`: k x k convolution, c output channels, zero padding ('same', k // 2,
    unless written), bias unless batch norm is written after it."""

    kind: Literal["conv"] = "conv"
    kernel: int = Field(ge=1, le=31)
    out_channels: int = Field(ge=1)
    stride: int = Field(default=1, ge=1)
    padding: int = Field(default=-1, ge=-1, description="-1 means 'same' (kernel // 2)")
    bias: bool = True

    token: ClassVar[str] = r"conv([0-9]+)-([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?"
    syntax: ClassVar[str] = "conv<k>-<c>[/<stride>][p<pad>]"
    example: ClassVar[str] = "conv3-64"
    weight: ClassVar[bool] = True
    fusion: ClassVar[tuple[Pattern, ...]] = (
        Pattern("conv_bias_relu_pool", (_relu, _pool2), _same_odd_conv),
        Pattern("conv_bn_add_relu", (_bn,), _any_conv, tail=True),  # batch norm folded in eval mode
        Pattern("conv_bn_relu", (_bn, _relu), _any_conv),
        Pattern("conv_bn", (_bn,), _any_conv),
        Pattern("conv_bias_relu", (_relu,), _any_conv),
        Pattern("conv_bias", (), _any_conv),
    )

    @model_validator(mode="after")
    def _odd_same(self) -> Conv:
        if self.padding == -1 and self.kernel % 2 == 0:
            raise ValueError(f"conv{self.kernel}-{self.out_channels}: 'same' padding needs an odd kernel")
        return self

    @classmethod
    def read(cls, m, num):
        k = num(1, "kernel size", 1, 31)
        c = num(2, "channel count", 1, 65536)
        stride = num(3, "stride", 1, 31) if m.group(3) else 1
        pad = num(4, "padding", 0, 31) if m.group(4) else -1
        if pad == -1 and k % 2 == 0:
            raise ShapeError(
                f"even kernel size {k} in {m.group(0)!r}",
                "an odd kernel size (1, 3, 5, ...) or written padding",
                "stride-1 'same' convolutions keep the map size only with odd kernels; pad an even one: conv4-64p1",
            )
        return cls(kernel=k, out_channels=c, stride=stride, padding=pad)

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding == -1 else self.padding

    @property
    def label(self) -> str:
        stride = f"/{self.stride}" if self.stride != 1 else ""
        pad = f"p{self.padding}" if self.padding != -1 else ""
        return f"conv{self.kernel}-{self.out_channels}{stride}{pad}"

    @property
    def resnet_label(self) -> str:
        return f"{self.kernel}×{self.kernel}, {self.out_channels}" + _stride_words(self.stride)

    def infer(self, shape, rf, jump):
        c, h, w = map_shape(self, shape)
        k, s, p = self.kernel, self.stride, self.pad
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self.label} on a {h}x{w} map", f"a map of at least {k - 2 * p}x{k - 2 * p}")
        weights = k * k * c * self.out_channels
        params = weights + (self.out_channels if self.bias else 0)
        return (self.out_channels, oh, ow), params, weights * oh * ow, rf + (k - 1) * jump, jump * s

    def scaled(self, scale):
        return self.model_copy(update={"out_channels": scale(self.out_channels)})

    def batch_normed(self):
        return (self, BatchNorm(src=self.src))

    def channels(self, c):
        return self.out_channels

    def reduction(self):
        return self.stride

    def before_batch_norm(self):
        return self.model_copy(update={"bias": False})  # a bias before batch norm is redundant

    def repeated(self):
        return self.model_copy(update={"stride": 1})

    def torch(self, shape, nn):
        return nn.Conv2d(shape[0], self.out_channels, self.kernel, self.stride, self.pad, bias=self.bias)


class BatchNorm(Layer):
    """`bn`: batch normalisation over channels (written in ResNet/GoogLeNet specs; `--bn` adds it after every
    conv, as torchvision's `vgg*_bn`)."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: float = Field(default=1e-5, gt=0)
    momentum: float = 0.1

    token: ClassVar[str] = r"bn|batchnorm"
    syntax: ClassVar[str] = "bn"
    example: ClassVar[str] = "bn"
    in_projection: ClassVar[bool] = True

    def infer(self, shape, rf, jump):
        return map_shape(self, shape), 2 * shape[0], 0, rf, jump

    def torch(self, shape, nn):
        return nn.BatchNorm2d(shape[0], eps=self.eps, momentum=self.momentum)


class _WindowPool(Layer):
    """What max and average pooling share: a k x k window, a stride (the window's, unless written), zero
    padding of at most half the window, torch's floor or ceil mode; written `<name><k>[/<s>][p<pad>][ceil]`."""

    kernel: int = Field(default=2, ge=1, le=31)
    stride: int = Field(default=2, ge=1, le=31)
    padding: int = Field(default=0, ge=0)
    ceil: bool = False

    @model_validator(mode="after")
    def _half_window(self) -> _WindowPool:
        if 2 * self.padding > self.kernel:
            raise ValueError(f"{self.label}: padding {self.padding} is more than half the window")
        return self

    @classmethod
    def read(cls, m, num):
        k = num(1, "pool window", 1, 31)
        s = num(2, "pool stride", 1, 31) if m.group(2) else k
        p = num(3, "pool padding", 0, k // 2) if m.group(3) else 0
        return cls(kernel=k, stride=s, padding=p, ceil=bool(m.group(4)))

    def reduction(self):
        return self.stride

    def window_label(self, name: str) -> str:
        pad = f"p{self.padding}" if self.padding else ""
        return f"{name}{self.kernel}/{self.stride}{pad}{'ceil' if self.ceil else ''}"

    def window_words(self, name: str) -> str:
        """`3×3 max pool, stride 2`, as the ResNet paper writes a pool."""
        return f"{self.kernel}×{self.kernel} {name}" + _stride_words(self.stride)

    def infer(self, shape, rf, jump):
        c, h, w = map_shape(self, shape)
        k, s, p = self.kernel, self.stride, self.padding
        if h + 2 * p < k or w + 2 * p < k:
            raise ShapeError(
                f"{self.label} on a {h}x{w} map, which would shrink it below 1x1",
                f"a map of at least {k}x{k} (remove a pool or use a larger input)",
            )
        out = (c, _pool_side(h, k, s, p, self.ceil), _pool_side(w, k, s, p, self.ceil))
        return out, 0, 0, rf + (k - 1) * jump, jump * s


class MaxPool(_WindowPool):
    """`maxpool`: the paper's 2x2 window, stride 2 (floor on odd sizes); `maxpool<k>[/<s>][p<pad>][ceil]`
    for other windows (stride defaults to the window), padding and torch's ceil mode."""

    kind: Literal["maxpool"] = "maxpool"

    token: ClassVar[str] = r"maxpool(?:([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?(ceil)?)?"
    syntax: ClassVar[str] = "maxpool[<k>/<s>]"
    example: ClassVar[str] = "maxpool"

    @classmethod
    def read(cls, m, num):
        return cls() if m.group(1) is None else super().read(m, num)

    @property
    def label(self) -> str:
        paper = (self.kernel, self.stride, self.padding, self.ceil) == (2, 2, 0, False)
        return "maxpool" if paper else self.window_label("maxpool")

    @property
    def resnet_label(self) -> str:
        return self.window_words("max pool")

    def torch(self, shape, nn):
        return nn.MaxPool2d(self.kernel, self.stride, self.padding, ceil_mode=self.ceil)


class WindowAvgPool(_WindowPool):
    """`avgpool<k>[/<s>][p<pad>][ceil]`: k x k average pooling (stride defaults to the window; padding counts
    as zeros, as torch's default), e.g. GoogLeNet's auxiliary heads (avgpool5/3) or DenseNet's transitions."""

    kind: Literal["avgpool_window"] = "avgpool_window"

    token: ClassVar[str] = r"avgpool([0-9]+)(?:/([0-9]+))?(?:p([0-9]+))?(ceil)?"
    syntax: ClassVar[str] = "avgpool<k>[/<s>]"
    example: ClassVar[str] = "avgpool5/3"

    @property
    def label(self) -> str:
        return self.window_label("avgpool")

    @property
    def resnet_label(self) -> str:
        return self.window_words("average pool")

    def torch(self, shape, nn):
        return nn.AvgPool2d(self.kernel, self.stride, self.padding, ceil_mode=self.ceil)


class GlobalAvgPool(Layer):
    """`avgpool`: average over the whole map, to 1x1 (ResNet, GoogLeNet)."""

    kind: Literal["avgpool_global"] = "avgpool_global"

    token: ClassVar[str] = r"avgpool"
    syntax: ClassVar[str] = "avgpool"
    example: ClassVar[str] = "avgpool"
    global_pool: ClassVar[bool] = True

    @property
    def label(self) -> str:
        return "avgpool"

    @property
    def resnet_label(self) -> str:
        return "average pool"

    def infer(self, shape, rf, jump):
        c, h, w = map_shape(self, shape)
        return (c, 1, 1), 0, 0, rf + (max(h, w) - 1) * jump, jump

    def torch(self, shape, nn):
        return nn.AdaptiveAvgPool2d((1, 1))


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

    token: ClassVar[str] = r"lrn"
    syntax: ClassVar[str] = "LRN"
    example: ClassVar[str] = "LRN"
    fusion: ClassVar[tuple[Pattern, ...]] = (Pattern("lrn"),)

    @property
    def label(self) -> str:
        return "LRN"

    @property
    def torch_alpha(self) -> float:
        """The `alpha` to give `torch.nn.LocalResponseNorm` (which divides by size)."""
        return self.alpha * self.size if self.alpha_convention == "sum" else self.alpha

    def infer(self, shape, rf, jump):
        return map_shape(self, shape), 0, 0, rf, jump

    def torch(self, shape, nn):
        return nn.LocalResponseNorm(self.size, self.torch_alpha, self.beta, self.k)


class FC(Layer):
    """`FC-<n>`: fully connected layer with n outputs and bias; on a map it flattens C*H*W."""

    kind: Literal["fc"] = "fc"
    out_features: int = Field(ge=1)

    token: ClassVar[str] = r"fc-([0-9]+)"
    syntax: ClassVar[str] = "FC-<n>"
    example: ClassVar[str] = "FC-4096"
    on_maps: ClassVar[bool] = False
    weight: ClassVar[bool] = True
    fusion: ClassVar[tuple[Pattern, ...]] = (Pattern("linear_bias_relu", (_relu,)), Pattern("linear_bias"))

    @classmethod
    def read(cls, m, num):
        return cls(out_features=num(1, "FC width", 1, 1_000_000))

    @property
    def label(self) -> str:
        return f"FC-{self.out_features}"

    @property
    def resnet_label(self) -> str:
        return f"{self.out_features}-d fc"

    def infer(self, shape, rf, jump):
        n_in = 1
        for d in shape:
            n_in *= d
        span = max(shape[1], shape[2]) if len(shape) == 3 else 1  # the larger side of the map
        out = (self.out_features,)
        return out, n_in * self.out_features + self.out_features, n_in * self.out_features, rf + (span - 1) * jump, jump

    def scaled(self, scale):
        return self.model_copy(update={"out_features": scale(self.out_features)})

    def implied(self, dropout):
        return super().implied(dropout) + ((Dropout(p=0.5, src=self.src),) if dropout else ())

    def torch(self, shape, nn):
        n_in = 1
        for d in shape:
            n_in *= d
        return nn.Linear(n_in, self.out_features)


class Dropout(Layer):
    """Implied after the hidden FC layers; `dropout[<p>]` (e.g. `dropout0.2`) writes it where a net has it,
    and then none is implied."""

    kind: Literal["dropout"] = "dropout"
    p: float = Field(default=0.5, ge=0.0, lt=1.0)

    token: ClassVar[str] = r"dropout(0?\.[0-9]+)?"
    syntax: ClassVar[str] = "dropout"
    example: ClassVar[str] = "dropout"
    on_maps: ClassVar[bool] = False

    @classmethod
    def read(cls, m, num):
        return cls(p=float(m.group(1))) if m.group(1) else cls()

    @property
    def resnet_label(self) -> str:
        return f"dropout {self.p:g}"

    def torch(self, shape, nn):
        return nn.Dropout(self.p)


class Softmax(Layer):
    """`soft-max`: the output posterior; compiled modules return logits (the loss applies it)."""

    kind: Literal["softmax"] = "softmax"

    token: ClassVar[str] = r"soft-?max"
    syntax: ClassVar[str] = "soft-max"
    example: ClassVar[str] = "soft-max"
    on_maps: ClassVar[bool] = False
    compiled: ClassVar[bool] = False

    @property
    def label(self) -> str:
        return "soft-max"

    @property
    def resnet_label(self) -> str:
        return "softmax"


class ZeroPad(Layer):
    """`zeropad-<c>[/<stride>]`: the ResNet paper's option-A shortcut (Sec. 3.3; its CIFAR nets, Sec. 4.2), with no
    parameters: every stride-th pixel of each row and column (a 1x1 subsampling, no window), then zero channels
    after the input's up to c, as fb.resnet.torch's shortcut type A. Written only as a block's whole shortcut:
    `[conv3-32/2 bn conv3-32 bn + zeropad-32/2]`."""

    kind: Literal["zeropad"] = "zeropad"
    out_channels: int = Field(ge=1)
    stride: int = Field(default=1, ge=1, le=31)

    token: ClassVar[str] = r"zeropad-([0-9]+)(?:/([0-9]+))?"
    syntax: ClassVar[str] = "zeropad-<c>[/<stride>]"
    example: ClassVar[str] = "zeropad-32/2"
    shortcut_only: ClassVar[bool] = True

    @classmethod
    def read(cls, m, num):
        stride = num(2, "stride", 1, 31) if m.group(2) else 1
        return cls(out_channels=num(1, "channel count", 1, 65536), stride=stride)

    @property
    def label(self) -> str:
        return f"zeropad-{self.out_channels}" + (f"/{self.stride}" if self.stride != 1 else "")

    def infer(self, shape, rf, jump):
        c, h, w = map_shape(self, shape)
        if self.out_channels < c:
            raise ShapeError(
                f"{self.label} on {c} channels",
                f"at least {c} channels out (option A pads channels with zeros and drops none)",
            )
        s = self.stride
        return (self.out_channels, -(-h // s), -(-w // s)), 0, 0, rf, jump * s  # a copy: no MACs, rf unchanged

    def scaled(self, scale):
        return self.model_copy(update={"out_channels": scale(self.out_channels)})

    def channels(self, c):
        return self.out_channels

    def reduction(self):
        return self.stride

    def torch(self, shape, nn):
        return nn.ZeroPadShortcut(self.stride, self.out_channels - shape[0])


LEAVES: tuple[type[Layer], ...] = (
    Conv,
    BatchNorm,
    ReLU,
    MaxPool,
    WindowAvgPool,
    GlobalAvgPool,
    LRN,
    FC,
    Dropout,
    Softmax,
    ZeroPad,
)
