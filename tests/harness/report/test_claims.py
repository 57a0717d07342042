"""The report's statistics and verdicts are pure: numpy and scipy over outcomes, no torch, no evaluation code."""

import subprocess
import sys

from ...test_imports import ROOT

CODE = """
import sys
from pathlib import Path
from archspec.harness.suite import load_suite
from archspec.harness.report import claims, record, writer
suite = load_suite("quick")
outcomes, seeds = record.load_outcomes(Path(sys.argv[1]) / "outcomes.npz", suite)
tables, verdicts, per_configuration = claims.score(suite, outcomes)
assert verdicts and all(v["verdict"] for v in verdicts), verdicts
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "archspec.harness.evaluation",
                                                                         "archspec.harness.training.train")))
print(len(tables), len(verdicts), loaded)
"""


def test_statistics_and_verdicts_import_neither_torch_nor_the_evaluation_code():
    """The committed quick report's outcomes, scored in a fresh interpreter: tables and verdicts come out, and
    neither torch nor any evaluation module was imported on the way."""
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(ROOT / "docs" / "bench-quick")], capture_output=True, text=True, check=True
    )
    tables, verdicts, loaded = done.stdout.split(" ", 2)
    assert int(tables) >= 1 and int(verdicts) >= 1
    assert loaded.strip() == "[]"
