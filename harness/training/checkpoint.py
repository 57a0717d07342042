"""Run folders: what a training run leaves for resume, evaluation and bench.

    runs/NAME/run.json            the TrainConfig, the network (IR JSON), classes, colour statistics
    runs/NAME/holdout.json        which training images were held out (indices or files)
    runs/NAME/checkpoint.pt       everything to resume exactly: weights, optimizer, scheduler, epoch, step,
                                  best accuracy, RNG state (read with torch.load(weights_only=True))
    runs/NAME/model.safetensors   the latest weights, torchvision layout: what eval, fine-tuning and
                                  pre-initialisation use (the paper's end point)
    runs/NAME/best.safetensors    the weights with the best top-1 on the held-out split (not the scored one)
    runs/NAME/metrics.csv, metrics.png

Every file is written atomically (temporary file, then rename), so an
interruption never leaves a half-written checkpoint, and the previous one
survives any failure while the next is written.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import safetensors.torch
import torch
from pydantic import ValidationError

from archspec import plugins
from archspec.atomic import atomic_path
from archspec.errors import ArchspecError
from archspec.files import make_folder, read_json, regular
from archspec.ir import Network
from archspec.provenance import code_version

from .augment import Stats
from .config import TrainConfig


@contextmanager
def locked(folder: str | Path, what: str = "run") -> Iterator[None]:
    """Own `folder` while the block runs: a second archspec process on it gets one line naming the holder.
    The lock is the kernel's (flock on folder/.lock), so it is released even when the holder is killed."""
    folder = make_folder(folder, f"the {what}")
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ArchspecError(f"{folder}: cannot write in it ({e.strerror}); expected a writable {what} folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise ArchspecError(
                f"{folder}: in use by {holder}; expected a {what} folder no other archspec process "
                "is using (wait for it to finish, or use another --out)"
            ) from None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"archspec pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _plain(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)  # unwrap DDP


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file whose bytes depend only on its content. safetensors writes the metadata keys in a
    per-process hash order, so the same weights gave other bytes in every process; the header is rewritten with
    the keys sorted (the same JSON, the same length, so the tensors' offsets stand)."""
    data = safetensors.torch.save(tensors, metadata=metadata)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode().ljust(n)
    return data if len(text) != n else data[:8] + text + data[8 + n :]


def save_weights(model: torch.nn.Module, path: Path, **meta: object) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in _plain(model).state_dict().items()}
    with atomic_path(path) as tmp:
        tmp.write_bytes(safetensors_bytes(state, {k: str(v) for k, v in meta.items()}))


def save(run: Path, model, optimizer, scheduler, *, epoch: int, step: int, best: float) -> None:
    """Write checkpoint.pt and model.safetensors; (epoch, step) is where a resume starts."""
    state = {
        "model": {k: v.detach().cpu() for k, v in _plain(model).state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "step": step,
        "best": best,
        "rng": torch.get_rng_state(),
    }
    with atomic_path(run / "checkpoint.pt") as tmp:
        torch.save(state, tmp)
    save_weights(model, run / "model.safetensors", epoch=epoch, step=step)


def weights_of(path: str | Path, which: str = "final") -> Path:
    """A run folder's final weights (or with which="best", those selected on its held-out split);
    a file path is itself."""
    p = Path(path)
    if not p.is_dir():
        return p
    best = p / "best.safetensors"
    if which == "best":
        if not best.is_file():
            raise ArchspecError(f"{best}: no such file; expected a run with a held-out split (holdout > 0)")
        return best
    return p / "model.safetensors"


CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "step", "best", "rng")


def load(run: Path) -> dict:
    """checkpoint.pt, with every entry a resume needs (an older version or a hand edit may lack one)."""
    path = run / "checkpoint.pt"
    regular(path, "a run folder written by archspec train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ArchspecError(f"{path}: not a readable checkpoint ({type(e).__name__}); expected archspec's") from None
    missing = [k for k in CHECKPOINT_KEYS if k not in state] if isinstance(state, dict) else ["model"]
    if missing:
        raise ArchspecError(
            f"{path}: found no {missing[0]!r} entry; expected archspec's checkpoint ({', '.join(CHECKPOINT_KEYS)})"
        )
    return state


def restore(path: Path, what: str, load_state, state) -> None:
    """`load_state(state)` for a saved optimizer or scheduler; a state of another shape is one line."""
    try:
        load_state(state)
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
        raise ArchspecError(
            f"{path}: its {what} state does not fit this run ({str(e)[:100]}); expected archspec's"
        ) from None


WRITTEN = {"run.json", "holdout.json", "checkpoint.pt", "model.safetensors", "best.safetensors", "metrics.csv"}
WRITTEN |= {"metrics.png", ".lock", ".error", "eval"}


def _ours(name: str) -> bool:
    return name in WRITTEN or (name.startswith(".") and ".tmp" in name)  # atomic_path's temporary files


def check_new(run: Path) -> None:
    """A new run starts in an empty folder, or in one where an earlier start of this run stopped before its
    first checkpoint (archspec's files only): `--out` never replaces a file archspec did not write."""
    if (run / "checkpoint.pt").exists():
        raise ArchspecError(f"{run}: already holds a checkpoint; expected --resume {run} or a new --out")
    if not run.is_dir():
        return
    names = sorted(p.name for p in run.iterdir() if p.name not in (".lock", ".error"))
    foreign = [n for n in names if not _ours(n)] if "run.json" in names else names  # archspec writes it first
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ArchspecError(
            f"{run}: holds {foreign[0]}{more}, which archspec train did not write; expected a new or empty "
            "folder for --out (nothing in it is replaced)"
        )
    if "run.json" in names:
        read_run(run)  # archspec's own, or one line saying it is not


def check_resumable(run: Path) -> None:
    """`--resume` needs a checkpoint: a run stopped before its first one says so and how to start over."""
    if (run / "checkpoint.pt").exists() or not (run / ".lock").is_file():
        return  # a checkpoint, or no archspec folder at all (read_run says so)
    spec = "SPEC"
    if (run / "run.json").is_file():
        spec = shlex.quote(read_run(run)[0].spec)
    raise ArchspecError(
        f"{run}: nothing to resume yet (the run stopped before its first checkpoint); expected a run with a "
        f"checkpoint.pt: start over with archspec train {spec} --out {run} (and the options it was started with)"
    )


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (e.g. `AMD EPYC`), else what `platform` knows."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The CPU model, logical CPUs, GPU and the Python and torch versions of this process, e.g. for run.json."""
    import platform

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    py, tv = platform.python_version(), torch.__version__
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, {device}; Python {py}, torch {tv}"


def write_run(run: Path, cfg: TrainConfig, net: Network, classes: list[str], stats: Stats, holdout: dict) -> None:
    info = {
        "config": cfg.model_dump(),
        "network": net.model_dump(),
        "plugins": plugins.used_by(net),  # {kind: plugin} of the kinds from outside archspec: eval loads them
        "classes": classes,
        "stats": stats.model_dump(),
        "code": code_version(),
        "machine": machine(),  # where it trained, and with how many torch threads: the report names both
        "threads": cfg.threads or torch.get_num_threads(),
    }
    with atomic_path(run / "holdout.json") as tmp:
        tmp.write_text(json.dumps(holdout))
    with atomic_path(run / "run.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2))


RUN_JSON_BYTES = 64 << 20  # a network's IR and a config: far below this


def rewrite_config(run: str | Path, cfg: TrainConfig) -> None:
    """Replace the config in run.json (a resume that extends the run), keeping everything else."""
    path = Path(run) / "run.json"
    info = read_json(path, "a run folder written by archspec train", RUN_JSON_BYTES)
    info["config"] = cfg.model_dump()
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2))


def read_run(run: str | Path) -> tuple[TrainConfig, Network, list[str], Stats]:
    path = Path(run) / "run.json"
    info = read_json(path, "a run folder written by archspec train", RUN_JSON_BYTES)
    if not isinstance(info, dict):
        raise ArchspecError(f"{path}: not a valid run description (a JSON {type(info).__name__}; expected an object)")
    used = info.get("plugins") or {}
    if not isinstance(used, dict) or not all(isinstance(v, str) for v in used.values()):
        raise ArchspecError(f"{path}: not a valid run description ('plugins' must map kinds to plugin names)")
    plugins.require(used, str(path))
    try:
        cfg, net = TrainConfig.model_validate(info["config"]), Network.model_validate(info["network"])
        classes, stats = [str(c) for c in info["classes"]], Stats.model_validate(info["stats"])
    except KeyError as e:
        raise ArchspecError(f"{path}: not a valid run description (no {e.args[0]!r})") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ArchspecError(f"{path}: not a valid run description ({where}: {first['msg']})") from None
    except (ValueError, TypeError) as e:
        raise ArchspecError(f"{path}: not a valid run description ({type(e).__name__})") from None
    c = net.input.channels
    if (
        len(stats.mean) != c
        or len(stats.eigval) != c
        or any(len(row) != c for row in stats.eigvec)
        or len(stats.eigvec) != c
    ):
        raise ArchspecError(
            f"{path}: colour statistics of {len(stats.mean)} channels; expected {c}, the network's input channels"
        )
    return cfg, net, classes, stats
