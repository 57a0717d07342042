"""Where a network comes from: a spec file, a registered name (`D`, `vgg16_bn`), spec text or a `Network`,
with the model overrides applied and every shape checked (what the facade's `network` is)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from . import registry
from .errors import ArchspecError
from .infer import infer
from .ir import Network
from .passes import Overrides, parse_shape
from .spec import load, parse


def _is_file_path(text: str) -> bool:
    try:
        return "\n" not in text and text.strip() != "" and Path(text).exists()
    except OSError:  # e.g. spec text longer than a file name may be
        return False


def resolve(source: str | Path | Network) -> Network:
    """A spec file path, a registry name (`D`, `vgg16_bn`), spec text or a Network -> Network."""
    if isinstance(source, Network):
        return source
    text = str(source)
    if not text.strip():
        raise ArchspecError(f"{text!r}: an empty name; expected a spec file, a registered name or spec text")
    if isinstance(source, Path) or _is_file_path(text):
        if registry.lookup(text) is not None:
            warnings.warn(
                f"{text}: a file of that name is here, so it was used, not the registered spec {text} "
                f"(ask for the registered one as {registry.lookup(text)[0]})",
                stacklevel=2,
            )
        return load(source)
    one_line = text.strip()
    if "\n" not in text and (
        re.search(r"\.[A-Za-z][A-Za-z0-9]{0,4}$", one_line) or (re.search(r"[/\\]", one_line) and " " not in one_line)
    ):  # a file name, or a path; spec text has spaces between its tokens (and strides such as conv7-64/2)
        raise ArchspecError(f"{text}: no such file; expected a spec file, a registered name or spec text")
    if (found := registry.lookup(text)) is not None:
        path, bn = found
        net = load(path)
        return Overrides(batch_norm=True).apply(net) if bn else net
    if any(ch.isspace() for ch in text.strip()) or "\n" in text:
        return parse(text)
    raise ArchspecError(
        f"{text}: no such file or registered spec; expected a spec file or one of "
        f"{', '.join(registry.names())} (or vgg11/13/16/19[_bn])"
    )


def spec_file(source: str | Path | Network) -> Path | None:
    """The file `source` is read from, as `resolve` finds it: a path, or a registered name's spec file."""
    if isinstance(source, Network):
        return None
    if isinstance(source, Path) or _is_file_path(str(source)):
        return Path(source)
    found = registry.lookup(str(source))
    return found[0] if found else None


def network(
    source: str | Path | Network,
    *,
    num_classes: int | None = None,
    input: str | None = None,
    width: float | None = None,
    batch_norm: bool = False,
) -> Network:
    """Resolve `source` and apply overrides; validates shapes (raises `SpecError` naming the layer)."""
    shape = parse_shape(input) if input is not None else None
    ov = Overrides(num_classes=num_classes, input=shape, width=width, batch_norm=batch_norm)
    net = ov.apply(resolve(source))
    infer(net)  # every shape problem surfaces here, not later inside torch
    return net
