"""Layer kinds from outside archspec in every command: the squeeze-excite example of docs/language.md
(docs/examples/squeeze_excite.py) through the installed script, loaded by --plugin and by an entry point; and what
a plugin may not do (a group kind, a wrong `infer`) refused in one line."""

import json
import os
import subprocess
import sys
from typing import ClassVar, Literal

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec import ir, plugins

from .conftest import ROOT, entry_point

SE = ROOT / "docs" / "examples" / "squeeze_excite.py"
SPEC = "input 16x16x3 conv3-8 se4 maxpool FC-10 soft-max"


def archspec_cli(*args, env=None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != plugins.ENV} | (env or {})
    return subprocess.run([entry_point(), *map(str, args)], capture_output=True, text=True, timeout=300, env=environ)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def reference() -> nn.Module:
    """SPEC by hand in torch: the squeeze-excite block as Hu et al. write it, with C = 8 and r = 4."""

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 2), nn.Linear(2, 8)

        def forward(self, x):
            return x * self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()[:, :, None, None]

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), SE(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 10)
    )


def test_params_counts_a_plugin_kind_as_torch_does_and_refuses_it_without_the_plugin():
    done = archspec_cli("params", SPEC, "--plugin", SE, "-f", "json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)[0]
    ref = reference()
    assert row["params"] == sum(p.numel() for p in ref.parameters())
    with FlopCounterMode(display=False) as flops:
        ref(torch.zeros(1, 3, 16, 16))
    assert 2 * row["macs"] == flops.get_total_flops()
    line = one_line_error(archspec_cli("params", SPEC))
    assert "<spec>:1:23: found 'se4'" in line


def test_a_plugin_kind_trains_evaluates_and_exports_and_eval_names_the_missing_plugin(tmp_path):
    spec, run = tmp_path / "se.txt", tmp_path / "run"
    spec.write_text(SPEC)
    recipe = ["--data", "synthetic", "--crop", "16", "--scale", "16:20", "--epochs", "1", "--batch", "32"]
    trained = archspec_cli("train", spec, *recipe, "--out", run, "--plugin", SE)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads((run / "run.json").read_text())["plugins"] == {"se": str(SE)}
    line = one_line_error(archspec_cli("eval", run, "--limit", "8"))
    assert f"uses kind 'se' from plugin '{SE}', which is not loaded; pass --plugin {SE}" in line
    assert archspec_cli("eval", run, "--limit", "8", "--plugin", SE).returncode == 0
    exported = archspec_cli("export", run, "-o", tmp_path / "se.pt2", "--plugin", SE)
    assert exported.returncode == 0 and (tmp_path / "se.pt2").is_file(), exported.stderr[-2000:]
    compiled = archspec_cli("compile", spec, "--plugin", SE)
    assert compiled.returncode == 0 and "se4" in compiled.stdout


def test_bench_plans_a_suite_whose_spec_uses_a_plugin_kind(tmp_path):
    spec, suite = tmp_path / "se.txt", tmp_path / "se.toml"
    spec.write_text(SPEC)
    suite.write_text(
        f'[suite]\nname = "se"\ndata = "synthetic"\ncrop = 16\n\n[[train]]\nid = "SE"\nspec = "{spec}"\n'
        'scale = "256"\n\n[[table]]\nname = "T"\ntitle = "t"\n'
        'rows = [{ label = "SE", train = ["SE"], protocol = "single" }]\n'
    )
    done = archspec_cli("bench", "--suite", suite, "--plan", "--device", "h100", "--devices", "1", "--plugin", SE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "found 'se4'" in one_line_error(archspec_cli("bench", "--suite", suite, "--plan"))


def test_an_installed_plugin_loads_from_its_entry_point(tmp_path):
    """A package that declares `[project.entry-points."archspec.kinds"]`, as pip would install it."""
    (tmp_path / "se_plugin.py").write_text(SE.read_text())
    info = tmp_path / "se_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: se-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[archspec.kinds]\nse = se_plugin\n")
    done = archspec_cli("params", SPEC, "-f", "json", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["params"] == sum(p.numel() for p in reference().parameters())


def test_processes_a_command_starts_load_the_plugins_it_loaded(tmp_path):
    """bench's --jobs workers (spawned) and --nproc ranks inherit the plugins through the environment."""
    code = (
        "from archspec.harness.bench.jobs import _start_worker; _start_worker(1); "
        "import archspec; print(archspec.parse(%r).layers[2].kind)"
    )
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV} | {plugins.ENV: str(SE)}
    done = subprocess.run([sys.executable, "-c", code % SPEC], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "se", done.stderr[-2000:]
    spec = tmp_path / "se.txt"
    spec.write_text(SPEC)
    recipe = ["--data", "synthetic", "--crop", "16", "--scale", "16:20", "--epochs", "1", "--batch", "32"]
    ranks = archspec_cli("train", spec, *recipe, "--max-steps", "2", "--nproc", "2", "--out", tmp_path / "run",
                         "--plugin", SE)  # fmt: skip
    assert ranks.returncode == 0, ranks.stderr[-2000:]


class Group(ir.Layer):
    kind: Literal["mygroup"] = "mygroup"
    token: ClassVar[str] = "mygroup"

    def children(self):
        return ((),)


class FourValues(ir.Layer):
    kind: Literal["four"] = "four"
    token: ClassVar[str] = "four"

    def infer(self, shape, rf, jump):
        return shape, 0, 0, rf


class Negative(ir.Layer):
    kind: Literal["negative"] = "negative"
    token: ClassVar[str] = "negative"

    def infer(self, shape, rf, jump):
        return shape, -5, 0, rf, jump


def test_a_group_kind_is_refused_at_registration_in_one_line():
    with pytest.raises(TypeError, match="kind 'mygroup' is a group .* only leaf kinds can be registered"):
        archspec.register_kind(Group)
    assert "mygroup" not in plugins.kind_names()


@pytest.mark.parametrize(("kind", "found"), [(FourValues, "returned 4 values"), (Negative, "returned 5 values")])
def test_what_a_kind_infers_is_checked_and_named_by_kind_and_method(kind, found):
    archspec.register_kind(kind)  # tests/conftest.py restores the kinds afterwards
    name = kind.model_fields["kind"].default
    with pytest.raises(archspec.ArchspecError, match=rf"<spec>:1:13: kind '{name}' \({kind.__name__}.infer\) {found}"):
        archspec.infer(archspec.parse(f"input 8x8x3 {name} FC-2"))


def test_unregister_undoes_a_registration_and_keeps_the_built_in_kinds():
    archspec.register_kind(FourValues)
    archspec.unregister_kind("four")
    assert "four" not in plugins.kind_names()
    archspec.register_kind(FourValues)  # and it can come back
    archspec.unregister_kind(FourValues)
    with pytest.raises(ValueError, match="one of archspec's own kinds"):
        archspec.unregister_kind("conv")
    with pytest.raises(ValueError, match="no registered kind 'four'"):
        archspec.unregister_kind("four")


def test_a_missing_plugin_module_or_file_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(archspec.ArchspecError, match="--plugin no_such_plugin_xyz: no module of that name"):
        plugins.load("no_such_plugin_xyz")
    (tmp_path / "no_such_pluginx.py").write_text("import no_such_plugin\n")  # found; what it imports is not
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(archspec.ArchspecError, match="plugin no_such_pluginx: it imports 'no_such_plugin', which is"):
        plugins.load("no_such_pluginx")
    with pytest.raises(archspec.ArchspecError, match="no_such.py: no such file"):
        plugins.load("no_such.py")
