"""Reference checkpoints load from files without pickled code, in torchvision's or timm's layout."""

import pytest
import torch
from safetensors.torch import save_file

import archspec
from archspec.compiler.weights import load_pretrained, load_weights

from .torchvision_vgg import TorchvisionVGG


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return TorchvisionVGG("A").eval()


def timm_layout(state):
    """timm's published conversion of torchvision VGG weights (its `_filter_fn`), re-typed."""
    out = {}
    for k, v in state.items():
        if k.startswith("classifier.0."):
            k, v = "pre_logits.fc1." + k.split(".")[-1], v.reshape(-1, 512, 7, 7) if v.dim() == 2 else v
        elif k.startswith("classifier.3."):
            k, v = "pre_logits.fc2." + k.split(".")[-1], v.reshape(-1, 4096, 1, 1) if v.dim() == 2 else v
        elif k.startswith("classifier.6."):
            k = "head.fc." + k.split(".")[-1]
        out[k] = v
    return out


@pytest.mark.parametrize("layout", ["torchvision", "timm"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_checkpoint_file_gives_the_reference_outputs(tmp_path, reference, layout, suffix):
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    state = timm_layout(state) if layout == "timm" else state
    path = tmp_path / f"vgg11{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    model = load_pretrained(archspec.compile("vgg11"), path).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_checkpoint_of_another_spec_names_the_layer(reference):
    with pytest.raises(
        archspec.ArchspecError, match=r"a.pth: found no features\.1\.weight \(batchnorm for conv3-64 at .*A.txt:3:1\)"
    ):
        load_weights(archspec.compile("vgg11_bn"), reference.state_dict(), "a.pth")
    with pytest.raises(
        archspec.ArchspecError,
        match=r"found classifier\.6\.weight \(FC-10 for FC-1000 at .*A.txt:18:1\) "
        r"of shape \(1000, 4096\); expected \(10, 4096\)",
    ):
        load_weights(archspec.compile("vgg11", num_classes=10), reference.state_dict(), "a.pth")
    extra = {**reference.state_dict(), "features.99.weight": torch.zeros(1)}
    with pytest.raises(archspec.ArchspecError, match="found features.99.weight"):
        load_weights(archspec.compile("vgg11"), extra, "a.pth")


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(archspec.ArchspecError, match="not a readable checkpoint"):
        load_pretrained(archspec.compile("conv3-4 FC-2"), path)
    with pytest.raises(archspec.ArchspecError, match="no such file"):
        load_pretrained(archspec.compile("conv3-4 FC-2"), tmp_path / "missing.pth")


def test_non_finite_weights_load_with_a_warning():
    model = archspec.compile("input 16x16x3 conv3-4 maxpool FC-3 soft-max")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["features.0.weight"][0, 0, 0, 0] = float("nan")
    with pytest.warns(UserWarning, match=r"1 tensor\(s\) hold NaN or infinite values \(first: features\.0\.weight"):
        load_weights(model, state, "w.safetensors")
