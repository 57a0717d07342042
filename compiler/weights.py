"""Loading reference weights into compiled modules, without executing pickled code.

Files: `.safetensors`, or torch files read with `torch.load(weights_only=True)`.
Layouts: torchvision's (the compiled module's own) and timm's, whose head is
`pre_logits.fc1` (a 7x7 conv), `pre_logits.fc2` (1x1 conv) and `head.fc`; timm
tensors are renamed and flattened to torchvision's `classifier.0|3|6`.
A checkpoint for another network fails with one line naming the first layer
that does not match.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from archspec.errors import ArchspecError
from archspec.files import regular
from archspec.ir import walk

from .layout import module_paths

_TIMM_HEAD = {"pre_logits.fc1.": "classifier.0.", "pre_logits.fc2.": "classifier.3.", "head.fc.": "classifier.6."}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    regular(path, "a checkpoint (.safetensors, .pt, .pth)")  # a FIFO is never opened; no permission is not "missing"
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign files raise many types; report one line
        raise ArchspecError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ArchspecError(f"{path}: found a {type(state).__name__}; expected a state dict of tensors")
    return state


def from_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm VGG layout -> torchvision layout (conv-shaped FC weights flattened)."""
    out = {}
    for key, value in state.items():
        for old, new in _TIMM_HEAD.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                if key.endswith("weight") and value.dim() == 4:
                    value = value.flatten(1)  # (out, C, kh, kw) -> (out, C*kh*kw), torch's flatten order
        out[key] = value
    return out


def describe(model: nn.Module, key: str) -> str:
    """`features.1.weight` -> `features.1.weight (batchnorm for conv3-64 at specs/A.txt:3:1)`."""
    net = getattr(model, "net", None)
    if net is None:
        return key
    owner = dict(zip(module_paths(net), walk(net.layers), strict=True)).get(key.rsplit(".", 1)[0])
    if owner is None or owner.src is None:
        return key
    what = owner.label if owner.label == owner.src.text else f"{owner.label} for {owner.src.text}"
    return f"{key} ({what} at {owner.src})"


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Load a torchvision- or timm-layout state dict strictly; mismatches name the layer."""
    if any(k.startswith("pre_logits.") for k in state):
        state = from_timm(state)
    own = model.state_dict()
    for key, tensor in own.items():
        if key not in state:
            raise ArchspecError(f"{source}: found no {describe(model, key)}; expected a checkpoint of this network")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ArchspecError(
                f"{source}: found {describe(model, key)} of shape {tuple(state[key].shape)}; "
                f"expected {tuple(tensor.shape)}"
            )
    extra = sorted(set(state) - set(own))
    if extra:
        raise ArchspecError(f"{source}: found {extra[0]} (and {len(extra) - 1} more); expected no such layer")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        warnings.warn(
            f"{source}: {len(bad)} tensor(s) hold NaN or infinite values (first: {describe(model, bad[0])}); "
            "the model's outputs will not be finite",
            stacklevel=2,
        )
    model.load_state_dict(state, strict=True)
    return model


def load_pretrained(model: nn.Module, path: str | Path) -> nn.Module:
    """Read a checkpoint file and load it into `model` (see `load_weights`)."""
    return load_weights(model, read_state_dict(path), str(path))
