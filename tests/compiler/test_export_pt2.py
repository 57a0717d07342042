"""`compile --output` writes a .pt2 that torch alone loads and runs at any batch size."""

import torch

import archspec
from archspec import compile_spec

SPEC = "input 16x16x1 conv3-4 maxpool conv3-8 maxpool FC-16 FC-3 soft-max"


def test_exported_program_loads_without_archspec_and_matches(tmp_path):
    out = tmp_path / "net.pt2"
    result = compile_spec(SPEC, output=out)
    loaded = torch.export.load(out).module()
    x = torch.randn(5, 1, 16, 16)
    torch.testing.assert_close(loaded(x), result.model.eval()(x))


def test_an_lrn_net_exports_with_its_lrn_at_any_batch_size(tmp_path):
    out = tmp_path / "lrn.pt2"
    result = compile_spec("input 16x16x1 conv3-8 LRN maxpool FC-3", output=out)
    loaded = torch.export.load(out).module()
    x = torch.randn(3, 1, 16, 16) * 4
    torch.testing.assert_close(loaded(x), result.model.eval()(x))


def test_compile_rows_name_torchvision_modules():
    rows = compile_spec(archspec.network(SPEC)).rows
    assert [r["module"] for r in rows][:3] == ["features.0", "features.1", "features.2"]
    assert rows[-1]["module"] == "(loss)"
    assert sum(r["params"] for r in rows) == archspec.infer(archspec.network(SPEC)).params
    model = compile_spec(archspec.network(SPEC)).model
    named = [r["module"] for r in rows if r["module"] != "(loss)"]
    assert named == [name for name, _ in model.named_modules() if name.count(".") == 1 or name == "avgpool"]


def test_the_triton_backend_exports_its_eager_equivalent(tmp_path, monkeypatch):
    from archspec.compiler import eager

    class Fused(eager.Net):  # stands for the Triton module, whose kernels do not trace
        def forward(self, x):
            raise AssertionError("traced the fused module")

    model = Fused(archspec.network(SPEC)).eval()
    from archspec.compiler.export import export

    export(model, tmp_path / "net.pt2")
    x = torch.randn(3, 1, 16, 16)
    torch.testing.assert_close(torch.export.load(tmp_path / "net.pt2").module()(x), eager.Net.forward(model, x))
