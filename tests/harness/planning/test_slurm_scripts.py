"""The Slurm scripts a plan writes: valid bash, the #SBATCH lines a cluster needs, the planned precision, parts
within --max-time that resume, evaluations after their trainings; and the loader rate they are sized by."""

import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from archspec.harness.bench import run as bench_run
from archspec.harness.planning import plan, slurm
from archspec.harness.planning.loader import loader_rate
from archspec.harness.suite import load_suite, safe, suites_dir

PAPER = (suites_dir() / "paper.toml").read_text()


def sbatch(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, flags=re.M))


DEVBOX = (6, 64)  # the titan-black's node: NVIDIA DIGITS DevBox, a 6-core Core i7-5930K and 64 GB
DGX_1 = (40, 512)  # v100: DGX-1, dual 20-core Xeon E5-2698 v4, 512 GB
DGX_H100 = (112, 2048)  # h100: DGX H100, dual 56-core Xeon Platinum 8480C, 2 TB


@pytest.fixture(scope="module")
def titan(tmp_path_factory):
    out = tmp_path_factory.mktemp("slurm")
    p = plan.plan("paper", "titan-black", 4)
    return p, out, slurm.write_slurm(p, out, PAPER, max_time_h=48, rate=100.0)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_script_is_valid_bash(titan):
    _, out, written = titan
    for path in [*written.scripts, out / "submit.sh", out / "chain.sh"]:
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_scripts_train_in_the_precision_the_plan_was_costed_in(titan):
    p, out, written = titan
    copy = load_suite(str(out / "paper.toml"))
    assert p.precision == "fp32" and copy.suite.precision.value == "fp32"
    assert load_suite("paper").suite.precision.value != "fp32"  # the shipped suite says auto (bf16 on CUDA)
    train = next(s for s in written.scripts if s.name == "06-D_256-seed0.sbatch").read_text()
    assert "--precision fp32" in train


def test_each_task_asks_for_the_nodes_share_of_cpus_and_memory_a_time_within_max_time_a_requeue_and_a_signal(titan):
    """The paper's 4 GPUs a run fill a DevBox-like node of 6 cores: a core for each training process and none
    left for loader workers, which the script and the plan's notes call loader-bound."""
    p, _, written = titan
    text = next(s for s in written.scripts if s.name == "06-D_256-seed0.sbatch").read_text()
    lines = sbatch(text)
    cpus, host = DEVBOX
    workers = cpus * 4 // 4 // 4 - 1  # the node's share for 4 of its 4 GPUs, less a core for each process
    assert workers == 0 and lines["cpus-per-task"] == str(4 * (workers + 1))
    assert int(lines["mem"].removesuffix("G")) <= host
    assert lines["time"] == "2-00:00:00" and "requeue" in lines and lines["signal"] == "TERM@300"
    assert lines["gres"] == "gpu:4" and lines["nodes"] == "1" and lines["open-mode"] == "append"
    assert "LOADER-BOUND" in text and "--workers 0" in text
    assert [n for n in written.notes if n.startswith("loader-bound: titan-black's node has 6 CPUs for 4 GPUs")]


def test_in_memory_data_asks_for_a_fixed_few_workers_within_a_dgx_1(tmp_path):
    """quick on V100 once asked for 12,372 CPUs and 6,202 GB: its data is in memory, so loader workers buy
    nothing; each GPU gets a process and IN_MEMORY_WORKERS, well within a DGX-1's 40 cores and 512 GB."""
    p = plan.plan("quick", "v100", 8)
    written = slurm.write_slurm(p, tmp_path, (suites_dir() / "quick.toml").read_text())
    cpus, host = DGX_1
    for script in written.scripts:
        lines = sbatch(script.read_text())
        gpus = int(lines["gres"].removeprefix("gpu:"))
        asked = int(lines["cpus-per-task"])
        assert asked == gpus * (slurm.IN_MEMORY_WORKERS + 1) and asked <= cpus * gpus // 8
        assert int(lines["mem"].removesuffix("G")) <= host * gpus / 8
    assert not [n for n in written.notes if "loader-bound" in n]


def test_jpeg_loaders_on_h100_are_capped_at_the_jobs_share_of_a_dgx_h100_and_called_loader_bound(tmp_path):
    """paper on 8 H100 once asked for 184 CPUs a 4-GPU job; a DGX H100 has 112 cores for 8 GPUs: 56 for 4."""
    p = plan.plan("paper", "h100", 8)
    written = slurm.write_slurm(p, tmp_path, PAPER, rate=125.0)
    cpus, host = DGX_H100
    g = p.per_run
    share = cpus * g // 8
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    wanted = math.ceil(256 / g / d.step.overlapped / 125.0)
    assert wanted > share // g - 1  # the cap bites
    lines = sbatch((tmp_path / "06-D_256-seed0.sbatch").read_text())
    assert lines["cpus-per-task"] == str(g * (share // g)) and int(lines["mem"].removesuffix("G")) <= host * g / 8
    assert f"--workers {share // g - 1} " in (tmp_path / "06-D_256-seed0.sbatch").read_text()
    assert [n for n in written.notes if n.startswith("loader-bound: h100's node has 112 CPUs for 8 GPUs")]


def test_memory_is_capped_at_the_jobs_share_of_a_nodes_host_memory():
    """A node of 8 GPUs and 10 GiB: a 4-GPU job of D (4 GiB a process before its workers) gets 5 GiB, and says so."""
    p = plan.plan("paper", "h100", 8, per_run=4)
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    small = p.device.model_copy(update={"host_memory_gib": 10})
    res = slurm.resources(d, small, 4, 224, 125.0, in_memory=False)
    assert res.mem_gib == 5 and res.mem_capped
    assert not slurm.resources(d, p.device, 4, 224, 125.0, in_memory=False).mem_capped


def test_every_script_and_the_report_command_carry_the_same_data(tmp_path):
    """bench keys its evaluation cache by --data as given: a plan without --data writes the suite's into every
    script and into the command that reports afterwards, so that command reuses the evaluations."""
    p = plan.plan("paper", "h100", 8)
    slurm.write_slurm(p, tmp_path, PAPER)
    for script in tmp_path.glob("*.sbatch"):
        assert " --data /data/imagenet " in script.read_text().replace("\n", " ")
    report = f"archspec bench --suite {tmp_path / 'paper.toml'} --data /data/imagenet"
    assert report in (tmp_path / "submit.sh").read_text() and report in (tmp_path / "README.md").read_text()


def test_an_evaluation_longer_than_max_time_is_capped_at_it_and_said(tmp_path):
    p = plan.plan("paper", "titan-black", 4)
    written = slurm.write_slurm(p, tmp_path, PAPER, max_time_h=12)
    over = [c for c in p.entries if 1.5 * c.eval_s / 3600 > 12]  # 4 GPUs a run on a 4-GPU node evaluate on 4
    assert over
    for i, c in enumerate(p.entries, 1):
        text = (tmp_path / f"{i:02d}-{safe(c.plan.entry.id)}-seed0.eval.sbatch").read_text()
        assert (sbatch(text)["time"] == "0-12:00:00") == (c in over) and ("CAPPED" in text) == (c in over)
    assert [n for n in written.notes if n.startswith("evaluations over --max-time 12 h")]


def test_the_evaluation_entry_point_refuses_an_unknown_entry_in_one_line():
    from archspec.errors import ArchspecError

    with pytest.raises(ArchspecError, match=r"--evaluate 'Z/1@0': expected ENTRY@SEED with an entry of the suite"):
        bench_run.evaluate_entry("paper", "Z/1@0", None, 1, None)


def test_evaluating_a_run_that_has_not_finished_is_refused_in_one_line(tmp_path):
    from archspec.errors import ArchspecError

    with pytest.raises(ArchspecError, match=r"^--evaluate A/256@0: .*A_256/seed0 has not finished training; expected"):
        bench_run.evaluate_entry("paper", "A/256@0", str(tmp_path), 1, None)
    assert not (tmp_path / "evals").exists()


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


# ---------------------------------------------------------------- the scripts run, with Slurm stubbed

STUBS = {  # each logs its arguments to $LOG/<name>
    "sbatch": 'echo "$*" >> "$LOG/sbatch"; echo "900;cluster"',
    "squeue": 'echo "$*" >> "$LOG/squeue"; echo "$QUEUED"',
    "scontrol": "echo node7",
    "srun": 'echo "$*" >> "$LOG/srun"\n'
    '[ -z "$SAVE" ] || { mkdir -p "$RUN"; touch -d "$SAVE" "$RUN/checkpoint.pt"; }\n'
    'exit "$STATUS"',
    "archspec": 'echo "$*" >> "$LOG/archspec"',
}


@pytest.fixture
def cluster(titan, tmp_path):
    """Runs a script of the titan plan in a fresh folder with sbatch, squeue, scontrol, srun and archspec stubbed
    (srun: exits $STATUS, after stamping the run's checkpoint with $SAVE when set), as job 500 of one node."""
    _, out, _ = titan
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in STUBS.items():
        (bin_ / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_ / name).chmod(0o755)
    (out / "state").mkdir(exist_ok=True)
    for old in (out / "state").iterdir():
        old.unlink()
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "LOG": str(tmp_path), "SLURM_JOB_ID": "500", "SLURM_NNODES": "1"}
    env |= {"SLURM_JOB_NODELIST": "node7", "SLURM_CPUS_PER_TASK": "4", "RUN": "bench/paper/runs/D_256/seed0"}

    def run(script: str, status: int = 0, save: str = "", queued: str = ""):
        extra = {"STATUS": str(status), "SAVE": save, "QUEUED": queued}
        done = subprocess.run(["bash", str(out / script)], cwd=work, env=env | extra, capture_output=True, text=True)
        logs = {n: (tmp_path / n).read_text() if (tmp_path / n).exists() else "" for n in STUBS}
        for n in STUBS:
            (tmp_path / n).unlink(missing_ok=True)
        return done, logs

    return out / "state", work, run


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_part_that_stops_with_a_newer_checkpoint_queues_the_next_part_after_itself(cluster):
    state, work, run = cluster
    (state / "01-A_256-seed0.done").touch()  # D starts from A, finished
    done, logs = run("06-D_256-seed0.sbatch", status=1, save="2030-01-01 00:00")  # SIGTERM at the limit
    assert done.returncode == 0, done.stderr
    assert "archspec train D " in logs["srun"] and "--rdzv-endpoint node7:20500 " in logs["srun"]  # 20000 + 500
    assert logs["srun"].startswith("--cpus-per-task=4 torchrun")
    assert logs["sbatch"].split() == [
        "--parsable",
        "--dependency=afterany:500",
        f"{state.parent}/06-D_256-seed0.sbatch",
    ]
    assert (state / "06-D_256-seed0.job").read_text().strip() == "900" and not (state / "06-D_256-seed0.done").exists()
    # the next part resumes from the checkpoint; it stops again with a newer one, and again goes on
    done, logs = run("06-D_256-seed0.sbatch", status=1, save="2030-01-02 00:00")
    assert "archspec train --resume bench/paper/runs/D_256/seed0 --gpus 4 --workers 0" in logs["srun"]
    assert "--dependency=afterany:500" in logs["sbatch"] and done.returncode == 0
    # a part that finishes marks the run done and queues nothing
    done, logs = run("06-D_256-seed0.sbatch", status=0)
    assert done.returncode == 0 and (state / "06-D_256-seed0.done").exists() and not logs["sbatch"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_part_that_stops_with_no_newer_checkpoint_fails_and_queues_nothing(cluster):
    state, _, run = cluster
    (state / "01-A_256-seed0.done").touch()
    done, logs = run("06-D_256-seed0.sbatch", status=3)
    assert done.returncode == 3 and "no newer checkpoint" in done.stderr and not logs["sbatch"]
    assert not (state / "06-D_256-seed0.done").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_an_evaluation_waits_for_its_runs_marker_not_for_a_fixed_job(cluster):
    """Its training's latest part (job 700) still queued: it queues itself after that part and ends; that part
    gone with the run unfinished: it fails in one line; the run marked done: it evaluates."""
    state, _, run = cluster
    (state / "06-D_256-seed0.job").write_text("700\n")
    done, logs = run("06-D_256-seed0.eval.sbatch", queued="PENDING")
    assert done.returncode == 0 and not logs["archspec"] and "-j 700" in logs["squeue"]
    assert logs["sbatch"].split() == [
        "--parsable",
        "--dependency=afterany:700",
        f"{state.parent}/06-D_256-seed0.eval.sbatch",
    ]
    done, logs = run("06-D_256-seed0.eval.sbatch", queued="FAILED")
    assert done.returncode == 1 and not logs["archspec"] and not logs["sbatch"]
    assert done.stderr.strip().splitlines() == [
        "06-D_256-seed0.eval: 06-D_256-seed0's last job 700 ended before its run finished (see its log); not run"
    ]
    (state / "06-D_256-seed0.done").touch()
    done, logs = run("06-D_256-seed0.eval.sbatch")
    assert (
        done.returncode == 0
        and logs["archspec"].startswith("bench --suite ")
        and "--evaluate D/256@0" in logs["archspec"]
    )
