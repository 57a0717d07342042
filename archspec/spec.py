"""The spec language: a column of a paper's architecture table as text -> `ir.Network`.

A spec is a sequence of layer tokens separated by whitespace, newlines, `|` or `;`,
as a column of the VGG paper's Table 1 reads:

    input (224 × 224 RGB image)      # or: input 224x224x3
    conv3-64  LRN  maxpool  conv3-128 ...  FC-4096 FC-4096 FC-1000 soft-max

and, for the nets that came after, as the ResNet and GoogLeNet tables read:

    conv7-64/2 bn  maxpool3/2p1                        # stride after '/', padding after 'p'
    [conv1-64 bn; conv3-64 bn; conv1-256 bn] ×3        # a residual block, repeated (a stage)
    [conv1-128 bn; conv3-128/2 bn; conv1-512 bn] ×4    # the stride is on the conv that carries it
    { conv1-64 bn | conv1-96 bn conv3-128 bn | maxpool3/1p1ceil conv1-32 bn }   # branches, concatenated
    avgpool  dropout0.2  FC-1000  soft-max             # global average pool; written dropout

`#` starts a comment; keywords are case-insensitive; `×` and `x` are the same. A
block's shortcut is the identity where the block keeps its input's shape and a 1x1
projection conv (with batch norm, if the body has it) where it does not; write it
explicitly after `+` (`[conv3-64 bn conv3-64 bn + conv1-64/2 bn]`, or `+ identity`).
The first block of a stage is as written; the others have stride 1. `set bn-eps 0.001`
before the first layer sets every written batch norm's epsilon.

The parser checks the text and the order of layers; it then expands what the papers
imply but the tables omit into explicit IR nodes: ReLU after every hidden weight layer
(after its batch norm, if one is written; after the add for a block's last conv),
no conv bias before a written batch norm, dropout after the hidden FC layers unless a
spec writes its dropout. Shape problems (a pool that shrinks the map below 1x1, a
residual add of different shapes) are found by `archspec.infer`, which names the layer.
"""

from __future__ import annotations

import bisect
import difflib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from . import files, ir
from .errors import SpecError
from .ir import BatchNorm, Concat, Conv, Layer, Network, Residual, Shape, ShapeError, Src, Stage, channels

MAX_SIDE = 16384
MAX_INPUT_CHANNELS = 64
MAX_REPEAT = 1000
MAX_LAYERS = 10_000  # written layers once [ ... ] ×n is expanded: ResNet-152 has 306; 10,000 expand in seconds
DEFAULT_INPUT = Shape(channels=3, height=224, width=224)

_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<comment>\#[^\n]*)|(?P<sep>;)|(?P<bar>\|)|(?P<punct>[\[\]{}+])"
    r"|(?P<rep>[x×]\s*[0-9]+(?=[\s#|;\[\]{}+]|$))|(?P<word>[^\s#|;\[\]{}+]+)"
)
_X = r"\s*[x×]\s*"
_COLOUR = {"rgb": 3, "bgr": 3, "gray": 1, "grey": 1, "grayscale": 1, "greyscale": 1}
_INPUT_TABLE = re.compile(rf"input\s*\(\s*([0-9]+){_X}([0-9]+)(?:{_X}([0-9]+))?\s*(?:([a-z]+)\s+)?image\s*\)", re.I)
_INPUT_PLAIN = re.compile(rf"input\s+([0-9]+){_X}([0-9]+)(?:{_X}([0-9]+))?(?=[\s#|]|$)", re.I)
_INPUT_START = re.compile(r"input(?=[\s(#|]|$)", re.I)
_SET_START = re.compile(r"set(?=[\s#|]|$)", re.I)
_SET = re.compile(r"set\s+bn-eps\s+([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)(?=[\s#|;]|$)", re.I)
MAX_SPEC_BYTES = 1 << 20  # a spec is a column of a table: 1 MiB is thousands of layers
_IMPLIED = {"relu"}


def _written() -> list[type[Layer]]:
    """The kinds a spec writes, in the order their tokens are tried (`ir.KINDS`, with registered ones)."""
    return [kind for kind in ir.KINDS if kind.token]


def _expected_layer() -> str:
    return "a layer: " + ", ".join(kind.syntax for kind in _written() if kind.syntax)


def _examples() -> list[str]:
    return [kind.example for kind in _written() if kind.example] + ["input"]


class _Text:
    """Maps character offsets of one spec text to 1-based (line, col) and builds errors."""

    def __init__(self, text: str, path: str | None) -> None:
        self.text, self.path = text, path
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def src(self, offset: int, text: str) -> Src:
        line, col = self.pos(offset)
        return Src(path=self.path, line=line, col=col, text=text)

    def error(self, offset: int, found: str, expected: str, hint: str | None = None) -> SpecError:
        line, col = self.pos(offset)
        return SpecError(found, expected, path=self.path, line=line, col=col, hint=hint)


@dataclass
class _Item:
    """A parsed token or group, before the implied layers are added."""

    kind: str  # a layer kind ("conv", "fc", ...), "input", "stage" ([ ... ] ×n) or "branches"
    src: Src
    node: Layer | None = None
    values: tuple[int, ...] = ()  # input: (C, H, W)
    body: list[_Item] = field(default_factory=list)  # stage: one residual block as written
    shortcut: list[_Item] | None = None  # stage: None for auto, [] for the identity
    repeat: int = 1  # stage: its number of blocks
    branches: list[list[_Item]] = field(default_factory=list)


# ---------------------------------------------------------------- numbers


def _number(t: _Text, m: re.Match, group: int, what: str, lo: int, hi: int) -> int:
    digits, word = m.group(group), m.group(0)
    value = int(digits) if len(digits) <= 9 else hi + 1
    if not lo <= value <= hi:
        found = f"{what} {digits if len(digits) <= 12 else digits[:12] + '...'} in {word[:40]!r}"
        raise t.error(m.start(group), found, f"{what} from {lo} to {hi}")
    return value


# ---------------------------------------------------------------- tokens


def _input(t: _Text, offset: int) -> tuple[_Item, int]:
    m = _INPUT_TABLE.match(t.text, offset) or _INPUT_PLAIN.match(t.text, offset)
    if not m:
        line_end = t.text.find("\n", offset)
        found = t.text[offset : line_end if line_end >= 0 else None].strip()[:60]
        raise t.error(offset, repr(found), "'input (224 × 224 RGB image)' or 'input 224x224x3'")
    h = _number(t, m, 1, "input height", 1, MAX_SIDE)
    w = _number(t, m, 2, "input width", 1, MAX_SIDE)
    c = _number(t, m, 3, "input channels", 1, MAX_INPUT_CHANNELS) if m.group(3) else None
    colour = m.group(4) if m.re is _INPUT_TABLE else None
    if colour is not None:
        if colour.lower() not in _COLOUR:
            raise t.error(m.start(4), f"colour {colour!r}", "RGB or gray (or no colour word)")
        implied = _COLOUR[colour.lower()]
        if c is not None and c != implied:
            raise t.error(m.start(3), f"{c} channels for a {colour} image", f"{implied}")
        c = implied
    src = t.src(offset, re.sub(r"\s+", " ", m.group(0)))
    return _Item("input", src, values=(c or 3, h, w)), m.end()


def _suggest(word: str) -> str | None:
    """A hint for a word that is no layer: the spelling of a construct the language has, or a close match."""
    low = word.lower()
    nums = re.findall(r"[0-9]+", low)
    if low.startswith("conv") and re.search(r"s(tride)?[-_=]?[0-9]+$|,", low) and len(nums) >= 3:
        return f"strides are written conv{nums[0]}-{nums[1]}/{nums[2]}"
    if low.startswith("conv") and re.match(r"conv[0-9]+x[0-9]+", low):
        return f"kernels are written by one side: conv{nums[0]}-{nums[-1]}" if len(nums) == 3 else "e.g. conv3-64"
    if low.startswith("conv") and re.search(r"(pad|p)[-_=]?[0-9]+$", low) and len(nums) >= 3:
        return f"padding is written conv{nums[0]}-{nums[1]}p{nums[-1]} (after any /stride)"
    if low.startswith("conv") and len(nums) == 2:
        return f"did you mean 'conv{nums[0]}-{nums[1]}'?"
    if low.startswith("fc") and len(nums) == 1:
        return f"did you mean 'FC-{nums[0]}'?"
    if low in ("stride", "strides", "pad", "padding", "ceil"):
        return "strides and padding are written on the layer: conv7-64/2p3, maxpool3/2p1ceil"
    if re.fullmatch(r"(global[-_ ]?)?(avg|average)[-_ ]?pool(ing)?[0-9/]*|gap", low):
        return "global average pooling is written avgpool"
    if re.fullmatch(r"max[-_ ]?pool(ing)?[0-9x/p]*|pool", low):
        return "did you mean 'maxpool'? (maxpool3/2p1 is a 3x3 window, stride 2, padding 1)"
    if re.fullmatch(r"soft[-_ ]?max", low):
        return "did you mean 'soft-max'?"
    if low in ("concat", "inception", "branch", "branches", "cat"):
        return "parallel branches are written { conv1-64 | conv3-128 | ... } and concatenated"
    if low.startswith(("zeropad", "zero-pad", "zero_pad")) or low in ("pad", "option-a", "optiona"):
        return "the zero-padding shortcut (option A) is written zeropad-<c>/<stride>: [... + zeropad-32/2]"
    if low in ("residual", "shortcut", "add", "block", "downsample", "projection", "identity", "id"):
        return "residual blocks are written [conv3-64 bn conv3-64 bn] ×2; a shortcut after '+' inside the block"
    if low.startswith("dropout"):
        return "dropout is written dropout (p 0.5) or with its probability below 1, e.g. dropout0.2"
    if low in ("batch-norm", "batch_norm", "batchnorm2d", "norm"):
        return "batch norm is written bn"
    if low in _IMPLIED:
        return f"{word} is implied by the paper and not written in the table; remove it"
    examples = _examples()
    close = difflib.get_close_matches(low, [e.lower() for e in examples], n=1, cutoff=0.6)
    if close:
        return f"did you mean '{examples[[e.lower() for e in examples].index(close[0])]}'?"
    return None


def _leaf(t: _Text, offset: int, word: str) -> _Item:
    src = t.src(offset, word)
    for kind in _written():
        m = re.compile(kind.token, re.I).fullmatch(
            t.text, offset, offset + len(word)
        )  # in place: groups carry file offsets
        if m:

            def num(group, what, lo, hi, m=m):
                return _number(t, m, group, what, lo, hi)

            try:
                node = kind.read(m, num)
            except ShapeError as e:  # a value the kind refuses: at its first number
                raise t.error(m.start(1) if m.lastindex else offset, e.found, e.expected, e.hint) from None
            return _Item(node.kind, src, node=node.model_copy(update={"src": src}))
    raise t.error(offset, repr(word[:40]), _expected_layer(), _suggest(word))


def _lex(t: _Text) -> list[tuple[str, int, str, _Item | None]]:
    """(type, offset, text, item): words become items; punctuation, bars and repeats stay as they are."""
    out, offset = [], 0
    eps = None
    while offset < len(t.text):
        m = _TOKEN.match(t.text, offset)
        kind = m.lastgroup
        if kind == "word" and _INPUT_START.match(t.text, offset):
            item, end = _input(t, offset)
            out.append(("item", offset, item.src.text, item))
            offset = end
            continue
        if kind == "word" and _SET_START.match(t.text, offset):
            s = _SET.match(t.text, offset)
            if not s:
                found = t.text[offset : t.text.find("\n", offset) if "\n" in t.text[offset:] else None].strip()
                raise t.error(offset, repr(found[:60]), "'set bn-eps <value>', e.g. set bn-eps 0.001")
            if any(o[0] != "set" and not (o[3] and o[3].kind == "input") for o in out):
                raise t.error(offset, "'set' after the first layer", "settings before the first layer")
            eps = float(s.group(1))
            if not 0 < eps < 1:
                raise t.error(s.start(1), f"bn-eps {s.group(1)}", "an epsilon between 0 and 1")
            out.append(("set", offset, s.group(0), None))
            offset = s.end()
            continue
        if kind == "word" and m.group().lower() in ("identity", "id"):
            out.append(("identity", offset, m.group(), None))
        elif kind == "word":
            item = _leaf(t, offset, m.group())
            if eps is not None and isinstance(item.node, BatchNorm):
                item.node = item.node.model_copy(update={"eps": eps})
            out.append(("item", offset, m.group(), item))
        elif kind in ("punct", "bar", "rep"):
            out.append((kind if kind != "punct" else m.group(), offset, m.group(), None))
        offset = m.end()
    return [o for o in out if o[0] != "set"]


class _Parser:
    """Recursive descent over the lexemes: sequences, stages [ ... ] ×n and { branches | ... }."""

    def __init__(self, t: _Text, lexemes) -> None:
        self.t, self.lx, self.i = t, lexemes, 0
        self.inside: str | None = None  # the group being read: groups do not nest, so neither does recursion

    def error(self, offset: int, found: str, expected: str, hint: str | None = None) -> SpecError:
        return self.t.error(offset, found, expected, hint)

    def peek(self):
        return self.lx[self.i] if self.i < len(self.lx) else None

    def seq(self, closers: tuple[str, ...]) -> list[_Item]:
        items: list[_Item] = []
        while (lx := self.peek()) is not None and lx[0] not in closers:
            typ, offset, text, item = lx
            self.i += 1
            if typ == "item":
                items.append(item)
            elif typ in ("[", "{") and self.inside:
                raise self.error(
                    offset,
                    f"{'a residual block' if typ == '[' else 'branches'} inside {self.inside}",
                    "[ ] and { } groups at the top level (torchvision's layouts do not nest them)",
                )
            elif typ == "[":
                items.append(self.group("a residual block", self.stage, offset))
            elif typ == "{":
                items.append(self.group("a branch", self.branches, offset))
            elif typ == "bar":
                continue  # outside { }, '|' separates tokens as in a printed table
            elif typ == "rep":
                after = f" after {items[-1].src.text!r}" if items else ""
                raise self.error(offset, f"{text!r}{after}", "a repeat ×n right after a residual block [ ... ]")
            elif typ == "identity":
                raise self.error(
                    offset,
                    f"{text!r} outside a shortcut",
                    "identity right after a block's '+'",
                    "residual blocks are written [conv3-64 bn conv3-64 bn + identity] ×2",
                )
            elif typ == "+":
                raise self.error(offset, "'+' outside a residual block", "'+' inside [ ... ] before its shortcut")
            else:  # a closer of an outer group that is not ours
                raise self.error(offset, f"an unmatched {text!r}", f"{' or '.join(map(repr, closers)) or 'a layer'}")
        return items

    def group(self, inside: str, read, offset: int) -> _Item:
        self.inside = inside
        try:
            return read(offset)
        finally:
            self.inside = None

    def close(self, opener: str, offset: int, closer: str) -> tuple[str, int, str, None]:
        lx = self.peek()
        if lx is None or lx[0] != closer:
            raise self.error(offset, f"an unclosed {opener!r}", f"{closer!r} to close it")
        self.i += 1
        return lx

    def stage(self, offset: int) -> _Item:
        """`[ body + shortcut ] ×n`: a stage of n residual blocks."""
        body = self.seq(("]", "+"))
        if not body:
            raise self.error(offset, "an empty residual block", "layers inside [ ... ]")
        shortcut = None
        if (lx := self.peek()) is not None and lx[0] == "+":
            self.i += 1
            if (lx := self.peek()) is not None and lx[0] == "identity":
                self.i += 1
                shortcut = []
            else:
                shortcut = self.seq(("]",))
                if not shortcut:
                    raise self.error(
                        lx[1] if lx else offset,
                        "an empty shortcut after '+'",
                        "a projection (conv1-<c>/<stride> bn), zeropad-<c>/<stride> or identity",
                    )
        self.close("[", offset, "]")
        repeat = 1
        if (lx := self.peek()) is not None and lx[0] == "rep":
            self.i += 1
            m = re.compile(r"[0-9]+").search(self.t.text, lx[1])
            repeat = _number(self.t, m, 0, "repeat count", 1, MAX_REPEAT)
        first = body[0].src.text
        src = self.t.src(offset, f"[{first} ...]" + (f" ×{repeat}" if repeat > 1 else ""))
        return _Item("stage", src, body=body, shortcut=shortcut, repeat=repeat)

    def branches(self, offset: int) -> _Item:
        branches = [self.seq(("}", "bar"))]
        while (lx := self.peek()) is not None and lx[0] == "bar":
            self.i += 1
            branches.append(self.seq(("}", "bar")))
        self.close("{", offset, "}")
        for branch in branches:
            if not branch:
                raise self.error(offset, "an empty branch in { ... }", "layers in every branch, separated by '|'")
        first = branches[0][0].src.text
        return _Item("branches", self.t.src(offset, f"{{{first} | ...}}"), branches=branches)


# ---------------------------------------------------------------- structure


def _where(item: _Item) -> tuple[int, int]:
    return item.src.line, item.src.col


def _check_group(t: _Text, items: list[_Item], what: str) -> None:
    for item in items:  # a group inside a group is refused by the parser
        if item.node is None or not item.node.on_maps:  # an input line, an FC layer, ...
            line, col = _where(item)
            raise SpecError(
                f"{item.src.text!r} inside {what}",
                f"map layers inside [ ] and {{ }} ({', '.join(k.syntax for k in _written() if k.on_maps)}); "
                "FC layers come last",
                path=t.path,
                line=line,
                col=col,
            )


def _check_shortcut_only(t: _Text, item: _Item) -> None:
    """A shortcut-only kind (zeropad) stands alone after a block's '+': not at the top level, in a body, beside
    other layers in a shortcut or in a branch."""
    alone = item.shortcut[0] if item.shortcut is not None and len(item.shortcut) == 1 else None
    places = [([item], "outside a residual block"), (item.body, "in a block's body")]
    places += [(item.shortcut or [], "beside other layers in a shortcut")] + [(b, "in a branch") for b in item.branches]
    for seq, place in places:
        for x in seq:
            if x.node is not None and x.node.shortcut_only and x is not alone:
                raise SpecError(
                    f"{x.src.text!r} {place}",
                    f"{type(x.node).syntax} alone as a residual block's shortcut, after '+' ([... + {x.node.example}])",
                    path=t.path,
                    line=x.src.line,
                    col=x.src.col,
                )


def _order(t: _Text, items: list[_Item]) -> tuple[Shape, list[_Item]]:
    """Check the order of the top-level items; return the input shape and the layer items."""
    shape, layers = None, []
    for tok in items:
        line, col = _where(tok)
        last = layers[-1] if layers else None
        err = None
        if tok.kind == "input":
            if shape is not None:
                err = ("a second input line", "one input line")
            elif layers:
                err = (f"input after {layers[0].src.text!r}", "the input line before the first layer")
            else:
                shape = Shape(channels=tok.values[0], height=tok.values[1], width=tok.values[2])
                continue
        elif last is not None and last.kind == "softmax":
            err = (f"{tok.src.text!r} after soft-max", "soft-max to be the last layer")
        elif last is not None and last.kind in ("fc", "dropout") and tok.kind not in ("fc", "dropout", "softmax"):
            after = next(x for x in reversed(layers) if x.kind == "fc") if any(x.kind == "fc" for x in layers) else None
            if after is not None:
                err = (f"{tok.src.text!r} after {after.src.text!r}", "FC-<n> or soft-max (FC layers come last)")
        elif tok.kind == "softmax" and (last is None or last.kind != "fc"):
            err = ("soft-max without an FC layer before it", "FC-<n> before soft-max")
        if err:
            raise SpecError(*err, path=t.path, line=line, col=col)
        _check_shortcut_only(t, tok)
        if tok.kind == "stage":
            _check_group(t, tok.body + (tok.shortcut or []), "a residual block")
            for part in filter(None, (tok.body, tok.shortcut)):
                if not any(i.node is not None and (i.node.weight or i.node.shortcut_only) for i in part):
                    what = "a shortcut" if part is tok.shortcut else "a residual block"
                    raise SpecError(
                        f"{what} without a conv", "at least one conv<k>-<c> in it", path=t.path, line=line, col=col
                    )
        elif tok.kind == "branches":
            _check_group(t, [i for b in tok.branches for i in b], "a branch")
        other = {"stage": "branches", "branches": "stage"}.get(tok.kind)
        if other and any(x.kind == other for x in layers):
            raise SpecError(
                f"{'a residual block' if tok.kind == 'stage' else 'branches'} in a net with "
                f"{'branches' if tok.kind == 'stage' else 'residual blocks'}",
                "one family per net: residual stages (ResNet) or branches (Inception), as torchvision lays them out",
                path=t.path,
                line=line,
                col=col,
            )
        layers.append(tok)
    if not layers:
        line, col = t.pos(len(t.text.rstrip()) if t.text.strip() else 0)
        raise SpecError("no layers", f"at least one layer ({_expected_layer()})", path=t.path, line=line, col=col)
    if not any(n.weight for n in _all_nodes(layers)):
        line, col = _where(layers[0])
        raise SpecError("no weight layer", "at least one conv<k>-<c> or FC-<n>", path=t.path, line=line, col=col)
    return shape or DEFAULT_INPUT, layers


def _all_nodes(items: list[_Item]):
    for item in items:
        if item.node is not None:
            yield item.node
        yield from _all_nodes(item.body + (item.shortcut or []) + [i for b in item.branches for i in b])


def _check_size(t: _Text, items: list[_Item]) -> None:
    """Refuse, before anything is expanded, a net of more than MAX_LAYERS written layers once its blocks are
    repeated: the error names the item that crosses the bound."""
    total = 0
    for item in items:
        total += _size(item)
        if total > MAX_LAYERS:
            line, col = _where(item)
            raise SpecError(
                f"{item.src.text!r}, which brings the net to {total:,} layers once its blocks are repeated",
                f"at most {MAX_LAYERS:,} layers (ResNet-152 has 306)",
                path=t.path,
                line=line,
                col=col,
            )


def _size(item: _Item) -> int:
    """Written layers an item expands to: a stage's block n times, every branch, else the layer itself."""
    inner = sum(map(_size, item.body + (item.shortcut or []) + [i for b in item.branches for i in b]))
    return item.repeat * inner if item.kind in ("stage", "branches") else int(item.kind != "input")


# ---------------------------------------------------------------- implied layers


class _Imply:
    """Expands items into IR nodes, adding what the papers imply (see the module docstring); each kind says
    what it implies, how it changes channels and stride and what it becomes in a stage's later blocks."""

    def __init__(self, items: list[_Item]) -> None:
        heads = [i for i, it in enumerate(items) if it.node is not None and it.node.weight and not it.node.on_maps]
        self.last_fc = max(heads, default=None)  # the class layer: no ReLU after it
        self.dropout_written = any(it.kind == "dropout" for it in items)

    def seq(self, items: list[_Item], c: int, top: bool = False, residual: bool = False) -> tuple[Layer, ...]:
        out: list[Layer] = []
        weights = [j for j, it in enumerate(items) if it.node is not None and it.node.weight]
        i = 0
        while i < len(items):
            it = items[i]
            if it.kind == "stage":
                out.append(self.stage(it, channels(tuple(out), c)))
            elif it.kind == "branches":
                c_in = channels(tuple(out), c)
                out.append(Concat(branches=tuple(self.seq(b, c_in) for b in it.branches), src=it.src))
            else:
                j, node = i, it.node
                bn = items[i + 1].node if i + 1 < len(items) and items[i + 1].kind == "batchnorm" else None
                out.append(node.before_batch_norm() if bn is not None else node)
                if node.weight and bn is not None:
                    out.append(bn)
                    i += 1
                if not ((top and j == self.last_fc) or (residual and j in weights[-1:])):
                    out.extend(node.implied(dropout=not self.dropout_written))
            i += 1
        return tuple(out)

    def stage(self, it: _Item, c_in: int) -> Stage:
        blocks, c = [], c_in
        for j in range(it.repeat):
            body = self.seq(it.body, c, residual=True)
            if j:  # later blocks: stride 1, identity where the shape allows
                body = tuple(n.repeated() for n in body)
            written = it.shortcut if j == 0 else None
            short = (
                self.seq(written, c, residual=True)
                if written
                else ()
                if written is not None
                else self.auto(body, c, it.src)
            )
            blocks.append(Residual(body=body, shortcut=short, src=it.src))
            c = channels(body, c)
        return Stage(blocks=tuple(blocks), src=it.src)

    @staticmethod
    def auto(body: tuple[Layer, ...], c_in: int, src: Src) -> tuple[Layer, ...]:
        """ResNet's option B: the identity where the block keeps its shape, else a 1x1 projection with the
        block's stride (and batch norm if the body has it), as torchvision's `downsample`."""
        c_out, stride = channels(body, c_in), math.prod(n.reduction() for n in body)
        if c_out == c_in and stride == 1:
            return ()
        norm = [n for n in body if n.in_projection]
        proj = Conv(kernel=1, out_channels=c_out, stride=stride, bias=not norm, src=src)
        return (proj, norm[0].model_copy(update={"src": src})) if norm else (proj,)


# ---------------------------------------------------------------- entry points


def _ascii_digits(t: _Text) -> None:
    """Digits are ASCII: a full-width or other script's decimal digit outside a comment is an error that shows
    the ASCII spelling."""
    for m in re.finditer(r"[^\x00-\x7f]", t.text):
        line_start = t.text.rfind("\n", 0, m.start()) + 1
        if not m.group().isdecimal() or "#" in t.text[line_start : m.start()]:
            continue
        end = re.search(r"[\s#|]|$", t.text[m.start() :]).start() + m.start()
        start = max(line_start, *(t.text.rfind(c, 0, m.start()) + 1 for c in " \t|"))
        word = t.text[start:end]
        fixed = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in word)
        raise t.error(
            m.start(),
            f"the non-ASCII digit {m.group()!r} in {word!r}",
            "ASCII digits 0-9",
            f"did you mean {fixed!r}?",
        )


def parse(text: str, *, name: str = "spec", path: str | None = None) -> Network:
    """Parse spec text into a `Network`; raises `SpecError` naming file:line:col."""
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark, as some editors write
    t = _Text(text, path)
    _ascii_digits(t)
    parser = _Parser(t, _lex(t))
    items = parser.seq(())
    _check_size(t, items)
    shape, layers = _order(t, items)
    return Network(name=name, input=shape, layers=_Imply(layers).seq(layers, shape.channels, top=True), source=path)


def read_text(path: str | Path) -> str:
    """A spec file as UTF-8 text: only a regular file of at most 1 MiB is read (a device, a FIFO or a runaway
    file is refused before a byte is read)."""
    return files.read_text(path, "a spec file", MAX_SPEC_BYTES)


def load(path: str | Path) -> Network:
    """Read and parse a spec file; the network is named after the file (`specs/D.txt` -> `D`)."""
    p = Path(path)
    return parse(read_text(p), name=p.stem, path=str(p))
