"""`bench --plan`: the cost model against hand-computed cases, the paper's figures, torch's own counts and
measured memory; the Slurm scripts against what `archspec train` parses them into."""

import gzip
import importlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import archspec
from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.harness import planning
from archspec.harness.planning import cost as cost_model
from archspec.harness.planning import devices as device_table
from archspec.harness.planning import gantt, plan, schedule, slurm
from archspec.harness.suite import entry_config, load_suite, suites_dir
from archspec.views import DENSE

from ...conftest import ROOT

SUITES = sorted(p.stem for p in suites_dir().glob("*.toml"))
D_MACS = 15_470_264_320  # torchvision vgg16: 15.47 GMACs at 224 x 224


def test_training_flops_are_forward_weight_and_input_gradients_less_the_images_gradient():
    cost = cost_model.net_cost(archspec.network("D"))
    first = 3 * 3 * 3 * 64 * 224 * 224  # conv1_1's MACs: its input gradient (the image's) is never computed
    assert cost.fwd_flops == 2 * D_MACS
    assert cost.train_flops == 3 * 2 * D_MACS - 2 * first


def test_dense_evaluation_at_the_crop_is_one_forward_pass_of_the_image_and_its_flip():
    net = archspec.network("D")
    assert cost_model.dense_pass_flops(net, 224, 224) == 2 * D_MACS
    assert cost_model.eval_flops(net, (DENSE,), 224) == 2 * 2 * D_MACS


def test_dense_evaluation_at_256_scales_the_convs_by_area_and_scores_a_2x2_map():
    net = archspec.network("D")
    stats = archspec.infer(net)
    head = sum(s.macs for s in stats.layers if s.kind == "fc")
    convs = D_MACS - head
    assert cost_model.eval_flops(net, (DENSE,), 256) == 2 * 2 * (convs * 256**2 // 224**2 + 4 * head)


def test_a_side_off_the_stride_is_scored_by_the_views_shifted_to_both_edges():
    """Q = 255 for D (stride 32): views of 224 at offsets 0 and 31 on each axis, four of them, each flipped."""
    net = archspec.network("D")
    assert cost_model.eval_flops(net, (DENSE,), 255) == 4 * 2 * 2 * D_MACS


def test_activation_bytes_match_torch_saved_tensors_for_a_small_net():
    """Independent oracle: torch's autograd graph of the compiled net, every tensor it saved for backward
    (deduplicated by storage), against the model's count per image."""
    torch = pytest.importorskip("torch")
    net = archspec.network("A", num_classes=10, input="32x32x1", width=0.125, batch_norm=True)
    model = archspec.compile(net).train()
    x = torch.randn(4, 1, 32, 32)
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch.nn.functional.cross_entropy(model(x), torch.zeros(4, dtype=torch.long)).backward()
    params = sum(p.numel() * 4 for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    saved = total - params - buffers  # weights are saved too (they exist anyway)
    cost = cost_model.net_cost(net, act=4, mask=4)  # a CPU's dropout keeps a float mask
    assert saved == pytest.approx(4 * cost.saved_bytes, rel=0.02)


def test_memory_model_against_measured_cpu_peaks():
    """benchmarks/plan_memory.py measured one training step with torch's MemTracker at two batches; the batch
    itself was made before the tracker started, so its bytes are added to the measured activations."""
    measured = json.loads((ROOT / "benchmarks" / "results" / "plan-memory-cpu.json").read_text())["rows"]
    for row in measured:
        net = archspec.network(row["spec"], num_classes=10, input="32x32x1", width=0.125, batch_norm=True)
        model = cost_model.memory(cost_model.net_cost(net, act=4, mask=4), row["batch"], 1, bf16=False)
        assert model["weights"] == row["parameter"] + row["buffer"]
        assert model["gradients"] == row["gradient"] and model["optimizer"] == row["optstate"]
        batch = row["batch"] * 32 * 32 * 4
        assert model["activations"] == pytest.approx(row["activation"] + batch, rel=0.005)
        assert model["total"] == pytest.approx(row["total"] + batch, rel=0.005)


def test_ring_all_reduce_moves_2_n_minus_1_over_n_of_the_gradients_over_the_link():
    dev, cost = device_table.device("titan-black"), cost_model.net_cost(archspec.network("D"))
    step = cost_model.step_time(cost, 256, 4, dev, Precision.fp32, 0.5)
    assert step.allreduce == pytest.approx(1.5 * 4 * 138_357_544 / 15.75e9)
    assert step.compute == pytest.approx(cost.train_flops * 64 / (5.1e12 * 0.5))
    assert step.serial == step.compute + step.allreduce
    assert step.forward < step.overlapped < step.serial
    assert cost_model.step_time(cost, 256, 1, dev, Precision.fp32, 0.5).allreduce == 0
    h100 = device_table.device("h100")
    assert h100.bandwidth(8) == 450e9 and h100.bandwidth(16) == 50e9  # across nodes: the network


def test_schedule_runs_the_longest_path_first_and_marks_it():
    durations = {"a": 2.0, "b": 3.0, "c": 1.0, "d": 4.0}
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": []}
    slots, critical = schedule.schedule(durations, deps, lanes=2)
    by = {s.task: s for s in slots}
    assert critical == 5.0 and max(s.end for s in slots) == 5.0
    assert (by["a"].start, by["d"].start, by["b"].start, by["c"].start) == (0, 0, 2, 4)
    assert {s.task for s in slots if s.critical} == {"a", "b"}
    one_lane, _ = schedule.schedule(durations, deps, lanes=1)
    assert max(s.end for s in one_lane) == sum(durations.values())


def test_paper_check_d_on_four_titan_blacks():
    """Sec. 3.3: 3.75x on 4 GPUs, 2-3 weeks a net. At MFU 0.3 the model gives D/256 16.7 days on 4 Titan
    Blacks; at 0.24 20.9 days, at 0.36 13.9 (docs/plan.md's table). Its speed-up (ring all-reduce over PCIe
    3.0) is 3.9x: higher than the paper's, whose Caffe did not overlap or ring its gradient exchange."""
    p = plan.plan("paper", "titan-black", 4, mfu=0.3, per_run=4)
    d = next(c for c in p.entries if c.plan.entry.id == "D/256")
    assert 14 * 86400 < d.train_s < 21 * 86400
    assert 3.75 < d.train_one_s / d.train_serial_s < d.train_one_s / d.train_s < 4
    for mfu, lo, hi in ((0.36, 13.5, 14.5), (0.24, 20.5, 21.5)):
        days = next(c for c in plan.plan("paper", "titan-black", 4, mfu, 4).entries if c.plan.entry.id == "D/256")
        assert lo < days.train_s / 86400 < hi
    # batch 64 per GPU in torch's fp32 with DDP: 6.4 GiB, over the 6 GB card (0.5 GiB of it DDP's gradient buckets)
    assert 6 * 2**30 < d.memory["total"] < 6 * 2**30 + d.memory["ddp_buckets"]


def test_every_shipped_suite_plans_without_torch_or_data():
    code = f"import sys; from archspec.harness.planning import plan_suite; [plan_suite(s) for s in {SUITES}]"
    code += "; print(sys.modules)"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'torch'" not in out and len(SUITES) >= 3


def test_data_set_sizes_are_the_embedded_files():
    root = ROOT / "harness" / "embedded"
    sizes = []
    for name in ("train-images-idx3-ubyte.gz", "val-images-idx3-ubyte.gz"):
        with gzip.open(root / name) as f:
            sizes.append(int.from_bytes(f.read(8)[4:], "big"))  # idx header: magic, count
    assert tuple(sizes) == cost_model.SETS["embedded"][:2]


def test_auto_per_run_is_never_slower_than_a_fixed_split():
    auto = plan.plan("paper", "h100", 8)
    for g in (1, 2, 4, 8):
        assert auto.makespan_s <= plan.plan("paper", "h100", 8, per_run=g).makespan_s * (1 + 1e-9)
    assert auto.makespan_s >= auto.critical_s


def test_slurm_scripts_chain_in_the_suites_order(tmp_path):
    p = plan.plan("paper", "h100", 16, per_run=16)
    scripts = slurm.write_slurm(p, tmp_path, (suites_dir() / "paper.toml").read_text()).scripts
    assert len(scripts) == 2 * len(p.suite.train) * p.suite.suite.seeds  # a training and an evaluation each
    text = scripts[0].read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gres=gpu:8" in text
    assert re.search(
        r"srun --cpus-per-task=\"\$SLURM_CPUS_PER_TASK\" torchrun --nnodes \"\$SLURM_NNODES\" "
        r"--nproc-per-node 8 .*--no-python",
        text,
    )
    submit = (tmp_path / "submit.sh").read_text().splitlines()
    jobs = [line for line in submit if line.startswith("job_")]
    assert [j.split("=")[0] for j in jobs][:2] == ["job_01_A_256_seed0", "job_02_A_LRN_256_seed0"]
    b = next(j for j in jobs if "submit 04-B_256-seed0 " in j)
    assert b.endswith("--dependency=afterany:$job_01_A_256_seed0)")
    jitter = next(j for j in jobs if "D_256_512" in j)
    assert jitter.endswith("--dependency=afterany:$job_13_D_384_seed0)")
    assert "wait_for 13-D_384-seed0" in next(s for s in scripts if "D_256_512" in s.name).read_text()
    order = [j.split("=")[0] for j in jobs]
    for j in jobs:  # each waits only on jobs submitted before it
        for ref in re.findall(r"\$(job_\w+)", j):
            assert order.index(ref) < order.index(j.split("=")[0])
    assert f"bash {tmp_path}/submit.sh" in (tmp_path / "README.md").read_text()


def test_the_scripts_command_trains_the_run_bench_would_reuse(monkeypatch, tmp_path):
    """The command line of each script, parsed by `archspec train`, is exactly bench's configuration."""
    from archspec import cli
    from archspec.harness.bench.run import IDENTITY
    from archspec.harness.training import distributed

    train_module = importlib.import_module("archspec.harness.training.train")
    got = []
    monkeypatch.setattr(train_module, "train", lambda cfg: got.append(cfg) or _Result(tmp_path))
    monkeypatch.setattr(distributed, "processes", lambda gpus=1, nproc=1: max(gpus, nproc))
    suite = load_suite("paper")
    for entry in (suite.train[0], suite.train[-1]):
        args = slurm.train_argv(suite, entry, 0, 8, None)
        monkeypatch.setattr(sys, "argv", args)
        with pytest.raises(SystemExit) as e:
            cli.main()
        assert e.value.code == 0
        want = entry_config(suite, entry, Path("bench") / "paper", 0, 8, None)
        assert got[-1].model_dump(include=set(IDENTITY)) == want.model_dump(include=set(IDENTITY))
        assert got[-1].devices == 8 and got[-1].out == want.out


def test_plan_cli_json_and_errors(monkeypatch, capsys, tmp_path):
    from archspec import cli

    png = tmp_path / "schedule.png"
    args = ["bench", "--suite", "quick", "--plan", "-f", "json", "--devices", "2", "--gantt", str(png)]
    monkeypatch.setattr(sys, "argv", ["archspec", *args])
    with pytest.raises(SystemExit):
        cli.main()
    out = json.loads(capsys.readouterr().out)  # one object
    assert out["totals"]["trainings"] == 17 and len(out["entries"]) == 17
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad in (["--device", "tpu"], ["--mfu", "0"]):
        monkeypatch.setattr(sys, "argv", ["archspec", "bench", "--suite", "quick", "--plan", *bad])
        with pytest.raises(SystemExit) as e:
            cli.main()
        err = capsys.readouterr().err
        assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _Result:
    def __init__(self, run: Path) -> None:
        self.run, self.params, self.metrics, self.elsewhere = run, 0, [], None


def test_a_device_count_past_the_suites_tasks_plans_in_closed_form_in_bounded_time(tmp_path):
    """With at least as many lanes as tasks, list scheduling ends with the critical path (the oracle); the plan
    uses no more lanes than tasks, so a billion devices cost what the task count does, picture included."""
    started = time.perf_counter()
    for devices, per_run in ((10**9, None), (65536, 1), (1048576, None)):
        p = plan.plan("quick", "h100", devices, per_run=per_run)
        tasks = 2 * len(p.entries) * p.suite.suite.seeds  # a training and an evaluation each
        assert p.makespan_s == pytest.approx(p.critical_s) and max(s.lane for s in p.slots) < tasks
    gantt.gantt(p, tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.height <= 120 * (1.2 + 0.5 * tasks)
    assert time.perf_counter() - started < 30


def test_the_picture_and_the_scripts_never_replace_an_input_or_a_users_file(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text((suites_dir() / "quick.toml").read_text())
    before = suite.read_bytes()
    for target in (suite, device_table.DEVICES_FILE):
        with pytest.raises(ArchspecError, match=r"is an input of the plan; expected another path for the --gantt"):
            planning.plan_suite(str(suite), gantt_png=target)
    assert suite.read_bytes() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my notes")
    with pytest.raises(ArchspecError, match=r"mine: holds files that archspec bench --plan did not write"):
        planning.plan_suite(str(suite), slurm=mine)
    assert (mine / "README.md").read_text() == "my notes"
    planning.plan_suite(str(suite), slurm=tmp_path / "scripts", devices_total=2)
    planning.plan_suite(str(suite), slurm=tmp_path / "scripts", devices_total=2)  # a plan's own folder: rewritten


def test_a_speedup_that_data_parallelism_cannot_give_is_flagged(monkeypatch):
    """Speed-up on N devices over one is at most N and, under this model, at least 1/N where the link is sane:
    a link of a millionth of a GB/s breaks that, and the plan says so; the real h100 does not."""
    h100 = device_table.devices()["h100"]
    broken = h100.model_copy(update={"link_gbs": 1e-6})
    monkeypatch.setattr(device_table, "devices", lambda: {"h100": h100, "broken": broken})
    bad = plan.plan("quick", "broken", 8, per_run=8)
    speedups = [c.train_one_s / c.train_s for c in bad.entries]
    assert all(x < 1 / 8 for x in speedups)
    assert [n for n in bad.notes if n.startswith("IMPOSSIBLE: speed-ups outside [1/8, 8] on 8 devices")]
    assert not [n for n in plan.plan("quick", "h100", 8, per_run=8).notes if "IMPOSSIBLE" in n]


def test_a_plan_slower_on_n_devices_than_on_one_is_flagged_as_suspect(monkeypatch):
    """The 0.24x that 8 V100 got from a link typed as 0.12 GB/s (for 150): possible in the model, so not
    impossible, but slower than one device, which no one would run; the published link gives no such note."""
    v100 = device_table.devices()["v100"]
    typo = v100.model_copy(update={"link_gbs": 0.12})
    monkeypatch.setattr(device_table, "devices", lambda: {"v100": v100, "typo": typo})
    bad = plan.plan("paper", "typo", 8, per_run=8)
    assert all(1 / 8 <= c.train_one_s / c.train_s < 1 for c in bad.entries)
    assert [n for n in bad.notes if n.startswith("SUSPECT: 8 devices slower than one")]
    good = plan.plan("paper", "v100", 8, per_run=8, mfu=0.4)
    assert not [n for n in good.notes if "SUSPECT" in n or "IMPOSSIBLE" in n]


def test_a_suite_without_trainings_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('train = []\ntable = []\n[suite]\nname = "e"\n')
    for call in (load_suite, plan.plan):
        with pytest.raises(ArchspecError, match=r"empty.toml: train: found none; expected at least 1"):
            call(str(path))


def test_an_entry_with_its_own_batch_norm_is_planned_with_it():
    """successors: the suite trains without batch norm, its VGG and AlexNet entries with it; the planned nets carry it
    (counted against the facade's own build), as bench trains them."""
    suite = load_suite("successors")
    _, _, channels, classes = cost_model.SETS[suite.suite.data]
    own = [e for e in suite.train if e.batch_norm is not None and e.batch_norm != suite.suite.batch_norm]
    assert own, "the suite has entries with their own batch norm"
    planned = {p.entry.id: p for p in cost_model.entry_plans(suite)}
    for entry in own:
        crop = suite.crop_of(entry)
        want = archspec.network(
            entry.spec, num_classes=classes, input=f"{crop}x{crop}x{channels}", width=entry.width or suite.suite.width,
            batch_norm=entry.batch_norm,
        )  # fmt: skip
        assert archspec.infer(planned[entry.id].net).params == archspec.infer(want).params, entry.id
