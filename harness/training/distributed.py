"""Data parallelism, the paper's scheme (Sec. 3.3): the global batch is split across
processes and gradients are averaged synchronously, so N processes train as one.

`launch(fn, lc, arg)` runs `fn(arg, ctx)` in `lc.devices` processes through torch's
elastic launcher (what `torchrun` uses): NCCL on CUDA, gloo on CPU. Run under
`torchrun` yourself (multi-node, its rendezvous options), the processes are
already there and `launch` only joins the group:

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        --no-python archspec train specs/D.txt --data /imagenet --gpus 8

Every wait for another process is bounded: a rank joins its group through a store at MASTER_ADDR:MASTER_PORT
within ARCHSPEC_RENDEZVOUS_TIMEOUT seconds (600 by default, torchrun's join_timeout), and a rank that never
comes, an endpoint that does not resolve or answer, or a port held by another program is one line naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from archspec import plugins
from archspec.choices import Precision
from archspec.compiler.batchnorm import BatchNorm2d
from archspec.errors import ArchspecError, Interrupted

from .config import Launch


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def cores() -> int:
    """The CPU cores this process may run on: its affinity mask (taskset, a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this system (macOS)
        return os.cpu_count() or 1


def within_cores(count: int | None, flag: str) -> int | None:
    """A number of threads or processes to start, refused past the cores this process may use: more only
    oversubscribe them, and enough of them exhaust the threads the system allows (`--threads 1000`)."""
    if count is not None and count > (have := cores()):
        raise ArchspecError(
            f"{flag} {count}: more than the {have} CPU cores this process may use (os.sched_getaffinity); "
            f"expected at most {have}"
        )
    return count


def cpu_share(ctx: Context) -> int | None:
    """Torch threads for one of N CPU processes on this machine: its share of the cores, as torchrun's
    OMP_NUM_THREADS=1 intends. Torch's default, a thread per core in every process, oversubscribes them: 2
    processes on 2 cores trained 2.8x slower (benchmarks/scaling_cpu.py). None: one process, CUDA, or
    OMP_NUM_THREADS set by the user or the launcher: leave torch's choice."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if ctx.device.type != "cpu" or local == 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return max(1, cores() // local)


BF16_UNITS = {"AMX": "_is_amx_tile_supported", "AVX512-BF16": "_is_avx512_bf16_supported"}  # torch.cpu's checks
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")  # what caps oneDNN's instructions (DNNL_: its former name)
# the caps that leave oneDNN each unit
_AMX_ISAS = {"AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512_AMX_2"}
_AMX_ISAS |= {"ALL", "DEFAULT"}  # no cap: oneDNN 2's word and 3's
_BF16_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX10_2_512"}
UNIT_ISAS = {"AMX": _AMX_ISAS, "AVX512-BF16": _AMX_ISAS | _BF16_ISAS}
# every value oneDNN 3 takes there (in any case); it ignores any other
ONEDNN_ISAS = UNIT_ISAS["AVX512-BF16"] | {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE"}
ONEDNN_ISAS |= {"AVX512_CORE_VNNI"}


def cpu_bf16_units() -> list[str] | None:
    """The bf16 units torch finds on this CPU (AMX, AVX512-BF16) that oneDNN may use; None where this torch cannot
    tell. Without them oneDNN emulates bf16: 0.9 GFLOPS against fp32's 82.6 on an AMD EPYC core (issue 35), and so
    it does where an ISA cap (`ONEDNN_MAX_CPU_ISA=AVX2`, say) keeps it from units the CPU has."""
    found = cpu_bf16_hardware()
    if found is None:
        return None
    cap = onednn_isa_cap()
    return [unit for unit in found if cap is None or cap[1] in UNIT_ISAS[unit]]


def cpu_bf16_hardware() -> list[str] | None:
    """The bf16 units torch finds on this CPU, whether or not oneDNN may use them; None where it cannot tell."""
    checks = {unit: getattr(torch.cpu, name, None) for unit, name in BF16_UNITS.items()}
    if all(check is None for check in checks.values()):
        return None
    return [unit for unit, check in checks.items() if check is not None and check()]


def onednn_isa_cap() -> tuple[str, str] | None:
    """The environment variable capping the instructions oneDNN uses, and its value in capitals; None if there is
    no cap. As oneDNN reads them: ONEDNN_MAX_CPU_ISA if set and not empty (a value it does not take is no cap),
    else DNNL_MAX_CPU_ISA."""
    name = next((n for n in ISA_CAPS if os.environ.get(n)), None)
    if name is None or (value := os.environ[name].upper()) not in ONEDNN_ISAS:
        return None
    return name, value


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The dtype `torch.autocast` runs convs and matmuls in (None: fp32 throughout). auto: bf16 on CUDA and on a CPU
    with bf16 units, fp32 elsewhere."""
    if precision is Precision.bf16:
        return torch.bfloat16
    if precision is Precision.auto and (device.type == "cuda" or cpu_bf16_units()):
        return torch.bfloat16
    return None


def precision_reason(precision: Precision, device: torch.device) -> str:
    """Which arithmetic `precision` runs on `device` and why, e.g. `fp32 (auto: this CPU has no bf16 units, AMX or
    AVX512-BF16)`, for a report's header."""
    ran = "bf16" if autocast_dtype(precision, device) else "fp32"
    if precision is not Precision.auto:
        return f"{ran} (asked for)"
    if device.type == "cuda":
        return f"{ran} (auto: CUDA)"
    units = cpu_bf16_units()
    if units is None:
        return f"{ran} (auto: this torch cannot tell whether the CPU has bf16 units)"
    if units:
        return f"{ran} (auto: this CPU has {' and '.join(units)})"
    if found := cpu_bf16_hardware():
        name, value = onednn_isa_cap() or ("", "")
        return f"{ran} (auto: this CPU has {' and '.join(found)}, but {name}={value} keeps oneDNN from them)"
    return f"{ran} (auto: this CPU has no bf16 units, {' or '.join(BF16_UNITS)})"


def default_device() -> torch.device:
    """The device a launch that does not choose runs on (`Launch.cuda` None): CUDA where visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_precision(precision: Precision, device: torch.device, where: str) -> None:
    """bf16 insisted on where this CPU would emulate it stops here, before anything trains, with the fix."""
    if precision is Precision.bf16 and device.type == "cpu" and cpu_bf16_units() == []:
        if found := cpu_bf16_hardware():
            name, value = onednn_isa_cap() or ("", "")
            raise ArchspecError(
                f"{where}: found bf16 where {name}={value} keeps oneDNN from this CPU's {' and '.join(found)}, so it "
                f"emulates bf16, about 90x slower than fp32; expected auto (fp32 here) or fp32, or {name} unset"
            )
        raise ArchspecError(
            f"{where}: found bf16 on a CPU without bf16 units ({', '.join(BF16_UNITS)}), where oneDNN emulates it, "
            "about 90x slower than fp32; expected auto (fp32 on this CPU, bf16 where it has the units) or fp32"
        )


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def restart_count() -> int:
    """How often torchrun has restarted the group after a failure (`--max-restarts`); 0 the first time."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


def rank0_place(path: str | Path, ctx: Context) -> str | None:
    """Where rank 0 writes `path`, as HOST:/absolute/path, told to every other process (None on rank 0)."""
    place = [f"{socket.gethostname()}:{Path(path).resolve()}"]
    if ctx.world > 1:
        dist.broadcast_object_list(place, src=0)
    return None if ctx.main else place[0]


def use_cuda(lc: Launch) -> bool:
    return torch.cuda.is_available() if lc.cuda is None else lc.cuda


TIMEOUT_VARIABLE = "ARCHSPEC_RENDEZVOUS_TIMEOUT"
GROUP_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets, env:// reads


@dataclass(frozen=True)
class Group:
    """The env:// group this process is to join: its rank, the world size and rank 0's store."""

    rank: int
    world: int
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def rendezvous_timeout() -> float:
    """Seconds a rank waits for the others (ARCHSPEC_RENDEZVOUS_TIMEOUT, default 600 as torchrun's join_timeout)."""
    text = os.environ.get(TIMEOUT_VARIABLE, "600")
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 86400:
        raise ArchspecError(f"{TIMEOUT_VARIABLE}={text!r}: expected seconds, more than 0 and at most a day")
    return seconds


def env_group() -> Group | None:
    """The group torchrun's variables describe, or None for one process (WORLD_SIZE unset or 1); variables that
    are partly set or malformed (a WORLD_SIZE left over in the shell) are one line naming them."""
    env = os.environ
    if env.get("WORLD_SIZE", "1").strip() == "1":
        return None
    expected = "all of RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun sets them, or none (unset WORLD_SIZE)"
    if missing := [v for v in GROUP_VARIABLES if not env.get(v)]:
        unset = f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not"
        raise ArchspecError(f"WORLD_SIZE={env.get('WORLD_SIZE')} is set but {unset}; expected {expected}")
    try:
        group = Group(int(env["RANK"]), int(env["WORLD_SIZE"]), env["MASTER_ADDR"], int(env["MASTER_PORT"]))
    except ValueError:
        found = ", ".join(f"{v}={env[v]}" for v in GROUP_VARIABLES)
        raise ArchspecError(f"{found}: expected whole numbers for RANK, WORLD_SIZE and MASTER_PORT") from None
    if not (0 <= group.rank < group.world and 0 < group.port < 65536):
        raise ArchspecError(
            f"RANK={group.rank}, WORLD_SIZE={group.world}, MASTER_PORT={group.port}: expected 0 <= RANK < "
            "WORLD_SIZE and a port from 1 to 65535"
        )
    return group


def _bounded(seconds: float, fn: Callable, late: str):
    """fn() in a thread, waited for at most `seconds`: torch's store client can wait forever on a port that some
    other program answers. Past the bound, `late` is the error (the thread is left behind as the process ends)."""
    result: list = []

    def call() -> None:
        try:
            result.append((True, fn()))
        except Exception as e:  # handed to the waiting thread, which says what it means
            result.append((False, e))

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    if not result:
        raise ArchspecError(late)
    ok, value = result[0]
    if not ok:
        raise value
    return value


def _store(group: Group, timeout: float) -> dist.Store:
    """The group's store: rank 0 hosts it at MASTER_PORT, unless torchrun's agent does (its store is shared with
    the workers: TORCHELASTIC_USE_AGENT_STORE); every other rank connects to it, once the port answers."""
    try:
        socket.getaddrinfo(group.host, group.port)
    except (socket.gaierror, UnicodeError) as e:
        why = getattr(e, "strerror", None) or e
        raise ArchspecError(f"MASTER_ADDR {group.host}: does not resolve ({why}); expected rank 0's host") from None
    wait = timedelta(seconds=timeout)
    if group.rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        try:
            return dist.TCPStore(group.host, group.port, group.world, True, wait, wait_for_workers=False)
        except dist.DistError as e:
            if "EADDRINUSE" not in str(e):
                raise
            raise ArchspecError(
                f"{group.endpoint}: the port is held by another program; expected a free MASTER_PORT for rank 0's store"
            ) from None
    _reach(group, timeout)
    late = f"{group.endpoint}: no answer from rank 0's store within {timeout:g} s ({TIMEOUT_VARIABLE}); expected "
    late += "archspec's rank 0 there, not another program"
    return _bounded(timeout, lambda: dist.TCPStore(group.host, group.port, group.world, False, wait), late)


def _reach(group: Group, timeout: float) -> None:
    """Wait until rank 0's port takes a connection (rank 0 may start later), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((group.host, group.port), timeout=max(0.1, deadline - time.monotonic())).close()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise ArchspecError(
                    f"{group.endpoint}: rank {group.rank} could not reach rank 0's store within {timeout:g} s "
                    f"({TIMEOUT_VARIABLE}); expected rank 0 started with the same MASTER_ADDR and MASTER_PORT"
                ) from None
            time.sleep(0.2)


def _check_in(store: dist.Store, group: Group, timeout: float) -> None:
    """Every rank says it is here, then waits for all the others; the ranks that never came are named."""
    keys = [f"archspec/{restart_count()}/joined/{r}" for r in range(group.world)]
    store.set(keys[group.rank], "1")
    deadline = time.monotonic() + timeout
    while missing := [str(r) for r, key in enumerate(keys) if not store.check([key])]:
        if time.monotonic() >= deadline:
            raise ArchspecError(
                f"{group.endpoint}: rank{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {group.world} did "
                f"not join within {timeout:g} s ({TIMEOUT_VARIABLE}); expected every rank started with WORLD_SIZE="
                f"{group.world} and this MASTER_ADDR:MASTER_PORT"
            )
        time.sleep(0.1)


def join_group(group: Group, backend: str) -> None:
    """Join the process group, every wait bounded by the rendezvous timeout."""
    timeout = rendezvous_timeout()
    store = _store(group, timeout)
    _check_in(store, group, timeout)
    dist.init_process_group(backend, store=store, rank=group.rank, world_size=group.world)


def _join(lc: Launch) -> Context:
    cuda = use_cuda(lc)
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if (group := env_group()) is not None and not dist.is_initialized():
        join_group(group, "nccl" if cuda else "gloo")
    world = dist.get_world_size() if dist.is_initialized() else 1
    return Context(rank=dist.get_rank() if dist.is_initialized() else 0, world=world, device=device)


def agree(fields: dict, ctx: Context) -> None:
    """Before the first step: every rank holds the same `fields` (what decides the run: spec, recipe, data), else
    one line on every rank naming the first field that differs. The ranks compare a hash of them; the fields
    themselves are looked at only where a hash differs."""
    if ctx.world == 1:
        return
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    everyone: list = [None] * ctx.world
    dist.all_gather_object(everyone, (digest, fields))
    for rank, (theirs, other) in enumerate(everyone):
        if theirs != everyone[0][0]:
            key = next((k for k in fields if other.get(k) != everyone[0][1].get(k)), "a field")
            raise ArchspecError(
                f"rank {rank} differs from rank 0 in {key}: {str(other.get(key))[:60]!r} against "
                f"{str(everyone[0][1].get(key))[:60]!r}; expected every node to start the same run (spec, recipe "
                "and data)"
            )


def _worker(fn: Callable, lc_json: str, arg):
    lc = Launch.model_validate_json(lc_json)
    ctx = _join(lc)
    try:
        plugins.load_all()  # the kinds the launching command loaded, named in the environment a rank inherits
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
    return max(gpus, within_cores(nproc, "--nproc"))


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
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    elastic = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=lc.devices,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        rdzv_configs={"join_timeout": rendezvous_timeout()},
        max_restarts=0,
        monitor_interval=0.1,
    )
    error = Path(lc.errors) / ".error"
    error.unlink(missing_ok=True)
    try:
        with _quiet("torch.distributed.elastic", "torch.multiprocessing"):
            return elastic_launch(elastic, _worker)(fn, lc.model_dump_json(), arg)[0]
    except ChildFailedError as e:
        if error.is_file():
            raise ArchspecError(error.read_text()) from None
        raise WorkerDied(_died(e)) from None
    except SignalException as e:
        raise Stopped(f"stopped by {e.sigval.name}, which the launcher passed on to every process") from None


@contextmanager
def _quiet(*prefixes: str):
    """torch's launcher logs a dead worker as a traceback of its own; the one line archspec says is enough."""
    known = list(logging.root.manager.loggerDict)  # torch sets a level on each of its loggers, not their parents
    loggers = [logging.getLogger(name) for name in known if name.startswith(prefixes)]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, before, strict=True):
            logger.setLevel(level)


class WorkerDied(ArchspecError):
    """A worker process ended without a word (killed, or out of memory); the caller says how to go on."""


class Stopped(Interrupted):
    """The launcher was stopped by a signal, and its workers with it; the caller says how to go on."""


def _died(e) -> str:
    """Which worker died and how, from torch's record of the failure."""
    rank, failure = min(e.failures.items())
    how = (
        f"killed by {signal.Signals(-failure.exitcode).name}"
        if failure.exitcode < 0
        else f"exit status {failure.exitcode}"
    )
    return f"worker rank {rank} died ({how})"


def all_reduce_sum(values: list[float], ctx: Context) -> list[float]:
    if ctx.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


# ---------------------------------------------------------------- batch norm across processes


class _AllReduceBatchNorm(torch.autograd.Function):
    """Batch norm over the union of every process's batch: forward all-reduces each channel's (sum, sum of
    squares, count), backward the (sum of dy, sum of dy * x_hat) that the input gradient needs, as torch's
    CUDA SyncBatchNorm does. The weight and bias gradients stay local: DDP averages them like any other."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, x, weight, bias, eps):
        dims, shape, c = [0, *range(2, x.dim())], [1, -1] + [1] * (x.dim() - 2), x.shape[1]
        count = torch.tensor([x.numel() // c], dtype=torch.float64, device=x.device)
        stats = torch.cat([x.sum(dims, dtype=torch.float64), x.square().sum(dims, dtype=torch.float64), count])
        dist.all_reduce(stats)  # (2C + 1): float64 sums keep sum-of-squares variance exact enough
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean.square()).clamp_min(0)  # biased: what normalises
        invstd = (var + eps).rsqrt().to(x.dtype)
        x_hat = (x - mean.to(x.dtype).view(shape)) * invstd.view(shape)
        y = x_hat if weight is None else x_hat * weight.view(shape) + bias.view(shape)
        ctx.save_for_backward(x_hat, weight, invstd)
        ctx.n = n.item()
        unbiased = var * n / (n - 1).clamp_min(1)  # what the running variance tracks, as nn.BatchNorm2d
        ctx.mark_non_differentiable(mean, unbiased)
        return y, mean, unbiased

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, dy, _mean, _var):
        x_hat, weight, invstd = ctx.saved_tensors
        dims, shape, c = [0, *range(2, dy.dim())], [1, -1] + [1] * (dy.dim() - 2), dy.shape[1]
        grad_bias, grad_weight = dy.sum(dims), (dy * x_hat).sum(dims)
        grad_x = None
        if ctx.needs_input_grad[0]:
            sums = torch.cat([grad_bias, grad_weight])
            dist.all_reduce(sums)
            mean_dy, mean_dy_x_hat = (sums / ctx.n).split(c)
            scale = invstd if weight is None else invstd * weight
            grad_x = (dy - mean_dy.view(shape) - x_hat * mean_dy_x_hat.view(shape)) * scale.view(shape)
        if weight is None:
            return grad_x, None, None, None
        return grad_x, grad_weight, grad_bias, None


class AllReduceBatchNorm2d(BatchNorm2d):
    """Batch norm that trains N gloo processes like one (torch's SyncBatchNorm runs on CUDA only: its
    kernels, batch_norm_stats and friends, have no CPU implementation, and DDP refuses it on CPU modules).
    Same parameters and buffers, so checkpoints and weights files do not change; eval mode and a single
    process are the compiler's batch norm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        y, mean, var = _AllReduceBatchNorm.apply(x, self.weight, self.bias, self.eps)
        self.track(mean, var)
        return y


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Batch norm over the global batch: torch's SyncBatchNorm on CUDA, AllReduceBatchNorm2d elsewhere.
    Each BatchNorm2d changes class in place (same parameters, buffers and identity), because a GraphNet
    holds its modules in an index as well: torch's convert_sync_batchnorm makes new ones it would not call."""
    for bn in model.modules():
        if type(bn) in (nn.BatchNorm2d, BatchNorm2d):
            if device.type == "cuda":
                bn.__class__, bn.process_group = nn.SyncBatchNorm, None
            else:
                bn.__class__ = AllReduceBatchNorm2d
    return model
