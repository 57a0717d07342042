"""`archspec train`: the paper's Section 3.1 recipe on one process or many.

`train(cfg)` checks what it can up front, then launches `run` on every process;
`run` builds data, model and optimizer and loops over epochs, each epoch handing
off to `train_step` per batch, `evaluate` on the validation set and
`checkpoint.save`. Dropout masks and augmentations are seeded by
(seed, epoch, step), so `--resume` continues exactly where the last checkpoint
(or Ctrl-C) left off.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from archspec import memory
from archspec.choices import Schedule
from archspec.compiler import build
from archspec.compiler.memory_format import channels_last
from archspec.compiler.weights import load_weights, read_state_dict
from archspec.errors import ArchspecError, Interrupted
from archspec.files import folder, make_folder
from archspec.infer import infer
from archspec.ir import Network
from archspec.source import resolve

from . import checkpoint, metrics
from .allocator import keep_freed_memory
from .config import RESUME_OPTIONS, TrainConfig, from_options, option_name, parse_every
from .data import load as load_data
from .distributed import (
    Context,
    Stopped,
    WorkerDied,
    agree,
    all_reduce_sum,
    autocast_dtype,
    check_precision,
    cpu_share,
    launch,
    rank0_place,
    restart_count,
    sync_batchnorm,
    use_cuda,
    within_cores,
)
from .init import check_plain, initialise, preinit_from_a


@dataclass
class Result:
    run: Path
    params: int
    metrics: list[dict]
    preinit: list[tuple[str, str]]
    elsewhere: str | None = None  # on every process but rank 0: rank 0's HOST:/path, where the run is written


# ---------------------------------------------------------------- steps


def train_step(
    model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, amp: torch.dtype | None, smoothing: float = 0.0
):
    """One SGD step; returns (loss, correct) as tensors (no host sync)."""
    with torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        logits = model(x)  # (B, classes)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), (logits.argmax(1) == y).sum()


@torch.no_grad()
def evaluate(model: nn.Module, batches, amp: torch.dtype | None) -> dict:
    """Loss and top-1 / top-5 error (%) at the single test scale, centre crop; {} when there are no batches."""
    was = model.training
    model.eval()
    loss = top1 = top5 = n = 0.0
    for x, y in batches:
        with torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(x).float()  # (B, classes)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        best = logits.topk(min(5, logits.shape[1]), 1).indices  # (B, 5)
        top1 += (best[:, 0] == y).sum().item()
        top5 += (best == y[:, None]).any(1).sum().item()
        n += len(y)
    model.train(was)
    if n == 0:
        return {}
    return {"loss": loss / n, "top1_err": 100 * (1 - top1 / n), "top5_err": 100 * (1 - top5 / n)}


# ---------------------------------------------------------------- setup


def make_optimizer(model: nn.Module, cfg: TrainConfig, steps_per_epoch: int):
    """SGD with momentum, weight decay on the weights only, and the recipe's lr schedule."""
    r = cfg.recipe
    decay = [p for p in model.parameters() if p.dim() > 1]  # weights; biases and BN parameters are not decayed
    rest = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": r.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum)
    if r.schedule is Schedule.steps:
        return opt, StepsAt(opt, milestones=list(r.lr_steps), gamma=0.1)
    if r.schedule is Schedule.linear:
        total = r.epochs * steps_per_epoch
        return opt, Linear(opt, min(round(r.warmup * steps_per_epoch), total - 1), total)
    floor = r.lr * 0.1**r.lr_decays * (1 - 1e-6)  # lr is divided by 10 at most `lr_decays` times
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=r.patience, min_lr=floor)
    return opt, sched


class StepsAt(torch.optim.lr_scheduler.MultiStepLR):
    """lr / 10 after fixed epochs (`--lr-steps`), stepped like the plateau rule, whose score it does not need."""

    def step(self, score: float | None = None) -> None:
        super().step()


class Linear(torch.optim.lr_scheduler.LambdaLR):
    """`--schedule linear`: lr rises linearly from 0 over `warmup` steps, then falls linearly to 0 at step `total`;
    stepped after every SGD step. Under a fixed budget this beats step schedules (Li et al., ICLR 2020,
    "Budgeted training")."""

    per_step = True

    def __init__(self, optimizer, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        return max(0.0, (self.total - step) / (self.total - self.warmup))

    def state_dict(self) -> dict:  # warmup and total come from the config (a resume may add epochs)
        return {k: v for k, v in super().state_dict().items() if k not in ("lr_lambdas", "warmup", "total")}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


def _net_a(cfg: TrainConfig, net) -> Network:
    """Net A's IR: from its run folder, else the registry's A at this run's sizes."""
    source = Path(cfg.recipe.pretrained_a)
    if (source / "run.json").is_file():
        return checkpoint.read_run(source)[1]
    i = net.input
    return cfg.network(net_classes(net), i.channels, (i.height, i.width), spec="A")


def net_classes(net: Network) -> int:
    """The classes a net scores: its last FC layer's outputs."""
    return next(layer.out_features for layer in reversed(net.layers) if layer.kind == "fc")


def fresh_model(cfg: TrainConfig, net: Network) -> nn.Module:
    """The net as the recipe starts it: its initialisation from the recipe's seed, its dropout rate."""
    torch.manual_seed(cfg.recipe.seed)  # the same initial weights on every process
    model = build(net, cfg.backend)
    initialise(model, cfg.recipe.init, cfg.recipe.init_std)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = cfg.recipe.dropout
    return model


def _model(cfg: TrainConfig, net, ctx: Context) -> tuple[nn.Module, list]:
    model = fresh_model(cfg, net)
    copied = []
    if cfg.resume:  # the checkpoint's weights replace any starting point
        return channels_last(model, ctx.device), copied
    if cfg.recipe.pretrained_a:
        copied = preinit_from_a(
            model, read_state_dict(checkpoint.weights_of(cfg.recipe.pretrained_a)), _net_a(cfg, net)
        )
    if cfg.recipe.finetune:
        path = checkpoint.weights_of(cfg.recipe.finetune)
        load_weights(model, read_state_dict(path), str(path))
    return channels_last(model, ctx.device), copied  # oneDNN's strided 1x1 bug routed around on a CPU


def prepare(cfg: TrainConfig) -> None:
    """Fail early, in the launching process, on what would fail every worker."""
    if not cfg.resume:  # a resume takes the network from run.json: its spec file may be gone
        net = resolve(cfg.spec)
        if cfg.recipe.pretrained_a:
            check_plain(net)
    if not cfg.data.small:
        folder(cfg.data.source, "an ImageNet-layout folder or one of embedded, fashion-mnist, mnist, synthetic")


def train(cfg: TrainConfig) -> Result:
    """Train `cfg` in its run folder, which this process owns (locked) until the run ends. When torchrun
    restarts the group after a failure (`--max-restarts`), the run goes on from its last checkpoint."""
    within_cores(cfg.threads, "--threads")  # a resumed run keeps its own unless --threads is given
    if restart_count() and (Path(cfg.out) / "checkpoint.pt").is_file():
        cfg = cfg.model_copy(update={"resume": True})
    device = torch.device("cuda" if use_cuda(cfg.launch) else "cpu")  # bf16 emulated 90x slower: stop before a folder
    check_precision(cfg.recipe.precision, device, f"{cfg.out}: run.json's precision" if cfg.resume else "--precision")
    if os.environ.get("RANK", "0") != "0":  # under torchrun: rank 0 holds the lock for all
        prepare(cfg)
        return launch(run, cfg.launch, cfg)
    if not cfg.resume:  # before the lock file is made in a folder that is not archspec's
        checkpoint.check_new(Path(cfg.out))
    with checkpoint.locked(cfg.out):
        prepare(cfg)
        return _launch(cfg)


def _launch(cfg: TrainConfig) -> Result:
    """`run` on every process; a worker that died, or a launcher stopped by a signal, is one line saying how to go
    on from what was saved."""
    try:
        return launch(run, cfg.launch, cfg)
    except WorkerDied as e:
        raise ArchspecError(f"{cfg.out}: {e}; {_going_on(cfg)}") from None
    except Stopped as e:
        raise Interrupted(f"{cfg.out}: {e}; {_going_on(cfg)}") from None


def _going_on(cfg: TrainConfig) -> str:
    saved = Path(cfg.out) / "checkpoint.pt"
    if saved.is_file():
        return f"{saved} holds the last checkpoint; continue with: archspec train --resume {cfg.out}"
    return "no checkpoint was saved yet; run the same command again"


# ---------------------------------------------------------------- the loop


def _progress(cfg: TrainConfig, ctx: Context) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[ips]:>7.0f} img/s  loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not (cfg.progress and ctx.main),
    )


@dataclass
class State:
    """Everything that changes while training; (epoch, step) is where the next step starts."""

    model: nn.Module  # DDP-wrapped when data parallel
    plain: nn.Module  # what checkpoints save
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
    epoch: int = 0
    step: int = 0
    done: int = 0  # steps over all epochs
    best: float = -1.0  # best validation top-1 accuracy (%)
    rows: list[dict] = field(default_factory=list)


def setup(cfg: TrainConfig, ctx: Context, data) -> tuple[Network, State, list]:
    """Network, model, optimizer and scheduler; from the checkpoint when resuming."""
    out = Path(cfg.out)
    if cfg.resume:
        net = checkpoint.read_run(out)[1]
    else:
        crop, net = cfg.data.crop_size, cfg.network(len(data.classes), data.channels)
        written = resolve(cfg.spec).input
        if ctx.main and cfg.progress and written != net.input:  # the data decides; say so, once
            Console(stderr=True).print(
                f"note: {net.name}: the spec's input {written} is replaced by the data's {net.input} "
                f"(crop {crop}, {data.channels} channel{'s' if data.channels > 1 else ''})",
                markup=False,
                soft_wrap=True,
            )
    agree(_identity(cfg, net, data), ctx)  # before DDP compares parameter shapes, and before the first step
    if ctx.device.type == "cpu":  # before the model or a batch is allocated
        memory.check(infer(net), cfg.recipe.batch // ctx.world, training=True, what=f"{cfg.out}: {net.name}")
    model, copied = _model(cfg, net, ctx)
    plain = model
    if ctx.world > 1:
        model = plain = nn.parallel.DistributedDataParallel(sync_batchnorm(model, ctx.device))
    st = State(model, plain, *make_optimizer(model, cfg, data.steps(cfg.recipe.batch)))
    if ctx.world > 1 and all_reduce_sum([float(cfg.resume)], ctx)[0] not in (0, ctx.world):
        raise ArchspecError(
            f"{out}: the checkpoint is there on some nodes only; expected --out on a filesystem every node "
            "sees (see docs/distributed.md)"
        )
    if cfg.resume:
        saved, path = checkpoint.load(out), out / "checkpoint.pt"
        load_weights(getattr(model, "module", model), saved["model"], str(path))
        checkpoint.restore(path, "optimizer", st.optimizer.load_state_dict, saved["optimizer"])
        checkpoint.restore(path, "scheduler", st.scheduler.load_state_dict, saved["scheduler"])
        checkpoint.restore(path, "random number generator", torch.set_rng_state, saved["rng"])
        st.epoch, st.step, st.best = saved["epoch"], saved["step"], saved["best"]
        st.rows = [row for row in metrics.read(out / "metrics.csv") if row["epoch"] <= st.epoch]
        if ctx.main and restart_count():
            Console(stderr=True).print(
                f"{out}: torchrun restart {restart_count()}: resuming from checkpoint.pt at epoch {st.epoch + 1}, "
                f"step {st.step}",
                markup=False,
                soft_wrap=True,
            )
    elif ctx.main:
        checkpoint.write_run(out, cfg, net, data.classes, data.stats, data.holdout_record())
    st.done = st.epoch * data.steps(cfg.recipe.batch) + st.step
    return net, st, copied


def _identity(cfg: TrainConfig, net: Network, data) -> dict:
    """What every process of a run must share, in the order a difference is named: the network, the recipe and
    the data (not where each node keeps its files, nor how fast it loads them)."""
    recipe = cfg.recipe.model_dump(exclude={"pretrained_a", "finetune"})  # DDP starts every rank from rank 0's
    loading = cfg.data.model_dump(exclude={"source", "root", "workers"})
    seen = {"classes": data.classes, "training images": data.holdout_record()["train"], "mean": data.stats.mean}
    return (
        {"spec (the network)": net.structure_hash(), "backend": cfg.backend}
        | {f"recipe.{k}": v for k, v in recipe.items()}
        | {f"data.{k}": v for k, v in (loading | seen).items()}
    )


def _due(cfg: TrainConfig, steps: int, since: float) -> bool:
    """A step checkpoint is due: every `checkpoint_steps` steps, or `checkpoint_minutes` of work."""
    if cfg.checkpoint_steps is not None:
        return steps >= cfg.checkpoint_steps
    return cfg.checkpoint_minutes is not None and time.monotonic() - since >= 60 * cfg.checkpoint_minutes


def loop_step(model: nn.Module, optimizer, scheduler, x, y, amp, smoothing: float, key: tuple) -> tuple[float, int]:
    """One step of the training loop: the batch channels-last, dropout masks seeded by `key`, `train_step`, the
    per-step lr, and the loss and hits read back (what `bench --plan --device cpu` times, too)."""
    x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
    torch.manual_seed(hash(key) & 0x7FFF_FFFF)  # dropout masks
    loss, hits = train_step(model, optimizer, x, y, amp, smoothing)
    if getattr(scheduler, "per_step", False):
        scheduler.step()
    return loss.item(), hits.item()


def train_epoch(st: State, data, cfg: TrainConfig, ctx: Context, progress, amp, total_steps: int) -> dict:
    """The rest of the current epoch, with step checkpoints; Ctrl-C or SIGTERM saves where it stopped.
    Returns the epoch's training figures."""
    r, out = cfg.recipe, Path(cfg.out)
    task = progress.add_task(
        f"epoch {st.epoch + 1}/{r.epochs}", total=data.steps(r.batch), completed=st.step, ips=0.0, loss=float("nan")
    )
    start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0.0
    saved_at, since = time.monotonic(), 0
    try:
        for x, y in data.train_batches(st.epoch, r.batch, r.seed, ctx.rank, ctx.world, st.step, ctx.device):
            key = (r.seed, st.epoch, st.step, ctx.rank)
            value, hits = loop_step(st.model, st.optimizer, st.scheduler, x, y, amp, r.label_smoothing, key)
            if not math.isfinite(value):
                kept = out / "checkpoint.pt"
                keep = f"kept the last good checkpoint {kept}" if kept.is_file() else "no checkpoint was saved yet"
                raise ArchspecError(
                    f"{out}: loss became {value} at epoch {st.epoch + 1}, step {st.step + 1}; "
                    f"stopped, and {keep} (try a lower --lr)"
                )
            st.step, st.done, seen, since = st.step + 1, st.done + 1, seen + len(y) * ctx.world, since + 1
            loss_sum, correct = loss_sum + value * len(y), correct + hits
            progress.update(task, advance=1, loss=value, ips=seen / (time.perf_counter() - start))
            if st.done >= total_steps:
                break
            if ctx.main and _due(cfg, since, saved_at):
                checkpoint.save(out, st.plain, st.optimizer, st.scheduler, epoch=st.epoch, step=st.step, best=st.best)
                saved_at, since = time.monotonic(), 0
    except KeyboardInterrupt:
        if ctx.main:
            checkpoint.save(out, st.plain, st.optimizer, st.scheduler, epoch=st.epoch, step=st.step, best=st.best)
        raise Interrupted(
            f"saved {out / 'checkpoint.pt'} at epoch {st.epoch + 1}, step {st.step}; continue with: "
            f"archspec train --resume {out}"
        ) from None
    finally:
        progress.remove_task(task)
    seconds = time.perf_counter() - start
    loss_sum, correct, n = all_reduce_sum([loss_sum, correct, seen / ctx.world], ctx)
    return {
        "train_loss": loss_sum / n,
        "train_top1_err": 100 * (1 - correct / n),
        "images_per_s": seen / seconds,
        "seconds": seconds,
    }


def end_epoch(st: State, figures: dict, data, cfg: TrainConfig, ctx: Context, amp) -> None:
    """Score the held-out split (on rank 0, shared with all), step the lr schedule, record metrics, checkpoint.
    The plateau rule and best.safetensors look only at the held-out split (or, with no holdout, at the
    training error), never at the split that `archspec eval` scores."""
    out = Path(cfg.out)
    model = getattr(st.model, "module", st.model)
    result = evaluate(model, data.holdout_batches(cfg.recipe.batch, ctx.device), amp) if ctx.main else {}
    keys = ("loss", "top1_err", "top5_err")
    values = all_reduce_sum([result.get(k, 0.0) for k in keys] + [float(bool(result))], ctx)
    held = dict(zip(keys, values, strict=False)) if values[-1] else {}
    lr = st.optimizer.param_groups[0]["lr"]
    st.rows.append(
        {
            "epoch": st.epoch + 1,
            "lr": lr,
            **figures,
            **{f"holdout_{k}": v for k, v in held.items()},
            "skipped_images": data.skipped,
        }
    )
    accuracy = 100 - (held["top1_err"] if held else figures["train_top1_err"])
    if not getattr(st.scheduler, "per_step", False):
        st.scheduler.step(accuracy)
    st.epoch, st.step = st.epoch + 1, 0
    if ctx.main:
        checkpoint.save(out, st.plain, st.optimizer, st.scheduler, epoch=st.epoch, step=0, best=max(st.best, accuracy))
        if held and accuracy > st.best:
            checkpoint.save_weights(
                st.plain,
                out / "best.safetensors",
                epoch=st.epoch,
                selected_on="holdout",
                holdout_top1_err=100 - accuracy,
            )
        metrics.write(out / "metrics.csv", st.rows)
        _plain_line(st.rows[-1], cfg)
        _warn_if_at_chance(st, cfg, len(data.classes))
    st.best = max(st.best, accuracy)


def _plain_line(row: dict, cfg: TrainConfig) -> None:
    """When stderr is not a terminal (CI, nohup, a pipe) the progress bar shows nothing: one line per epoch."""
    console = Console(stderr=True)
    if not cfg.progress or console.is_terminal:
        return
    held = f", held-out top-1 err {row['holdout_top1_err']:.2f}%" if "holdout_top1_err" in row else ""
    console.print(
        f"{cfg.out}: epoch {row['epoch']}/{cfg.recipe.epochs}: train loss {row['train_loss']:.4f}, "
        f"train top-1 err {row['train_top1_err']:.2f}%{held}, lr {row['lr']:g}, "
        f"{row['images_per_s']:.0f} img/s, {row['seconds']:.1f} s",
        markup=False,
        soft_wrap=True,
    )


def _warn_if_at_chance(st: State, cfg: TrainConfig, classes: int) -> None:
    """One line after the third epoch when the net has learnt nothing (the paper's init at small width)."""
    row = st.rows[-1]
    err = row.get("holdout_top1_err", row["train_top1_err"])
    if row["epoch"] == 3 and err >= 100 * (1 - 1 / classes) - 2:
        r = cfg.recipe
        init = f"{r.init} init" + (f" (std {r.init_std})" if r.init == "normal" else "")
        Console(stderr=True).print(
            f"warning: {cfg.out}: top-1 error {err:.1f}% after 3 epochs is chance level ({classes} classes); likely "
            f"causes: the {init} (try --init torchvision, or --init-std 0.1 at small width) or the lr {r.lr}",
            markup=False,
            soft_wrap=True,
        )


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (how schedulers such as SLURM preempt) checkpoints and stops like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def run(cfg: TrainConfig, ctx: Context) -> Result:
    """One process's share of `train`: setup, then per epoch train_epoch and end_epoch."""
    r, out = cfg.recipe, make_folder(cfg.out, "the run")
    if cfg.threads or cpu_share(ctx):
        torch.set_num_threads(cfg.threads or cpu_share(ctx))
    keep_freed_memory()
    amp = autocast_dtype(r.precision, ctx.device)
    plotted = time.monotonic()  # first plot after a minute, or at the end
    st = net = None
    try:
        with _sigterm_as_interrupt(), _progress(cfg, ctx) as progress:
            data = load_data(cfg.data, progress)
            net, st, copied = setup(cfg, ctx, data)
            elsewhere = rank0_place(out, ctx)
            total_steps = r.max_steps or data.steps(r.batch) * r.epochs
            while st.epoch < r.epochs and st.done < total_steps:
                figures = train_epoch(st, data, cfg, ctx, progress, amp, total_steps)
                end_epoch(st, figures, data, cfg, ctx, amp)
                last = st.epoch >= r.epochs or st.done >= total_steps
                if ctx.main and (last or time.monotonic() - plotted > metrics.PLOT_EVERY_S):
                    metrics.plot(out / "metrics.png", st.rows, f"{net.name} on {cfg.data.source}")
                    plotted = time.monotonic()
    except Interrupted:
        if ctx.main and st is not None and st.rows:  # the plot of what was done, even for a run shorter than a minute
            metrics.plot(out / "metrics.png", st.rows, f"{net.name} on {cfg.data.source}")
        raise
    return Result(out, sum(p.numel() for p in st.plain.parameters()), st.rows, copied, elsewhere)


RESUMABLE = {"resume", *map(option_name, RESUME_OPTIONS)}  # the parameters `--resume` takes beside itself


def resumed(run: str, given: dict, devices: int) -> TrainConfig:
    """The config to continue `run` with: `epochs` may extend it; an option that would change the recipe
    mid-run (given: the options the user wrote, with their values) is refused, naming it."""
    from .checkpoint import check_resumable, read_run, rewrite_config

    check_resumable(Path(run))
    cfg = read_run(run)[0]
    changed = sorted(k for k in given if k not in RESUMABLE)
    if changed:
        names = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ArchspecError(
            f"--resume {run}: {names} would change the run's recipe mid-run; expected only "
            f"{', '.join(RESUME_OPTIONS)} (--epochs to extend it)"
        )
    update = {"resume": True, "devices": devices, "out": run}
    if "epochs" in given and given["epochs"] != cfg.recipe.epochs:
        update["recipe"] = cfg.recipe.model_copy(update={"epochs": given["epochs"]})
    if "threads" in given:
        update["threads"] = given["threads"]
    if "workers" in given:
        update["data"] = cfg.data.model_copy(update={"workers": given["workers"]})
    if "checkpoint_every" in given:
        update["checkpoint_minutes"], update["checkpoint_steps"] = parse_every(given["checkpoint_every"])
    new = cfg.model_copy(update=update)
    if new.recipe.epochs != cfg.recipe.epochs:
        rewrite_config(run, new)  # run.json says what the run now is
    return new


def resume(run: str, given: dict, devices: int = 1) -> Result:
    """`archspec train --resume RUN`: continue the run (see `resumed` for what `given` may change)."""
    return train(resumed(run, given, devices))


def train_command(spec: str | None, given: dict, gpus: int = 1, nproc: int = 1) -> Result:
    """`archspec train`: a new run of `spec` with the options the user gave (by parameter name, see
    `config.from_options`), or the run of `--resume` (given as `resume_run`) continued."""
    from .distributed import processes

    devices = processes(gpus, nproc)
    if given.get("resume_run"):
        return resume(given["resume_run"], {k: v for k, v in given.items() if k != "resume_run"}, devices)
    if not spec:
        raise ArchspecError("train: no spec; expected a spec file or name (e.g. specs/A.txt), or --resume RUN")
    return train(from_options(spec, given, devices, cuda=None if gpus > 1 or nproc == 1 else False))
