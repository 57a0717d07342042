"""`archspec eval` end to end: run folders, torchvision weights, ensembles and sharding."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import archspec
from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.harness import Recipe, TrainConfig, train
from archspec.harness.evaluation.evaluate import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalJob,
    evaluate_checkpoints,
    evaluate_sources,
    load_source,
)
from archspec.harness.evaluation.protocol import centre_posterior

from ..conftest import TINY, synthetic


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        cfg = TrainConfig(
            spec=TINY,
            data=synthetic(),
            out=str(root / f"r{seed}"),
            backend="torch",
            progress=False,
            recipe=Recipe(epochs=1, batch=16, init="glorot", seed=seed),
        )
        train(cfg)
    return root


def test_every_protocol_and_ensemble(runs):
    rows = evaluate_checkpoints(EvalJob([str(runs / "r0"), str(runs / "r1")], progress=False))
    methods = {(r["protocol"], r["method"]) for r in rows}
    assert {
        ("single", "centre"),
        ("single", "dense"),
        ("multi", "multi-crop"),
        ("multi", "multi-crop & dense"),
        ("multi", "ensemble: multi-crop & dense"),
    } <= methods
    single = next(r for r in rows if r["protocol"] == "single" and r["method"] == "dense")
    assert single["model"] == "spec/[16;20]/18" and single["images"] == 8  # Q = (Smin + Smax) / 2
    multi = next(r for r in rows if r["protocol"] == "multi" and r["method"] == "dense")
    assert multi["test_scales"] == "16,18,20"  # {Smin, (Smin + Smax) / 2, Smax} for jittered S
    assert all(0 <= r["top1_err"] <= 100 and r["top5_err"] <= r["top1_err"] for r in rows)


def test_two_processes_give_the_same_rows(runs):
    job = EvalJob([str(runs / "r0")], progress=False)
    assert evaluate_checkpoints(job, devices=2, cuda=False) == evaluate_checkpoints(job)


def test_torchvision_weights_evaluate_as_the_plain_forward_on_the_centre_crop(tmp_path):
    spec = "input 224x224x3 conv3-4 maxpool maxpool maxpool maxpool maxpool FC-8 FC-6 soft-max"
    torch.manual_seed(0)
    reference = archspec.compile(spec).eval()
    for p in reference.parameters():
        torch.nn.init.normal_(p, 0, 0.2)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, tmp_path / "w.safetensors")
    source = load_source(str(tmp_path / "w.safetensors"), spec)
    image = torch.rand(2, 3, 300, 260)
    # the model-zoo protocol by hand: Resize(256) (smallest side), CenterCrop(224), Normalize(mean, std)
    resized = F.interpolate(image, size=(295, 256), mode="bilinear", align_corners=False, antialias=True)
    crop = resized[..., 35:259, 16:240]
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((crop - mean) / std).softmax(1)
        torch.testing.assert_close(centre_posterior(source.model, source.normalise(image), 224), expected)


def test_bad_sources(tmp_path, runs):
    with pytest.raises(ArchspecError, match="no such run folder"):
        evaluate_checkpoints(EvalJob([str(tmp_path / "none")]))
    with pytest.raises(ArchspecError, match="needs --spec"):
        load_source(str(runs / "r0" / "model.safetensors"))
    with pytest.raises(ArchspecError, match=r"found features\.0\.weight .* of shape \(4, 3, 3, 3\)"):
        load_source(str(runs / "r0" / "model.safetensors"), TINY.replace("conv3-4", "conv3-5"))


def test_bf16_evaluation_gives_fp32_posteriors_close_to_the_fp32_ones(runs):
    fp32 = evaluate_sources(EvalJob([str(runs / "r0")], progress=False))
    bf16 = evaluate_sources(EvalJob([str(runs / "r0")], progress=False, precision=Precision.bf16))
    assert [(p.protocol, p.method) for p in bf16.parts] == [(p.protocol, p.method) for p in fp32.parts]
    for a, b in zip(fp32.parts, bf16.parts, strict=True):
        assert b.posterior.dtype == torch.float32
        torch.testing.assert_close(b.posterior, a.posterior, rtol=0, atol=0.03)  # bf16 keeps 8 bits of mantissa
    assert any(not torch.equal(a.posterior, b.posterior) for a, b in zip(fp32.parts, bf16.parts, strict=True))


def test_scored_data_of_other_class_names_is_refused(tmp_path, runs):
    """A run trained on class0..class3 scored on a folder of four other classes: one line, not a table."""
    for name in ("apple", "banana", "cherry", "date"):
        (tmp_path / "fruit" / "train" / name).mkdir(parents=True)
    job = EvalJob([str(runs / "r0")], data=str(tmp_path / "fruit"), progress=False)
    with pytest.raises(ArchspecError, match=r"4 classes \(apple, banana, cherry, \.\.\.\); expected the 4 classes"):
        evaluate_sources(job)


def test_scored_data_without_class_folders_is_one_line(tmp_path, runs):
    """A folder without train/, or with a train/ that holds no class folder, says so instead of a traceback."""
    job = EvalJob([str(runs / "r0")], data=str(tmp_path), progress=False)
    with pytest.raises(ArchspecError, match=r"train: no such folder; expected train/<class>/<images>"):
        evaluate_sources(job)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("a file, not a class")
    with pytest.raises(ArchspecError, match=r"train: no class folders; expected train/<class>/<images>"):
        evaluate_sources(job)


def test_a_scored_split_with_no_readable_image_is_one_line(tmp_path, image_folder):
    spec = "input 16x16x3 conv3-4 maxpool FC-8 FC-3 soft-max"  # a weights file's classes are numbered: 3 of them
    save_file(archspec.compile(spec).state_dict(), tmp_path / "w.safetensors")
    for path in (image_folder / "val").rglob("*.*"):
        path.write_bytes(b"not an image")
    job = EvalJob([str(tmp_path / "w.safetensors")], spec=spec, data=str(image_folder), progress=False)
    with pytest.raises(ArchspecError, match="imagenet: no readable image in the scored split; expected decodable"):
        evaluate_sources(job)


def test_a_loaded_source_runs_channels_last_with_its_strided_1x1_convs_routed_to_nchw(tmp_path):
    """`compiler.memory_format.channels_last`, as training runs: the shortcut's 1x1/2 conv keeps NCHW strides (and
    hands its output back channels-last), every other conv's weight is channels-last; the function is the same."""
    spec = "input 16x16x3 conv3-8 [conv3-16/2 conv3-16] avgpool FC-4 soft-max"  # its shortcut: a 1x1/2 conv
    torch.manual_seed(0)
    reference = archspec.compile(spec).eval()
    save_file(reference.state_dict(), tmp_path / "w.safetensors")
    model = load_source(str(tmp_path / "w.safetensors"), spec).model
    convs = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    shortcut = convs.pop("layer1.0.downsample.0")
    assert shortcut.weight.stride() == (8, 1, 1, 1)  # (16, 8, 1, 1) in NCHW; channels-last would be (8, 1, 8, 8)
    assert sorted(convs) == ["conv1", "layer1.0.conv1", "layer1.0.conv2"]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs.values())
    x = torch.rand(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
    with torch.no_grad():
        into = torch.rand(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
        assert shortcut(into).is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-6)
