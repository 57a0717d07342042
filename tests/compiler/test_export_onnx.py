"""`-o FILE.onnx`: every shipped net and D's dense form run in onnxruntime and give torch's outputs."""

import sys

import onnxruntime as ort
import pytest
import torch
from torch import nn

import archspec
from archspec import ArchspecError, compile_spec
from archspec.compiler.dense import to_dense
from archspec.compiler.export import export
from archspec.compiler.export_onnx import INPUT

from ..conftest import ROOT
from ..test_cli import run

SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.txt"))
SMALL = "input 16x16x1 conv3-4 maxpool conv3-8 maxpool FC-16 FC-3 soft-max"


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def trained_scale(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Weights in the regime of a trained net, where fp32 rounding stays far below 1e-4: batch-norm statistics
    from `x`, then its scales and shifts drawn below 1 and near 0 (so a residual branch adds a damped signal), and
    logits a few units apart. At initialisation a deep ResNet is chaotic: a 1e-6 change of resnet152's input moves
    its logits by 3e-3, and torch's own fp32 differs from its fp64 by more than 1e-4; and VGG's logits are about
    1e-3, which a tolerance of 1e-4 would hardly test."""
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in batch_norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch sets the statistics
    with torch.no_grad():
        model.train()(x)
        for m in batch_norms:
            m.weight.uniform_(0.25, 0.75)
            m.bias.uniform_(-0.1, 0.1)
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        scale = 3 / model.eval()(x).std()
        last.weight.mul_(scale)
        last.bias.mul_(scale)
    return model


def max_diff(path, model: nn.Module, inputs: list[torch.Tensor]) -> float:
    """The largest difference between onnxruntime's and torch's outputs over `inputs`."""
    run, diffs = session(path), []
    for x in inputs:
        with torch.no_grad():
            expected = model(x)
        got = torch.from_numpy(run.run(None, {INPUT: x.numpy()})[0])
        assert got.shape == expected.shape and expected.abs().max() > 1  # outputs well above the tolerance
        diffs.append((got - expected).abs().max().item())
    return max(diffs)


@pytest.mark.parametrize("name", SPECS)
def test_every_shipped_spec_runs_in_onnxruntime_as_in_torch_at_batch_1_and_3(tmp_path, name):
    side = 64 if name == "alexnet" else 32  # AlexNet's conv11/4 and three 3x3/2 pools need 63 pixels
    model = archspec.compile(name, num_classes=10, input=f"{side}x{side}x3", width=0.125)
    trained_scale(model, torch.rand(16, 3, side, side))
    path = export(model, tmp_path / f"{name}.onnx")
    assert max_diff(path, model, [torch.rand(batch, 3, side, side) for batch in (1, 3)]) <= 1e-4


def test_the_dense_form_of_d_gives_torchs_score_maps_at_any_size_and_batch(tmp_path):
    model = trained_scale(
        archspec.compile("D", num_classes=10, input="32x32x3", width=0.125), torch.rand(16, 3, 32, 32)
    )
    path = export(model, tmp_path / "d_dense.onnx", wrap=to_dense, dynamic_size=True)
    dense = to_dense(model)
    inputs = [torch.rand(batch, 3, side, side) for batch, side in ((1, 32), (3, 32), (1, 96), (3, 64))]
    assert [dense(x).shape for x in inputs] == [
        (1, 10, 1, 1),
        (3, 10, 1, 1),
        (1, 10, 3, 3),
        (3, 10, 2, 2),
    ]  # one cell a 32 px
    assert max_diff(path, dense, inputs) <= 1e-4


def test_the_batch_is_dynamic_and_named(tmp_path):
    compile_spec(SMALL, output=tmp_path / "net.onnx")
    (images,), (logits,) = session(tmp_path / "net.onnx").get_inputs(), session(tmp_path / "net.onnx").get_outputs()
    assert (images.name, images.shape, logits.name, logits.shape) == (
        "images",
        ["batch", 1, 16, 16],
        "logits",
        ["batch", 3],
    )


def test_an_existing_file_is_replaced_and_the_spec_never(tmp_path):
    spec = tmp_path / "net.onnx"  # a spec file named like an output
    spec.write_text(SMALL)
    with pytest.raises(ArchspecError, match="net.onnx: is the input spec; expected another path for the .onnx output"):
        compile_spec(str(spec), output=spec)
    assert spec.read_text() == SMALL
    old = tmp_path / "old.onnx"
    old.write_bytes(b"a user's earlier file")
    compile_spec(SMALL, output=old)
    assert session(old).get_inputs()[0].name == "images"


def test_a_folder_named_like_an_onnx_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "net.onnx").mkdir()
    with pytest.raises(ArchspecError, match="net.onnx: is a directory; expected a file path for the .onnx output"):
        compile_spec(SMALL, output=tmp_path / "net.onnx")


def test_without_the_extra_onnx_is_one_line_naming_it_and_nothing_is_built(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: `import onnxruntime` fails
    with pytest.raises(ArchspecError) as caught:
        compile_spec(SMALL, output=tmp_path / "net.onnx")
    line = str(caught.value)
    assert "onnxruntime is not installed" in line and 'pip install -e ".[onnx]"' in line and "\n" not in line
    assert list(tmp_path.iterdir()) == []
    code, out, err = run(monkeypatch, capsys, "compile", SMALL, "-o", tmp_path / "net.onnx")  # the command line
    assert (code, out, err.count("\n")) == (2, "", 1) and err.startswith("archspec: error: ") and "[onnx]" in err


@pytest.mark.parametrize(
    "opset, message",
    [
        (6, "--opset 6: onnxruntime .* cannot run the exported net \\(Could not find an implementation for"),
        (24, "--opset 24: torch .* writes opsets up to 23"),
    ],
)
def test_an_opset_onnxruntime_or_torch_cannot_handle_is_named_and_nothing_is_written(tmp_path, opset, message):
    old = tmp_path / "net.onnx"
    old.write_bytes(b"kept")
    with pytest.raises(ArchspecError, match=message):
        compile_spec(SMALL, output=old, opset=opset)
    assert old.read_bytes() == b"kept" and [p.name for p in tmp_path.iterdir()] == ["net.onnx"]


def test_an_opset_is_refused_for_a_pt2_output(tmp_path):
    with pytest.raises(ArchspecError, match="--opset 17: .*net.pt2 is written as a .pt2 program.*expected a .onnx"):
        compile_spec(SMALL, output=tmp_path / "net.pt2", opset=17)


def test_the_asked_opset_is_the_models(tmp_path):
    import onnx

    compile_spec(SMALL, output=tmp_path / "net.onnx", opset=13)
    model = onnx.load(tmp_path / "net.onnx")
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [13]
