"""`archspec export RUN`: the trained weights with their preprocessing, loadable with torch alone."""

import json

import pytest
import torch

from archspec.errors import ArchspecError
from archspec.harness import Recipe, TrainConfig, train
from archspec.harness.evaluation.evaluate import load_source
from archspec.harness.evaluation.export_run import export_run
from archspec.harness.training.checkpoint import read_run

from ..conftest import TINY, synthetic


def test_exported_run_subtracts_the_mean_inside_and_matches_the_run(tmp_path):
    cfg = TrainConfig(
        spec=TINY,
        data=synthetic(),
        out=str(tmp_path / "run"),
        backend="torch",
        progress=False,
        recipe=Recipe(epochs=1, batch=16, init="glorot"),
    )
    train(cfg)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    for name in ("model.safetensors", "best.safetensors", "run.json", "checkpoint.pt"):  # never its own run
        with pytest.raises(ArchspecError, match=rf"run/{name}: is a file of the run .*run; expected another path"):
            export_run(tmp_path / "run", tmp_path / "run" / name)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    path = export_run(tmp_path / "run", tmp_path / "model.pt2")
    extra = {"archspec.json": ""}
    program = torch.export.load(path, extra_files=extra)
    info = json.loads(extra["archspec.json"])
    stats = read_run(tmp_path / "run")[3]
    assert info["classes"] == read_run(tmp_path / "run")[2] and info["mean"] == list(stats.mean) and info["crop"] == 16
    x = torch.rand(4, 3, 16, 16)  # pixels in [0, 1], as the metadata says
    source = load_source(str(tmp_path / "run"))
    torch.testing.assert_close(program.module()(x), source.model(source.normalise(x)))


def test_a_trained_runs_onnx_export_classifies_an_embedded_image_as_the_run_does(tmp_path):
    """Two SGD steps on the embedded Fashion-MNIST subset, then the run as ONNX: onnxruntime, given a test image
    in [0, 1] rescaled and centre-cropped as the metadata says, gives the logits `archspec eval` computes."""
    import onnxruntime as ort

    from archspec.harness.training.augment import centre
    from archspec.harness.training.data import load_small

    spec = "conv3-8 maxpool conv3-16 maxpool FC-32 FC-10 soft-max"  # the input is sized from the data
    recipe = Recipe(epochs=1, batch=32, max_steps=2, init="glorot")
    train(TrainConfig(spec=spec, out=str(tmp_path / "run"), backend="torch", progress=False, recipe=recipe))
    path = export_run(tmp_path / "run", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    cfg, _, classes, stats = read_run(tmp_path / "run")
    assert info["classes"] == classes and info["classes"][9] == "Ankle boot" and info["mean"] == list(stats.mean)
    assert (info["crop"], info["test_scale"]) == (32, 37) and info["archspec_network"] == "spec"
    images = load_small(cfg.data).val_x[:3].float().div(255)  # (3, 1, 28, 28), three test images
    x = centre(images, info["test_scale"], info["crop"])  # (3, 1, 32, 32) in [0, 1]
    for batch in (x[:1], x):
        (got,) = session.run(None, {"images": batch.numpy()})
        source = load_source(str(tmp_path / "run"))
        with torch.no_grad():
            expected = source.model(source.normalise(batch))  # the mean is subtracted inside the ONNX model
        assert got.shape == (len(batch), 10) and abs(torch.from_numpy(got) - expected).max() <= 1e-4
