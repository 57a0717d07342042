"""The spec language: Table 1 columns as text -> `ir.Network`.

A spec is a sequence of layer tokens separated by whitespace, newlines or `|`,
exactly as a column of the paper's Table 1 reads:

    input (224 × 224 RGB image)      # or: input 224x224x3
    conv3-64  LRN  maxpool  conv3-128 ...  FC-4096 FC-4096 FC-1000 soft-max

`#` starts a comment; keywords are case-insensitive; `×` and `x` are the same.
The parser checks the text and the order of layers; it then expands what the
paper implies but the table omits (ReLU after every hidden weight layer, dropout
after the hidden FC layers) into explicit IR nodes. Shape problems (a pool that
shrinks the map below 1x1) are found by `archspec.infer`, which names the layer.
"""

from __future__ import annotations

import bisect
import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import ArchspecError, SpecError
from .ir import FC, LRN, Conv, Dropout, MaxPool, Network, ReLU, Shape, Softmax, Src

MAX_KERNEL = 31
MAX_CHANNELS = 65536
MAX_FEATURES = 1_000_000
MAX_SIDE = 16384
MAX_INPUT_CHANNELS = 64
DEFAULT_INPUT = Shape(channels=3, height=224, width=224)

_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<comment>\#[^\n]*)|(?P<sep>\|)|(?P<word>[^\s#|]+)")
_X = r"\s*[x×]\s*"
_COLOUR = {"rgb": 3, "bgr": 3, "gray": 1, "grey": 1, "grayscale": 1, "greyscale": 1}
_INPUT_TABLE = re.compile(rf"input\s*\(\s*([0-9]+){_X}([0-9]+)(?:{_X}([0-9]+))?\s*(?:([a-z]+)\s+)?image\s*\)", re.I)
_INPUT_PLAIN = re.compile(rf"input\s+([0-9]+){_X}([0-9]+)(?:{_X}([0-9]+))?(?=[\s#|]|$)", re.I)
_INPUT_START = re.compile(r"input(?=[\s(#|]|$)", re.I)
_CONV = re.compile(r"conv([0-9]+)-([0-9]+)", re.I)
_FC = re.compile(r"fc-([0-9]+)", re.I)
MAX_SPEC_BYTES = 1 << 20  # a spec is a column of a table: 1 MiB is thousands of layers
_KEYWORDS = {"maxpool": "maxpool", "lrn": "lrn", "soft-max": "softmax", "softmax": "softmax"}
_IMPLIED = {"relu", "dropout", "bn", "batchnorm"}
_EXAMPLES = ["conv3-64", "maxpool", "LRN", "FC-4096", "soft-max", "input"]
EXPECTED_LAYER = "a layer: conv<k>-<c>, maxpool, LRN, FC-<n> or soft-max"


@dataclass(frozen=True)
class _Token:
    kind: str  # conv | fc | maxpool | lrn | softmax | input
    src: Src
    values: tuple[int, ...] = ()


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


# ---------------------------------------------------------------- numbers


def _number(t: _Text, m: re.Match, group: int, what: str, lo: int, hi: int) -> int:
    digits, word = m.group(group), m.group(0)
    value = int(digits) if len(digits) <= 9 else hi + 1
    if not lo <= value <= hi:
        found = f"{what} {digits if len(digits) <= 12 else digits[:12] + '...'} in {word[:40]!r}"
        raise t.error(m.start(group), found, f"{what} from {lo} to {hi}")
    return value


def _check_kernel(t: _Text, m: re.Match) -> int:
    k = _number(t, m, 1, "kernel size", 1, MAX_KERNEL)
    if k % 2 == 0:
        raise t.error(
            m.start(1),
            f"even kernel size {k} in {m.group(0)!r}",
            "an odd kernel size (1, 3, 5, ...)",
            "stride-1 'same' convolutions keep the map size only with odd kernels",
        )
    return k


# ---------------------------------------------------------------- tokens


def _suggest(word: str) -> str | None:
    low = word.lower()
    nums = re.findall(r"[0-9]+", low)
    if low.startswith("conv") and len(nums) == 2:
        return f"did you mean 'conv{nums[0]}-{nums[1]}'?"
    if low.startswith("fc") and len(nums) == 1:
        return f"did you mean 'FC-{nums[0]}'?"
    if re.fullmatch(r"max[-_ ]?pool(ing)?|pool", low):
        return "did you mean 'maxpool'?"
    if re.fullmatch(r"soft[-_ ]?max", low):
        return "did you mean 'soft-max'?"
    if low in _IMPLIED:
        return f"{word} is implied by the paper and not written in the table; remove it"
    close = difflib.get_close_matches(low, [e.lower() for e in _EXAMPLES], n=1, cutoff=0.6)
    if close:
        return f"did you mean '{_EXAMPLES[[e.lower() for e in _EXAMPLES].index(close[0])]}'?"
    return None


def _input(t: _Text, offset: int) -> tuple[_Token, int]:
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
    return _Token("input", src, (c or 3, h, w)), m.end()


def _word(t: _Text, offset: int, word: str) -> _Token:
    src = t.src(offset, word)
    low = word.lower()
    if low in _KEYWORDS:
        return _Token(_KEYWORDS[low], src)
    if _CONV.fullmatch(word):
        m = _CONV.match(t.text, offset)  # matched in place so groups carry file offsets
        k = _check_kernel(t, m)
        return _Token("conv", src, (k, _number(t, m, 2, "channel count", 1, MAX_CHANNELS)))
    if _FC.fullmatch(word):
        m = _FC.match(t.text, offset)
        return _Token("fc", src, (_number(t, m, 1, "FC width", 1, MAX_FEATURES),))
    raise t.error(offset, repr(word[:40]), EXPECTED_LAYER, _suggest(word))


def _tokens(t: _Text) -> list[_Token]:
    tokens, offset = [], 0
    while offset < len(t.text):
        m = _TOKEN.match(t.text, offset)
        if m.lastgroup == "word" and _INPUT_START.match(t.text, offset):
            token, offset = _input(t, offset)
            tokens.append(token)
            continue
        if m.lastgroup == "word":
            tokens.append(_word(t, offset, m.group()))
        offset = m.end()
    return tokens


# ---------------------------------------------------------------- structure


def _order(t: _Text, tokens: list[_Token]) -> tuple[Shape, list[_Token]]:
    """Check the order of tokens; return the input shape and the layer tokens."""
    shape, layers = None, []
    for tok in tokens:
        off = (tok.src.line, tok.src.col)
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
        elif last is not None and last.kind == "fc" and tok.kind not in ("fc", "softmax"):
            err = (f"{tok.src.text!r} after {last.src.text!r}", "FC-<n> or soft-max (FC layers come last)")
        elif tok.kind == "softmax" and (last is None or last.kind != "fc"):
            err = ("soft-max without an FC layer before it", "FC-<n> before soft-max")
        if err:
            raise SpecError(*err, path=t.path, line=off[0], col=off[1])
        layers.append(tok)
    if not layers:
        line, col = t.pos(len(t.text.rstrip()) if t.text.strip() else 0)
        raise SpecError("no layers", f"at least one layer ({EXPECTED_LAYER})", path=t.path, line=line, col=col)
    if not any(tok.kind in ("conv", "fc") for tok in layers):
        first = layers[0].src
        raise SpecError(
            "no weight layer", "at least one conv<k>-<c> or FC-<n>", path=t.path, line=first.line, col=first.col
        )
    return shape or DEFAULT_INPUT, layers


def _imply(layers: list[_Token]):
    """Expand table tokens into explicit IR nodes, adding what the paper implies."""
    last_fc = max((i for i, tok in enumerate(layers) if tok.kind == "fc"), default=None)
    for i, tok in enumerate(layers):
        if tok.kind == "conv":
            yield Conv(kernel=tok.values[0], out_channels=tok.values[1], src=tok.src)
            yield ReLU(src=tok.src)
        elif tok.kind == "fc":
            yield FC(out_features=tok.values[0], src=tok.src)
            if i != last_fc:
                yield ReLU(src=tok.src)
                yield Dropout(p=0.5, src=tok.src)
        elif tok.kind == "maxpool":
            yield MaxPool(src=tok.src)
        elif tok.kind == "lrn":
            yield LRN(src=tok.src)
        elif tok.kind == "softmax":
            yield Softmax(src=tok.src)


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
    shape, layers = _order(t, _tokens(t))
    return Network(name=name, input=shape, layers=tuple(_imply(layers)), source=path)


def read_text(path: str | Path) -> str:
    """Read a spec file as UTF-8, turning every file problem into one clear error. Only regular files of at
    most 1 MiB are read: a device, a FIFO or a runaway file is refused before a byte is read."""
    import os
    import stat

    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        problem = "a broken symlink" if p.is_symlink() else "no such file"
        raise ArchspecError(f"{p}: {problem}; expected a spec file") from None
    except OSError as e:
        problem = "a symlink loop" if e.errno == 40 else e.strerror  # ELOOP
        raise ArchspecError(f"{p}: cannot read ({problem}); expected a readable spec file") from None
    if stat.S_ISDIR(info.st_mode):
        raise ArchspecError(f"{p}: is a directory; expected a spec file")
    if not stat.S_ISREG(info.st_mode):
        raise ArchspecError(f"{p}: is not a regular file (a device, FIFO or socket); expected a spec file")
    if info.st_size > MAX_SPEC_BYTES:
        raise ArchspecError(f"{p}: {info.st_size:,} bytes; expected a spec file of at most {MAX_SPEC_BYTES:,} bytes")
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise ArchspecError(
            f"{p}: cannot read ({e.strerror or os.strerror(e.errno)}); expected a readable spec file"
        ) from None
    if len(data) > MAX_SPEC_BYTES:
        raise ArchspecError(f"{p}: more than {MAX_SPEC_BYTES:,} bytes; expected a spec file of at most that")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        good = data[: e.start].decode("utf-8")
        line, col = _Text(good, None).pos(len(good))
        raise SpecError(
            f"byte 0x{data[e.start]:02x} that is not UTF-8", "UTF-8 text", path=str(p), line=line, col=col
        ) from None


def load(path: str | Path) -> Network:
    """Read and parse a spec file; the network is named after the file (`specs/D.txt` -> `D`)."""
    p = Path(path)
    return parse(read_text(p), name=p.stem, path=str(p))
