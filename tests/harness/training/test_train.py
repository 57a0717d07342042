"""Training end to end on CPU: real learning, exact resume, interruption, divergence, data parallelism."""

import importlib

import pytest
import torch
from safetensors.torch import load_file

from archspec.errors import ArchspecError, Interrupted
from archspec.harness import DataConfig, Recipe, TrainConfig, train
from archspec.harness.training.checkpoint import read_run
from archspec.passes import Overrides

from ..conftest import TINY, synthetic

train_module = importlib.import_module("archspec.harness.training.train")  # the module, not the function


def tiny(out, **recipe) -> TrainConfig:
    r = {"epochs": 2, "batch": 16, "init": "glorot", "dropout": 0.0} | recipe
    return TrainConfig(spec=TINY, data=synthetic(), recipe=Recipe(**r), out=str(out), backend="torch", progress=False)


def weights(run):
    return load_file(run / "model.safetensors")


def test_width_reduced_a_learns_fashion_mnist_far_above_chance(tmp_path):
    """The embedded real subset: 10 classes (chance: 90% top-1 error), a few seconds on 2 cores."""
    cfg = TrainConfig(
        spec="specs/A.txt",
        model=Overrides(width=0.125, batch_norm=True),
        out=str(tmp_path / "a"),
        backend="torch",
        progress=False,
        recipe=Recipe(epochs=4, batch=64, lr=0.05, init="torchvision"),
    )
    result = train(cfg)
    assert min(m["holdout_top1_err"] for m in result.metrics) < 60
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]
    net = read_run(tmp_path / "a")[1]
    assert net.input.channels == 1 and net.layers[-2].out_features == 10  # sized from the data
    assert (tmp_path / "a" / "metrics.png").stat().st_size > 10_000


def test_resume_continues_exactly(tmp_path):
    straight = train(tiny(tmp_path / "straight", epochs=3, dropout=0.5))
    train(tiny(tmp_path / "split", epochs=1, dropout=0.5))
    resumed = train(tiny(tmp_path / "split", epochs=3, dropout=0.5).model_copy(update={"resume": True}))
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "split")[key], value, rtol=0, atol=1e-6)
    assert [m["epoch"] for m in resumed.metrics] == [1, 2, 3]
    assert [round(m["train_loss"], 5) for m in resumed.metrics] == [round(m["train_loss"], 5) for m in straight.metrics]


def test_fixed_lr_steps_divide_the_lr_by_ten_and_resume_exactly_across_a_step(tmp_path):
    straight = train(tiny(tmp_path / "straight", epochs=3, lr=0.04, lr_steps=(1, 2)))
    assert [m["lr"] for m in straight.metrics] == pytest.approx([0.04, 0.004, 0.0004])
    train(tiny(tmp_path / "split", epochs=1, lr=0.04, lr_steps=(1, 2)))  # the schedule's state is checkpointed
    resumed = train(tiny(tmp_path / "split", epochs=3, lr=0.04, lr_steps=(1, 2)).model_copy(update={"resume": True}))
    assert [m["lr"] for m in resumed.metrics] == [m["lr"] for m in straight.metrics]
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "split")[key], value, rtol=0, atol=0)


def test_linear_schedule_warms_up_then_falls_to_zero_by_the_last_step():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.8)
    schedule, used = train_module.Linear(opt, warmup=2, total=6), []
    for _ in range(6):
        used.append(opt.param_groups[0]["lr"])  # the lr of this SGD step
        schedule.step()
    assert used == pytest.approx([0.4, 0.8, 0.8, 0.6, 0.4, 0.2]) and opt.param_groups[0]["lr"] == 0


def test_linear_schedule_resumes_exactly_mid_epoch(tmp_path, monkeypatch):
    linear = {"epochs": 3, "lr": 0.04, "schedule": "linear", "warmup": 0.5}
    straight = train(tiny(tmp_path / "straight", **linear))
    assert 0 < straight.metrics[0]["lr"] < 0.04 and straight.metrics[-1]["lr"] == 0
    real, calls = train_module.train_step, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 5:  # in the second epoch (3 steps each)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", interrupted)
    with pytest.raises(Interrupted, match=r"at epoch 2, step 1"):
        train(tiny(tmp_path / "cut", **linear))
    monkeypatch.setattr(train_module, "train_step", real)
    resumed = train(tiny(tmp_path / "cut", **linear).model_copy(update={"resume": True}))
    assert [m["lr"] for m in resumed.metrics] == [m["lr"] for m in straight.metrics]
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "cut")[key], value, rtol=0, atol=0)


def test_ctrl_c_saves_mid_epoch_and_resume_matches(tmp_path, monkeypatch):
    train(tiny(tmp_path / "straight"))
    real, calls = train_module.train_step, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", interrupted)
    with pytest.raises(Interrupted, match=r"saved .*checkpoint.pt at epoch 1, step 2; continue with: archspec"):
        train(tiny(tmp_path / "cut"))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (0, 2)
    monkeypatch.setattr(train_module, "train_step", real)
    train(tiny(tmp_path / "cut").model_copy(update={"resume": True}))
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "cut")[key], value, rtol=0, atol=1e-6)


def test_sigterm_checkpoints_like_ctrl_c(tmp_path, monkeypatch):
    """How SLURM and other schedulers preempt: the run saves where it stopped and resumes exactly."""
    import os
    import signal

    train(tiny(tmp_path / "straight"))
    real, calls = train_module.train_step, {"n": 0}
    before = signal.getsignal(signal.SIGTERM)

    def preempted(*args):
        calls["n"] += 1
        if calls["n"] == 6:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", preempted)
    with pytest.raises(Interrupted):
        train(tiny(tmp_path / "cut"))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2)  # 3 steps an epoch: stopped during epoch 2's third step
    assert signal.getsignal(signal.SIGTERM) is before  # the run's handler is gone with the run
    monkeypatch.setattr(train_module, "train_step", real)
    train(tiny(tmp_path / "cut").model_copy(update={"resume": True}))
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "cut")[key], value, rtol=0, atol=1e-6)


def test_step_checkpoints_survive_a_kill(tmp_path, monkeypatch):
    """A crash that saves nothing (as SIGKILL) still leaves the last step checkpoint to resume from, exactly."""
    train(tiny(tmp_path / "straight"))
    real, calls = train_module.train_step, {"n": 0}

    def killed(*args):
        calls["n"] += 1
        if calls["n"] == 3:  # the last step of epoch 1: no epoch-end checkpoint yet
            raise SystemExit(137)  # not KeyboardInterrupt: nothing is saved on the way out
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", killed)
    with pytest.raises(SystemExit):
        train(tiny(tmp_path / "cut").model_copy(update={"checkpoint_steps": 2}))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (0, 2)
    monkeypatch.setattr(train_module, "train_step", real)
    train(tiny(tmp_path / "cut").model_copy(update={"resume": True}))
    for key, value in weights(tmp_path / "straight").items():
        torch.testing.assert_close(weights(tmp_path / "cut")[key], value, rtol=0, atol=1e-6)


def test_a_run_folder_in_use_is_refused_naming_its_holder(tmp_path):
    from archspec.harness.training.checkpoint import locked

    with locked(tmp_path / "r"):
        with pytest.raises(ArchspecError, match=r"r: in use by archspec pid \d+ on .* since .*; expected a run folder"):
            train(tiny(tmp_path / "r", epochs=1))
    train(tiny(tmp_path / "r", epochs=1))  # released: the folder is free again


def test_nan_before_any_checkpoint_says_so(tmp_path, monkeypatch):
    real = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", lambda *a: (real(*a)[0] * float("nan"), real(*a)[1]))
    with pytest.raises(ArchspecError, match=r"loss became nan at epoch 1, step 1; stopped, and no checkpoint was "):
        train(tiny(tmp_path / "r"))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real, calls = train_module.train_step, {"n": 0}

    def diverging(*args):
        calls["n"] += 1
        loss, hits = real(*args)
        return (loss * float("nan"), hits) if calls["n"] == 5 else (loss, hits)  # epoch 2, step 2 (3 steps/epoch)

    monkeypatch.setattr(train_module, "train_step", diverging)
    with pytest.raises(ArchspecError, match=r"loss became nan at epoch 2, step 2; stopped, and kept the last good"):
        train(tiny(tmp_path / "r", epochs=3))
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 0)


def test_existing_run_is_not_overwritten(tmp_path):
    train(tiny(tmp_path / "r", epochs=1))
    with pytest.raises(ArchspecError, match="already holds a checkpoint; expected --resume"):
        train(tiny(tmp_path / "r"))


def test_finetune_from_another_spec_names_the_layer(tmp_path):
    train(tiny(tmp_path / "a", epochs=1))
    other = TINY.replace("conv3-8", "conv3-6")
    cfg = tiny(tmp_path / "b").model_copy(update={"spec": other})
    cfg = cfg.model_copy(update={"recipe": cfg.recipe.model_copy(update={"finetune": str(tmp_path / "a")})})
    with pytest.raises(ArchspecError, match=r"features\.3\.weight \(conv3-6 at .*\) of shape \(8, 4, 3, 3\)"):
        train(cfg)


def test_folder_training_runs(tmp_path, image_folder):
    data = DataConfig(source=str(image_folder), crop=16, scale=(18, 22), workers=0)
    cfg = TrainConfig(
        spec="input 16x16x3 conv3-4 maxpool FC-8 FC-3 soft-max",
        data=data,
        out=str(tmp_path / "f"),
        recipe=Recipe(epochs=1, batch=6, init="glorot"),
        backend="torch",
        progress=False,
    )
    result = train(cfg)
    assert len(result.metrics) == 1 and read_run(tmp_path / "f")[2] == ["n01", "n02", "n03"]


def test_off_a_terminal_each_epoch_is_one_plain_line(tmp_path, capfd):
    train(tiny(tmp_path / "r").model_copy(update={"progress": True}))
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if ": epoch " in line]
    assert [line.split(": epoch ")[1][:3] for line in lines] == ["1/2", "2/2"]
    assert "held-out top-1 err" in lines[0] and "img/s" in lines[0]
    assert "is replaced by the data's" not in err  # the spec's own input: no note
    other = tiny(tmp_path / "other", epochs=1).model_copy(
        update={"progress": True, "spec": TINY.replace("16x16", "24x24")}
    )
    train(other)
    assert (
        "note: spec: the spec's input 24x24x3 is replaced by the data's 16x16x3 (crop 16, 3 channels)"
        in capfd.readouterr().err
    )


def test_a_full_disk_is_one_line_and_the_last_checkpoint_survives(tmp_path, monkeypatch):
    """Epoch 1 is saved; saving epoch 2 hits ENOSPC: one line, epoch 1's state intact, and resume completes."""
    real, calls = torch.save, {"n": 0}

    def full_after_one(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_after_one)
    with pytest.raises(ArchspecError, match=r"checkpoint.pt: could not be written \(No space left on device\)"):
        train(tiny(tmp_path / "r"))
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert [p.name for p in (tmp_path / "r").iterdir() if p.name.startswith(".checkpoint")] == []  # no debris
    monkeypatch.setattr(torch, "save", real)
    result = train(tiny(tmp_path / "r").model_copy(update={"resume": True}))
    assert [m["epoch"] for m in result.metrics] == [1, 2] and (tmp_path / "r" / "best.safetensors").is_file()


def test_a_quarter_width_resnet18_learns_the_embedded_data_and_evaluates_dense_and_multi_crop(tmp_path):
    """Any spec trains: resnet18 (residual stages, written batch norm, global pooling) on the embedded
    Fashion-MNIST subset, then the paper's dense and multi-crop protocols on its scored split."""
    from archspec.harness.evaluation.evaluate import EvalJob, evaluate_checkpoints

    cfg = TrainConfig(
        spec="resnet18",
        model=Overrides(width=0.25),
        out=str(tmp_path / "r18"),
        backend="torch",
        progress=False,
        recipe=Recipe(epochs=3, batch=64, lr=0.05, init="torchvision"),
    )
    result = train(cfg)
    assert min(m["holdout_top1_err"] for m in result.metrics) < 60  # chance: 90%
    rows = evaluate_checkpoints(EvalJob([str(tmp_path / "r18")], progress=False, protocols=("multi",)))
    errors = {r["method"]: r for r in rows}
    assert {"dense", "multi-crop", "multi-crop & dense"} <= set(errors)
    assert all(r["top1_err"] < 60 for r in errors.values())
    assert errors["dense"]["dense_map"] >= 2  # a global-pool net scores every position of its last map


def test_label_smoothing_trains_on_the_smoothed_cross_entropy():
    """The loss is (1 - e) x cross-entropy + e x the mean over classes of -log p, computed here by hand."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])
    logp = model(x).log_softmax(1).detach()
    want = 0.9 * -logp[range(5), y].mean() + 0.1 * -logp.mean()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, hits = train_module.train_step(model, opt, x, y, None, smoothing=0.1)
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert hits.item() == (logp.argmax(1) == y).sum().item()


def test_bf16_precision_runs_the_convs_in_bf16_and_keeps_fp32_weights(tmp_path, monkeypatch, bf16_units):
    bf16_units(amx=True)  # a CPU without bf16 units stops before training (test_cli); here it is emulated
    seen = []
    real = train_module.train_step

    def spy(model, optimizer, x, y, amp, smoothing=0.0):
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        hook = conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        try:
            return real(model, optimizer, x, y, amp, smoothing)
        finally:
            hook.remove()

    monkeypatch.setattr(train_module, "train_step", spy)
    result = train(tiny(tmp_path / "bf16", epochs=1, precision="bf16", label_smoothing=0.1))
    assert seen and set(seen) == {torch.bfloat16}
    assert {w.dtype for w in weights(tmp_path / "bf16").values() if w.is_floating_point()} == {torch.float32}
    assert read_run(tmp_path / "bf16")[0].recipe.precision == "bf16"  # run.json records it
    assert result.metrics[0]["train_loss"] > 0


@pytest.mark.parametrize("amx, dtype", [(False, None), (True, torch.bfloat16)])
def test_the_default_precision_follows_the_cpus_bf16_units(tmp_path, monkeypatch, bf16_units, amx, dtype):
    bf16_units(amx=amx)
    seen = []
    real = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", lambda *a, **k: seen.append(a[4]) or real(*a, **k))
    train(tiny(tmp_path / "run", epochs=1))
    assert seen and set(seen) == {dtype}
