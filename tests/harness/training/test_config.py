import pytest

from archspec.errors import ArchspecError
from archspec.harness.training.config import (
    MACHINE_DEFAULTS,
    OPTIONS,
    DataConfig,
    Recipe,
    TrainConfig,
    from_options,
    option_field,
    parse_scale,
    parse_steps,
    to_options,
)
from archspec.passes import Overrides


@pytest.mark.parametrize("text, want", [("256", (256, 256)), ("256:512", (256, 512)), ("[256;512]", (256, 512))])
def test_scale_forms(text, want):
    assert parse_scale(text) == want


@pytest.mark.parametrize("text", ["big", "512:256", "0", "256:"])
def test_bad_scales(text):
    with pytest.raises(ArchspecError, match="expected S"):
        parse_scale(text)


def test_paper_defaults_and_single_test_scale():
    r = Recipe()
    assert (r.batch, r.lr, r.momentum, r.weight_decay, r.dropout, r.lr_decays) == (256, 0.01, 0.9, 5e-4, 0.5, 3)
    folder = DataConfig(source="/data", scale=(256, 512))
    assert (folder.crop_size, folder.test_scale) == (224, 384)  # Q = (Smin + Smax) / 2 for jittered S
    assert DataConfig().crop_size == 32


def test_inconsistent_configs_are_rejected():
    with pytest.raises(ArchspecError, match="smaller than crop"):
        DataConfig(crop=64, scale=(48, 64))
    with pytest.raises(ArchspecError, match="does not split over 3"):
        TrainConfig(spec="A", recipe=Recipe(batch=256), devices=3)


def test_a_run_json_from_before_the_overrides_moved_still_loads():
    from archspec.harness.training.config import TrainConfig

    old = TrainConfig.model_validate({"spec": "A", "width": 0.125, "batch_norm": True, "out": "runs/a"})
    assert (old.model.width, old.model.batch_norm, old.model.num_classes) == (0.125, True, None)
    assert old.launch.devices == 1 and old.launch.errors == "runs/a"
    assert TrainConfig.model_validate_json(old.model_dump_json()) == old  # and round-trips in the new form


def test_a_schedule_takes_only_its_own_settings():
    assert Recipe(epochs=5, lr_steps=(3,)).schedule == "steps"  # --lr-steps alone, and run.json files before it
    assert Recipe(epochs=5, schedule="linear", warmup=0.5).warmup == 0.5
    with pytest.raises(ArchspecError, match="expected lr steps exactly with the steps schedule"):
        Recipe(epochs=5, schedule="linear", lr_steps=(3,))
    with pytest.raises(ArchspecError, match="expected lr steps exactly with the steps schedule"):
        Recipe(epochs=5, schedule="steps")
    for bad in ({"schedule": "plateau", "warmup": 1.0}, {"schedule": "linear", "warmup": 5.0}):
        with pytest.raises(ArchspecError, match="expected warm-up only with the linear schedule, shorter than"):
            Recipe(epochs=5, **bad)


def test_lr_steps_are_increasing_epochs():
    assert parse_steps("3, 4") == (3, 4) and Recipe(epochs=5, lr_steps=(3, 4)).lr_steps == (3, 4)
    for bad in ((4, 3), (3, 3), (0,)):
        with pytest.raises(ArchspecError, match="expected increasing epochs from 1"):
            Recipe(epochs=5, lr_steps=bad)
    with pytest.raises(ArchspecError, match="expected epochs separated by commas"):
        parse_steps("3;4")


def test_every_train_option_sets_the_field_it_names():
    given = {"name": "A/40", "data": "synthetic", "data_root": "/x", "epochs": 3, "batch": 8, "lr": 0.5}
    given |= {"momentum": 0.5, "weight_decay": 0.1, "dropout": 0.2, "patience": 1, "lr_steps": "2", "init": "glorot"}
    given |= {"init_std": 0.2, "label_smoothing": 0.1, "precision": "fp32", "pretrained_a": "a", "finetune": "b"}
    given |= {"scale": "40:48", "crop": 24, "no_flip": True, "pca": 0.2, "workers": 0, "holdout": 0.1, "seed": 7}
    given |= {"max_steps": 9, "backend": "torch", "out": "o", "threads": 2, "width": 0.5, "bn": True}
    given |= {"checkpoint_every": "500", "schedule": "steps", "pad": 2}
    cfg = from_options("specs/A.txt", given, devices=2, cuda=False)
    data = DataConfig(source="synthetic", root="/x", crop=24, scale=(40, 48), flip=False, pca_std=0.2, workers=0)
    data = data.model_copy(update={"holdout": 0.1, "pad": 2})
    recipe = Recipe(
        epochs=3, batch=8, lr=0.5, momentum=0.5, weight_decay=0.1, dropout=0.2, patience=1, lr_steps=(2,),
        init="glorot", init_std=0.2, label_smoothing=0.1, precision="fp32", pretrained_a="a", finetune="b", seed=7,
        max_steps=9,
    )  # fmt: skip
    assert cfg == TrainConfig(
        spec="specs/A.txt", name="A/40", model=Overrides(width=0.5, batch_norm=True),
        data=data, recipe=recipe, out="o", backend="torch", devices=2,
        cuda=False, threads=2, checkpoint_minutes=None, checkpoint_steps=500,
    )  # fmt: skip
    linear = from_options("specs/A.txt", {"schedule": "linear", "warmup": 0.5}).recipe
    assert (linear.schedule, linear.warmup) == ("linear", 0.5)
    assert {*given, "warmup"} == {f.removeprefix("--").replace("-", "_") for f in OPTIONS} | {
        "out",
        "threads",
        "width",
        "bn",
        "checkpoint_every",
    }


def test_options_not_given_keep_the_fields_defaults():
    cfg = from_options("specs/A.txt", {})
    assert cfg.model_dump(exclude={"out"}) == TrainConfig(spec="specs/A.txt").model_dump(exclude={"out"})
    assert (cfg.out, from_options("vgg16", {}).out) == ("runs/A", "runs/vgg16")
    assert all(option_field(flag).description for flag in OPTIONS)  # each option's help is its field's


def parsed_by_the_cli(spec: str, args: list[str]) -> TrainConfig:
    """What `archspec train SPEC ARGS` would train: the CLI's own parser, then `from_options`, as `train` does."""
    import typer

    from archspec import cli

    command = typer.main.get_command(cli.app).commands["train"]
    ctx = command.make_context("train", [spec, *args])
    given = {p: v for p, v in ctx.params.items() if ctx.get_parameter_source(p).name == "COMMANDLINE"}
    return from_options(spec, given)


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(spec="D"),
        TrainConfig(
            spec="specs/E.txt",
            name="E/[256;512]",
            out="bench/x/runs/E/seed3",
            model=Overrides(width=0.125, batch_norm=True),
            data=DataConfig(source="fashion-mnist", crop=32, scale=(37, 73), pad=2, flip=False, holdout=0.1),
            recipe=Recipe(
                epochs=6, batch=64, lr=0.05, lr_steps=(4,), init="torchvision", precision="fp32", seed=3,
                pretrained_a="bench/x/runs/A/seed3", label_smoothing=0.1, max_steps=7,
            ),
            threads=1,
            backend="torch",
            checkpoint_minutes=None,
            checkpoint_steps=500,
        ),
        TrainConfig(
            spec="A", recipe=Recipe(schedule="linear", warmup=0.5, epochs=3, finetune="runs/A"), threads=2,
            checkpoint_minutes=2.5,
        ),
    ],
    ids=["defaults", "small-suite-entry", "linear-finetune"],
)  # fmt: skip
def test_every_option_round_trips_config_to_command_line_to_config(cfg):
    args = to_options(cfg)
    assert parsed_by_the_cli(cfg.spec, args) == cfg, args
    always = [f for f in OPTIONS if f not in MACHINE_DEFAULTS and option_field(f).default not in (None, (), True)]
    assert set(always) <= set(args)  # the whole recipe is written out, not only what differs from a default
