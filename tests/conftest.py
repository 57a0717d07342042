import os
import shutil
import sys
from pathlib import Path

import torch

# Without CUDA, Triton kernels run on the CPU only under the interpreter, which must be chosen before any
# kernel is defined (kernel modules are imported lazily, after this). With CUDA they run for real.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

from archspec import ir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def entry_point() -> str:
    """The `archspec` script pip installed beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("archspec")
    found = str(beside) if beside.is_file() else shutil.which("archspec")
    assert found, "no installed `archspec` script: install as README.md's first line does"
    return found


def attribute(owner, name: str) -> tuple:
    return lambda: getattr(owner, name), lambda value: setattr(owner, name, value)


# Process-wide torch settings a test may change: (read, write). Read and written through torch's own
# attributes and functions, never monkeypatch, whose undo of these module attributes fails on pytest 9.2.
TORCH_STATE = {
    "cudnn.allow_tf32": attribute(torch.backends.cudnn, "allow_tf32"),
    "cudnn.benchmark": attribute(torch.backends.cudnn, "benchmark"),
    "matmul.allow_tf32": attribute(torch.backends.cuda.matmul, "allow_tf32"),
    "float32_matmul_precision": (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
    "default_dtype": (torch.get_default_dtype, torch.set_default_dtype),
    "default_device": (torch.get_default_device, torch.set_default_device),
    "num_threads": (torch.get_num_threads, torch.set_num_threads),
    "deterministic": (torch.are_deterministic_algorithms_enabled, torch.use_deterministic_algorithms),
    "grad_enabled": (torch.is_grad_enabled, torch.set_grad_enabled),
}


def global_state() -> dict:
    """What one test could leak into the next: torch's settings, the environment, the registered kinds."""
    return {
        **{name: read() for name, (read, _) in TORCH_STATE.items()},
        "environ": dict(os.environ),
        "kinds": ir.KINDS,
    }


def restore(state: dict) -> list[str]:
    """Put `state` back, each part on its own (one that fails leaves the others restored); returns what could not
    be restored."""
    failed = []
    for name, (read, write) in TORCH_STATE.items():
        try:
            if read() != state[name]:
                write(state[name])
        except Exception as e:  # reported below, after the rest is restored
            failed.append(f"{name}: {e}")
    if dict(os.environ) != state["environ"]:
        os.environ.clear()
        os.environ.update(state["environ"])
    if ir.KINDS != state["kinds"]:
        ir._use_kinds(state["kinds"])
    return failed + [k for k, v in global_state().items() if v != state[k]]


def guarded(what: str):
    state = global_state()
    yield
    left = restore(state)
    assert not left, f"{what} changed process-wide state that could not be restored: {left}"


@pytest.fixture(autouse=True, scope="session")
def _state_home(tmp_path_factory):
    """Benches and evaluations record their looks at a data set in the user's state directory: the tests' go to a
    folder of their own, never the user's (a test that reads them sets XDG_STATE_HOME to its own tmp_path)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(autouse=True)
def _no_leaks():
    """Every test starts from the state the one before it found, however it ended (failed half-way
    included): pytest-randomly's order then shows a leak as a failure, with the seed that reproduces it."""
    yield from guarded("this test")


@pytest.fixture(autouse=True, scope="module")
def _no_module_leaks():
    """The same around each test module, whose own module-scoped fixtures (a reference run trained in this
    process with --threads 1, say) run before any test's guard and would otherwise leak into the next module."""
    yield from guarded("this module's fixtures")


@pytest.fixture
def spec_dir() -> Path:
    return ROOT / "specs"
