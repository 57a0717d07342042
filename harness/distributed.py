"""Data parallelism, the paper's scheme (Sec. 3.3): the global batch is split across
processes and gradients are averaged synchronously, so N processes train as one.

`launch(fn, lc, arg)` runs `fn(arg, ctx)` in `lc.devices` processes through torch's
elastic launcher (what `torchrun` uses): NCCL on CUDA, gloo on CPU. Run under
`torchrun` yourself (multi-node, its rendezvous options), the processes are
already there and `launch` only joins the group:

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        --no-python archspec train specs/D.txt --data /imagenet --gpus 8
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from archspec.choices import Precision
from archspec.errors import ArchspecError

from .config import Launch


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The dtype `torch.autocast` runs convs and matmuls in (None: fp32 throughout)."""
    if precision is Precision.bf16 or (precision is Precision.auto and device.type == "cuda"):
        return torch.bfloat16
    return None


def slow_bf16(dtype: torch.dtype | None, device: torch.device) -> bool:
    """bf16 asked for on a CPU without bf16 instructions (AVX512-BF16 or AMX): oneDNN emulates it, slower than fp32."""
    if dtype is not torch.bfloat16 or device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    known = [check() for check in checks if check is not None]
    return bool(known) and not any(known)  # a torch that cannot tell is not warned about


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def use_cuda(lc: Launch) -> bool:
    return torch.cuda.is_available() if lc.cuda is None else lc.cuda


def _join(lc: Launch) -> Context:
    cuda = use_cuda(lc)
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    world = dist.get_world_size() if dist.is_initialized() else 1
    return Context(rank=dist.get_rank() if dist.is_initialized() else 0, world=world, device=device)


def _worker(fn: Callable, lc_json: str, arg):
    lc = Launch.model_validate_json(lc_json)
    ctx = _join(lc)
    try:
        return fn(arg, ctx)
    except ArchspecError as e:  # hand the one-line message back to the launching process
        if ctx.main:
            Path(lc.errors).mkdir(parents=True, exist_ok=True)
            (Path(lc.errors) / ".error").write_text(str(e))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def processes(gpus: int = 1, nproc: int = 1) -> int:
    """How many processes `--gpus N` / `--nproc N` ask for; GPUs that are not there are an error, never CPUs."""
    if gpus > 1 and nproc > 1:
        raise ArchspecError(f"--gpus {gpus} and --nproc {nproc}: expected one of them")
    if gpus > 1 and not torch.cuda.is_available():
        raise ArchspecError(
            f"--gpus {gpus}: no CUDA device is visible; expected a GPU machine, or --nproc {gpus} for CPU processes"
        )
    return max(gpus, nproc)


def launch(fn: Callable, lc: Launch, arg):
    """Run fn(arg, ctx) on every process (`arg` is pickled to the workers); returns rank 0's result."""
    if lc.devices == 1 or under_torchrun():
        ctx = _join(lc)
        try:
            return fn(arg, ctx)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    if use_cuda(lc) and torch.cuda.device_count() < lc.devices:
        raise ArchspecError(f"--gpus {lc.devices}: only {torch.cuda.device_count()} CUDA devices are visible")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    elastic = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=lc.devices,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    error = Path(lc.errors) / ".error"
    error.unlink(missing_ok=True)
    try:
        return elastic_launch(elastic, _worker)(fn, lc.model_dump_json(), arg)[0]
    except ChildFailedError:
        if error.is_file():
            raise ArchspecError(error.read_text()) from None
        raise


def all_reduce_sum(values: list[float], ctx: Context) -> list[float]:
    if ctx.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()
