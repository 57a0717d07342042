"""`archspec export RUN -o model.pt2` (or `model.onnx`): a trained run as one file that runs without archspec.

The exported program takes images with pixels in [0, 1], (N, C, crop, crop), already rescaled (smallest side Q)
and centre-cropped, and returns class logits: the training set's mean RGB (and, for model-zoo weights, the std)
is subtracted inside the program, so nothing about preprocessing has to be remembered. The file also carries
the metadata (classes, mean, std, crop, training scale, which weights): a `.pt2` as `archspec.json`, read with
`torch.export.load(path, extra_files={"archspec.json": ""})`, an `.onnx` as the model's metadata properties
(`onnxruntime.InferenceSession(path).get_modelmeta().custom_metadata_map`, each value JSON text). The
extension picks the format (`archspec.compiler.export`). A Triton-backend run exports its eager equivalent
(same weights, same outputs).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from archspec.compiler.export import check_export, export

from ..training import checkpoint
from .evaluate import load_source


class Preprocessed(nn.Module):
    """(x - mean) / std, then the network: x (N, C, H, W) in [0, 1]."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)  # (N, classes)


def export_run(run: str | Path, output: str | Path, weights: str = "final", opset: int | None = None) -> Path:
    folder = Path(run)
    files = list(folder.iterdir()) if folder.is_dir() else [folder]
    check_export(output, files, role=f"a file of the run {run}", opset=opset)
    source = load_source(str(run), weights=weights)  # the model and normalisation `archspec eval` uses
    path = checkpoint.weights_of(run, weights)
    info = {
        "classes": source.classes,
        "mean": list(source.mean),
        "std": list(source.std),
        "crop": source.crop,
        "train_scales": list(source.train_scales),
        "test_scale": source.data.test_scale,
        "weights": str(path),
        "input": "float32 (N, C, crop, crop), pixels in [0, 1]: smallest side rescaled to test_scale, centre "
        "crop; the mean is subtracted inside",
        "archspec_network": source.model.net.name,
    }
    model = source.model.to(memory_format=torch.contiguous_format)  # eval's channels-last would split weights
    return export(
        model,
        output,
        wrap=lambda m: Preprocessed(m, source.mean, source.std),
        metadata=info,
        opset=opset,
    )
