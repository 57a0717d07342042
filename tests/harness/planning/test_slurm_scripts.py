"""The Slurm scripts a plan writes: valid bash, the #SBATCH lines a cluster needs, the planned precision, parts
within --max-time that resume, evaluations after their trainings; and the loader rate they are sized by."""

import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from archspec.harness.planning import plan, slurm
from archspec.harness.planning.loader import loader_rate
from archspec.harness.suite import load_suite, suites_dir

PAPER = (suites_dir() / "paper.toml").read_text()


def sbatch(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, flags=re.M))


@pytest.fixture(scope="module")
def titan(tmp_path_factory):
    out = tmp_path_factory.mktemp("slurm")
    p = plan.plan("paper", "titan-black", 4)
    return p, out, slurm.write_slurm(p, out, PAPER, max_time_h=48, rate=100.0)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_script_is_valid_bash(titan):
    _, out, scripts = titan
    for path in [*scripts, out / "submit.sh"]:
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_scripts_train_in_the_precision_the_plan_was_costed_in(titan):
    p, out, scripts = titan
    copy = load_suite(str(out / "paper.toml"))
    assert p.precision == "fp32" and copy.suite.precision.value == "fp32"
    assert load_suite("paper").suite.precision.value != "fp32"  # the shipped suite says auto (bf16 on CUDA)
    train = next(s for s in scripts if s.name == "06-D_256-seed0.sbatch").read_text()
    assert "--precision fp32" in train


def test_each_task_asks_for_cpus_memory_a_time_within_max_time_a_requeue_and_a_signal(titan):
    p, _, scripts = titan
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    lines = sbatch(next(s for s in scripts if s.name == "06-D_256-seed0.sbatch").read_text())
    workers = math.ceil((64 / d.step.overlapped) / 100.0)  # each GPU's planned images/s at 100 a core
    assert lines["cpus-per-task"] == str(4 * (workers + 1)) and re.fullmatch(r"\d+G", lines["mem"])
    assert lines["time"] == "2-00:00:00" and "requeue" in lines and lines["signal"] == "TERM@300"
    assert lines["gres"] == "gpu:4" and lines["nodes"] == "1"


def test_a_run_longer_than_max_time_is_chained_parts_that_resume_and_its_evaluation_waits_for_the_last(titan):
    p, out, _ = titan
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    parts = math.ceil(1.5 * d.train_s / 3600 / 48)
    submit = (out / "submit.sh").read_text().splitlines()
    mine = [line for line in submit if "06-D_256-seed0" in line]
    assert len(mine) == parts + 1 and parts > 1
    assert "--dependency=afterok:$job_A_256_0 " in mine[0]  # D starts from A
    assert all("--dependency=afterany:$job_D_256_0 " in line for line in mine[1:-1])
    assert "--dependency=afterok:$job_D_256_0 " in mine[-1] and mine[-1].split('"')[1].endswith(".eval.sbatch")
    script = (out / "06-D_256-seed0.sbatch").read_text()
    assert "archspec train --resume bench/paper/runs/D_256/seed0" in script  # once a checkpoint is there
    evaluate = (out / "06-D_256-seed0.eval.sbatch").read_text()
    assert f"archspec bench --suite {out / 'paper.toml'} --evaluate D/256@0 --gpus 4" in evaluate


def test_the_evaluation_entry_point_refuses_an_unknown_entry_in_one_line():
    from archspec.errors import ArchspecError

    with pytest.raises(ArchspecError, match=r"--evaluate 'Z/1@0': expected ENTRY@SEED with an entry of the suite"):
        slurm.evaluate_entry("paper", "Z/1@0", None, 1, None)


def test_planned_suite_replaces_a_precision_line_and_keeps_the_rest():
    text = '# c\n[suite]\nname = "s"\nprecision = "auto"\n\n[[train]]\nid = "A"\nprecision = "x"\n'
    out = slurm.planned_suite(text, "fp32")
    assert out.count("precision") == 2 and 'precision = "fp32"' in out and 'id = "A"\nprecision = "x"' in out


def test_loader_rate_is_images_over_the_seconds_the_harness_loader_took(tmp_path):
    """A folder of JPEGs the test makes; a clock that advances 2 s over the timed loop: the rate is images / 2."""
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(tmp_path / f"{i}.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    ticks = iter([10.0, 12.0])
    assert loader_rate(tmp_path, crop=224, scale=(256, 256), clock=lambda: next(ticks)) == 5 / 2
