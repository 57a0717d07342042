"""The paper's test protocol as geometry (Sec. 3.2): which views of an image each evaluation method runs the net
on, from the IR alone (no torch).

One definition per method (`Method`): its name in suite files and reports, the posteriors it averages, and the
forward passes it makes on an image of a given size (`Method.passes`). `harness.evaluation.protocol` runs those
views with torch, `compiler.dense` reads a net's dense geometry from `geometry`, the planner (`harness.planning`)
costs the same passes, suite files name methods from `METHODS`, and reports name rows with `Method.row`.

- dense: the fully convolutional net on the whole image (and its flip). Where a side is not a multiple of the
  net's floor stride, the net also scores the image shifted by the remainder, so that its windows reach both
  edges (`fit = "shift"`, up to 4 views), or one view padded to the next multiple (`"pad"`). A net without a
  floor chain of strides (ResNet, GoogLeNet, AlexNet) is scored on windows of its own input size instead,
  `window_step` pixels apart, the last at the far edge: the geometry it was trained at.
- multi-crop: a 5x5 regular grid of crop-size views, each also flipped (50 views).
- multi-crop & dense: both, their posteriors averaged (each computed once).
- centre: the model-zoo baseline, smallest side crop x 256/224, one centre crop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .infer import infer
from .ir import FC, Dropout, Layer, Network, walk

PAPER_CROP = 224  # the paper's crop; its scales (S, Q) are pixels at this crop
RATIO = 256 / PAPER_CROP  # the paper's single training scale over its crop: S = 256 at 224, 37 at 32
GRID = 5  # crops a side of the multi-crop grid
DENSE_FITS = ("shift", "pad")
DENSE_FIT = "shift"  # chosen on the held-out split: suites/small-recipe.md


def grid_offsets(side: int, crop: int, n: int = GRID) -> list[int]:
    """n regularly spaced crop offsets from 0 to side - crop (both ends and the middle included)."""
    return sorted({round(i * (side - crop) / (n - 1)) for i in range(n)})


def axis(side: int, stride: int, fit: str) -> tuple[list[int], int]:
    """Where the dense pass's views start along one side (negative: padding before the image) and their length."""
    r = side % stride if side > stride else 0
    if not r:
        return [0], side
    if fit == "pad":
        return [-(((-side) % stride) // 2)], side + (-side) % stride
    if fit == "shift":
        return sorted({0, r}), side - r
    raise ValueError(f"dense fit {fit!r}; expected one of {', '.join(DENSE_FITS)}")


def window_starts(side: int, stride: int, crop: int, fit: str = DENSE_FIT) -> list[int]:
    """Along one side: where the dense pass's crop-size windows start, `stride` apart from each view's start."""
    offsets, length = axis(side, stride, fit)
    return sorted({o + k * stride for o in offsets for k in range(max(0, length - crop) // stride + 1)})


def dense_windows(side: int, stride: int, crop: int, fit: str = DENSE_FIT) -> tuple[int, float]:
    """Along one side: distinct positions of the dense pass's crop-size windows (1: a single whole-image view)
    and the share of the side's pixels they cover."""
    starts = window_starts(side, stride, crop, fit)
    covered = set().union(*(range(max(0, s), min(side, s + crop)) for s in starts))
    return len(starts), len(covered) / side


# ---------------------------------------------------------------- a net's dense geometry


def classifier_start(layers: tuple[Layer, ...]) -> int:
    """Where torchvision's `classifier` starts in a flat net: the first FC, or the dropout written right before
    it (AlexNet); len(layers) when there is no FC."""
    first = next((i for i, layer in enumerate(layers) if isinstance(layer, FC)), len(layers))
    while first > 0 and first < len(layers) and isinstance(layers[first - 1], Dropout):
        first -= 1
    return first


def floor_stride(layers: tuple[Layer, ...]) -> int:
    """Input pixels per map cell where the map is the input floor-divided: every layer keeps the size (a
    stride-1 conv or pool padded by half its odd window, batch norm, LRN) or pools non-overlapping windows
    without padding, like VGG's 2x2/2 max-pools (32 for VGG). Then only the input's remainder after that
    division goes unused. Anything else (AlexNet's conv11/4, a 3x3/2 pool) gives 1: its margins are used."""
    stride = 1
    for layer in layers:
        k, s = getattr(layer, "kernel", 1), getattr(layer, "stride", 1)
        pad, ceil = getattr(layer, "pad", getattr(layer, "padding", 0)), getattr(layer, "ceil", False)
        if layer.global_pool:  # the whole map to 1x1: every pixel is used
            return 1
        if s == 1 and 2 * pad == k - 1:
            continue
        if s == k and pad == 0 and not ceil:
            stride *= s
            continue
        return 1
    return stride


@dataclass(frozen=True)
class Geometry:
    """How the dense pass reads a net: `crop` its input side, `stride` the floor stride of a flat net's features
    (1 for a net with shortcuts or branches), `window_step` where it is scored on crop-size windows (a net
    without a floor chain, whose last map is smaller than its input), `head` the map side its first FC reads at
    the crop (1 where global pooling comes first: the dense form leaves the pooling out)."""

    crop: int
    stride: int
    window_step: int | None
    head: tuple[int, int]


def geometry(net: Network) -> Geometry:
    """The dense geometry of `net` at its own input size."""
    stats = infer(net)
    stride = floor_stride(net.layers[: classifier_start(net.layers)]) if net.flat else 1
    last, head = None, (1, 1)  # the last map before global pooling or the first FC, at the net's input size
    for node, s in zip(walk(net.layers), stats.layers, strict=True):
        if node.global_pool or isinstance(node, FC):
            head = (s.in_shape[1], s.in_shape[2]) if isinstance(node, FC) and len(s.in_shape) == 3 else (1, 1)
            break
        if len(s.out_shape) == 3:
            last = s.out_shape
    step = net.input.height // last[1] if stride == 1 and last is not None else None
    return Geometry(net.input.height, stride, step if step and step > 1 else None, head)


# ---------------------------------------------------------------- the methods


@dataclass(frozen=True)
class Pass:
    """`count` forward passes of one image's views of `height` x `width`: through the dense form of the net
    (`dense`: a class score map) or the net itself at its crop."""

    height: int
    width: int
    count: int
    dense: bool


@dataclass(frozen=True)
class Method:
    """One evaluation method: `name` as suite files, CSVs and JSON write it (Table 6's words), `short` as a plan
    column, `parts` the posteriors it averages (each computed once however many methods use it)."""

    name: str
    short: str
    parts: tuple[str, ...]

    def passes(self, height: int, width: int, geo: Geometry, fit: str = DENSE_FIT) -> list[Pass]:
        """The forward passes this method makes on one image already rescaled to `height` x `width` (at one test
        scale; the centre crop rescales the image itself): what the protocol runs and the planner costs."""
        return [p for part in self.parts for p in PART_PASSES[part](height, width, geo, fit)]

    def row(self, model: str, scales: str) -> str:
        """A row's model in Table 6's notation: `D/256,384,512` (the centre crop: the model alone)."""
        return model if self is CENTRE else f"{model}/{scales}"


def _dense(height: int, width: int, geo: Geometry, fit: str) -> list[Pass]:
    if geo.window_step and min(height, width) >= geo.crop:  # crop-size windows, `window_step` apart, and flips
        ih, iw = (window_starts(n, geo.window_step, geo.crop, fit) for n in (height, width))
        return [Pass(geo.crop, geo.crop, 2 * len(ih) * len(iw), dense=False)]
    (oh, lh), (ow, lw) = (axis(n, geo.stride, fit) for n in (height, width))
    return [Pass(lh, lw, 2 * len(oh) * len(ow), dense=True)]  # each view and its flip


def _crops(height: int, width: int, geo: Geometry, fit: str) -> list[Pass]:
    views = len(grid_offsets(height, geo.crop)) * len(grid_offsets(width, geo.crop))
    return [Pass(geo.crop, geo.crop, 2 * views, dense=False)]  # each crop and its flip


def _centre(height: int, width: int, geo: Geometry, fit: str) -> list[Pass]:
    return [Pass(geo.crop, geo.crop, 1, dense=False)]


PART_PASSES = {"dense": _dense, "multi-crop": _crops, "centre": _centre}  # each method's parts, by name

DENSE = Method("dense", "dense", ("dense",))
MULTI_CROP = Method("multi-crop", "crops", ("multi-crop",))
BOTH = Method("multi-crop & dense", "both", ("dense", "multi-crop"))
CENTRE = Method("centre", "centre", ("centre",))
METHODS: dict[str, Method] = {m.name: m for m in (DENSE, MULTI_CROP, BOTH, CENTRE)}
SCALED = (DENSE, MULTI_CROP, BOTH)  # the methods run at each test scale Q (the centre crop has its own scale)


@dataclass(frozen=True)
class Protocol:
    """One test protocol (Sec. 3.2, Tables 3 and 4): `name` as suite files write it, the test scales Q it runs a
    net trained at S = [Smin, Smax] on (`scales`), and whether the model-zoo centre crop runs beside it."""

    name: str
    centre: bool

    def scales(self, train_scales: tuple[int, int], crop: int) -> list[int]:
        """single: Q = S for fixed S, (Smin+Smax)/2 for jittered S. multi: {S-32, S, S+32} for fixed S (32 scaled
        by crop/224 around the run's own S, so Q/S keeps the paper's ratio; never below the crop); {Smin,
        (Smin+Smax)/2, Smax} for jittered S."""
        lo, hi = train_scales
        if self is SINGLE:
            return [(lo + hi) // 2]
        if lo != hi:
            return [lo, (lo + hi) // 2, hi]
        step = 32 * crop / PAPER_CROP
        return sorted({max(crop, round(lo - step)), lo, round(lo + step)})


SINGLE = Protocol("single", centre=True)
MULTI = Protocol("multi", centre=False)
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (SINGLE, MULTI)}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"method {name!r}; expected one of {', '.join(METHODS)}")
    return METHODS[name]
