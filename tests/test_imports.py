"""Imports flow one way, for every module of the package: a module imports only modules of its own layer or below,
and no group of modules imports itself round a cycle.

    base (errors, choices, ...) -> ir -> spec -> infer/passes -> compiler -> harness -> cli (and the facade)
    harness: training -> suite -> report -> evaluation -> planning -> bench

The parser writes the IR, so `spec` sits on `ir`; `infer`, `passes` and what resolves a source sit on both. A
module's layer comes from its package (`compiler/`, `harness/`) or, for a module of `archspec/` itself, from the
table below: a new module there fails until it is given a layer.
"""

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
PACKAGES = {p: ROOT / d for p, d in DIRS.items() if p.count(".") < 2}  # subpackages are found inside these
HARNESS = ("training", "suite", "report", "evaluation", "planning", "bench")  # harness/'s sub-packages, in order
LAYERS = ("base", "ir", "spec", "infer/passes", "compiler", *(f"harness: {h}" for h in HARNESS), "cli")
LAYER = {
    "archspec.errors": "base",
    "archspec.choices": "base",
    "archspec.atomic": "base",
    "archspec.files": "base",
    "archspec.provenance": "base",
    "archspec.registry": "base",
    "archspec.ir": "ir",  # the kind table and the network; re-exports the three below
    "archspec.node": "ir",  # the Layer contract
    "archspec.kinds": "ir",  # the leaf kinds
    "archspec.groups": "ir",  # the group kinds and tree walks
    "archspec.spec": "spec",
    "archspec.infer": "infer/passes",
    "archspec.passes": "infer/passes",
    "archspec.memory": "infer/passes",
    "archspec.source": "infer/passes",
    "archspec.counts": "infer/passes",  # Table 2 counts: analytic, no torch
    "archspec.views": "infer/passes",  # the test protocol's views of an image, from the IR: no torch
    "archspec.plugins": "infer/passes",  # kinds from outside archspec, registered into the IR
    "archspec.table": "infer/passes",  # Table 1 from specs: the IR and renderers, no torch
    "archspec.compiler": "compiler",  # the package and everything in it
    "archspec.harness": "harness: training",  # the package: the training names, loaded lazily
    **{f"archspec.harness.{h}": f"harness: {h}" for h in HARNESS},  # training; the suite schema on its options;
    # statistics and the report (no torch); evaluation; the planner (no torch); bench, which runs them all
    "archspec.formats": "base",  # tables, CSV, JSON, Markdown: rich and pandas only, so reports and the CLI both render
    "archspec.cli": "cli",
    "archspec": "cli",  # the facade: names from every layer, so nothing in the package may import it
}
NO_TORCH = {"base", "ir", "spec", "infer/passes"}  # the language, the IR and its analyses never import torch


def modules() -> dict[str, Path]:
    """Every module of the package, by its import name (`compiler/eager.py` is `archspec.compiler.eager`)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            found[".".join((package, *parts[: -1 if parts[-1] == "__init__" else None]))] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    """The layer of a module: its own entry, else its package's (longest prefix)."""
    name = module
    while name not in LAYER:
        assert "." in name, f"{module}: has no layer; add it to LAYER in {Path(__file__).name}"
        name = name.rsplit(".", 1)[0]
    return LAYER[name]


def imports(module: str) -> set[str]:
    """What a module imports, anywhere in it (function-level imports too): package modules by name, the facade as
    `archspec`, third-party packages by their top name."""
    return _imports(module, MODULES[module])


@cache
def _imports(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{up}.{node.module}" if node.module else up
            for alias in node.names:  # `from archspec import memory` imports a module, `... import network` a name
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m if m in MODULES or not m.startswith("archspec") else m.rsplit(".", 1)[0] for m in found}


def test_every_module_has_a_layer():
    assert {"archspec.ir", "archspec.compiler.kernels.conv", "archspec.harness.bench.run"} <= MODULES.keys()
    for module in MODULES:
        assert layer(module) in LAYERS


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_nothing_above_its_layer(module):
    rank = LAYERS.index(layer(module))
    above = {m for m in imports(module) if m in MODULES and LAYERS.index(layer(m)) > rank}
    assert not above, f"{module} ({layer(module)}) imports {above} from a layer above"
    if layer(module) in NO_TORCH:
        heavy = {m for m in imports(module) if m.split(".")[0] in ("torch", "triton")}
        assert not heavy, f"{module} imports {heavy}"


def test_no_import_cycle():
    graph = {m: {n for n in imports(m) if n in MODULES and n != m} for m in MODULES}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m) :] + [m]))
        if m in done:
            return
        path.append(m)
        for n in sorted(graph[m]):
            visit(n)
        path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    ir, harness = tmp_path / "ir.py", tmp_path / "bench.py"
    ir.write_text("from archspec.harness.bench.run import run_suite\n")
    harness.write_text(
        "from ..report import claims\nfrom ..report.claims import decide\nfrom archspec import memory, network\n"
    )
    monkeypatch.setitem(MODULES, "archspec.ir", ir)
    monkeypatch.setitem(MODULES, "archspec.harness.bench.run", harness)
    assert imports("archspec.ir") == {"archspec.harness.bench.run"}
    assert imports("archspec.harness.bench.run") == {"archspec.harness.report.claims", "archspec.memory", "archspec"}
    with pytest.raises(AssertionError, match="from a layer above"):
        test_a_module_imports_nothing_above_its_layer("archspec.ir")
    with pytest.raises(AssertionError, match="from a layer above"):
        test_a_module_imports_nothing_above_its_layer("archspec.harness.bench.run")  # the facade
    monkeypatch.setitem(MODULES, "archspec.ir", tmp_path / "cycle.py")
    (tmp_path / "cycle.py").write_text("from archspec import spec\n")
    with pytest.raises(AssertionError, match="import cycle: archspec.ir -> archspec.spec -> archspec.ir"):
        test_no_import_cycle()


def test_the_facade_and_the_counts_load_without_torch():
    code = "import sys, archspec, archspec.counts; archspec.network('D'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
