"""`archspec export RUN`: the trained weights with their preprocessing, loadable with torch alone."""

import json

import pytest
import torch

from archspec.errors import ArchspecError
from archspec.harness import Recipe, TrainConfig, train
from archspec.harness.checkpoint import read_run
from archspec.harness.evaluation import load_source
from archspec.harness.export_run import export_run

from .conftest import TINY, synthetic


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
