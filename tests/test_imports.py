"""Imports flow one way: spec -> ir -> passes/infer -> compiler -> harness, with the facade and CLI on top."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOWER = ["archspec/ir.py", "archspec/spec.py", "archspec/infer.py", "archspec/passes.py", "archspec/memory.py"]
ABOVE_COMPILER = ("archspec.harness", "archspec.cli", "archspec.report", "archspec.registry")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "archspec" if node.level and path.parent.name == "archspec" else node.module or ""
            found.add(f"{base}.{node.module}" if node.level and node.module else base)
            if node.module == "archspec" or (node.level and not node.module):  # `from archspec import x`
                found |= {f"archspec.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("name", LOWER)
def test_the_language_and_the_ir_import_no_torch_compiler_or_harness(name):
    bad = {
        m for m in imports(ROOT / name) if m.split(".")[0] in ("torch", "triton") or "compiler" in m or "harness" in m
    }
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("path", sorted((ROOT / "compiler").rglob("*.py")), ids=lambda p: p.name)
def test_the_compiler_takes_networks_and_imports_nothing_above_it(path):
    found = imports(path)
    bad = {m for m in found if m.startswith(ABOVE_COMPILER)} | ({"archspec"} & found)
    bad |= {m for m in found if m in ("archspec.network", "archspec.compile", "archspec.resolve")}
    assert not bad, f"{path.name} imports {bad}"
