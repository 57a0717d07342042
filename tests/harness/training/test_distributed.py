"""Data parallelism on CPU processes (gloo): batch norm over the global batch. The processes run in subprocesses
(torchrun, `archspec train --nproc 2`), bounded in time."""

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from archspec.errors import ArchspecError
from archspec.harness.training.distributed import AllReduceBatchNorm2d, Context, Group, cpu_share, env_group, join_group

from ..bn_halves import BATCH, CHANNELS, inputs
from ..rehearsal import LIMIT_S, finish, free_port, start

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch has no torch.distributed")


def test_two_half_batches_normalise_and_differentiate_like_the_whole_batch(tmp_path):
    """The oracle is nn.BatchNorm2d on the whole batch: output, input gradient, weight/bias gradients and running
    statistics (unbiased variance) of rank 0's half all match."""
    code, _, err = finish(
        start("-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
              str(Path(__file__).parent.parent / "bn_halves.py"), str(tmp_path / "got.pt"))
    )  # fmt: skip
    assert code == 0, err[-3000:]
    got = torch.load(tmp_path / "got.pt", weights_only=True)
    x, upstream, w = inputs()
    bn = nn.BatchNorm2d(CHANNELS, momentum=0.3)
    bn.weight.data.copy_(w)
    x.requires_grad_()
    y = bn(x)
    (y * upstream).sum().backward()
    torch.testing.assert_close(got["y"], y.detach()[: BATCH // 2])
    torch.testing.assert_close(got["x_grad"], x.grad[: BATCH // 2])
    torch.testing.assert_close(got["grads"], torch.cat([bn.weight.grad, bn.bias.grad]))
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(got["stats"][key], value)


def test_one_process_and_eval_mode_are_plain_batch_norm():
    x = inputs()[0]
    bn, plain = AllReduceBatchNorm2d(CHANNELS), nn.BatchNorm2d(CHANNELS)
    assert torch.equal(bn(x), plain(x)) and torch.equal(bn.running_var, plain.running_var)
    assert torch.equal(bn.eval()(x), plain.eval()(x))


RUNS = [("one", []), ("two", ["--nproc", "2"])]  # each in its own process
# its second stage's projection shortcut is a 1x1 conv with stride 2 on 4 channels: the case oneDNN corrupts the heap
# on in channels-last (compiler/memory_format.py routes it to NCHW), with one thread in each of the two processes
TINY_RESNET = "input 16x16x3 conv3-4 bn [conv3-4 bn; conv3-4 bn] ×2 [conv3-8/2 bn; conv3-8 bn] ×1 avgpool FC-4 soft-max"


@pytest.mark.parametrize(
    "spec, options",
    [("A", ["--width", "0.0625", "--crop", "32", "--scale", "36"]), (TINY_RESNET, ["--crop", "16", "--scale", "18"])],
    ids=["A-bn", "tiny-resnet"],
)
def test_nproc_2_trains_a_batch_norm_net_like_one_process(tmp_path, spec, options):
    """Weights and running statistics after 3 SGD steps (momentum, weight decay) at global batch 16."""
    train = ["train", spec, "--bn", "--data", "synthetic", "--batch", "16", "--epochs", "1", "--max-steps", "3",
             "--lr", "0.05", "--init", "torchvision", "--dropout", "0", "--precision", "fp32", *options]  # fmt: skip
    runs = [start("-m", "archspec.cli", *train, *more, "--out", str(tmp_path / n)) for n, more in RUNS]
    for code, _, err in map(finish, runs):
        assert code == 0, err[-3000:]
    w1, w2 = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys() and any("running_var" in k for k in w1)
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def test_cpu_processes_share_the_cores_unless_told(monkeypatch):
    """N CPU processes on one machine get cores/N torch threads each; OMP_NUM_THREADS or CUDA leave torch's own."""
    cpu, cuda = Context(0, 2, torch.device("cpu")), Context(0, 2, torch.device("cuda"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert cpu_share(cpu) == 4 and cpu_share(cuda) is None
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert cpu_share(cpu) == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert cpu_share(cpu) is None
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_share(cpu) is None


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 is set but RANK, MASTER_ADDR, MASTER_PORT are not; expected all of"),
        ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "h"}, "WORLD_SIZE=2 is set but MASTER_PORT is not"),
        ({"WORLD_SIZE": "2", "RANK": "x", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "expected whole numbers"),
        ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "expected 0 <= RANK < WORLD_SIZE"),
    ],
)
def test_torchruns_variables_partly_set_are_one_line_naming_the_missing(monkeypatch, env, message):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ArchspecError, match=message):
        env_group()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert env_group() is None


@pytest.fixture
def held_port():
    """A port that another program holds: it accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    "rank, host, port, message",
    [
        (0, "127.0.0.1", None, r"127.0.0.1:\d+: rank 1 of 2 did not join within 1 s \(ARCHSPEC_RENDEZVOUS_TIMEOUT\)"),
        (1, "127.0.0.1", None, r"127.0.0.1:\d+: rank 1 could not reach rank 0's store within 1 s"),
        (1, "archspec-nowhere.invalid", None, r"MASTER_ADDR archspec-nowhere.invalid: does not resolve"),
        (0, "127.0.0.1", "held", r"127.0.0.1:\d+: the port is held by another program"),
        (1, "127.0.0.1", "held", r"127.0.0.1:\d+: no answer from rank 0's store within 1 s"),
    ],
    ids=["rank-1-never-comes", "rank-0-never-comes", "unresolvable", "held-port-rank-0", "held-port-rank-1"],
)
def test_every_rendezvous_ends_within_its_timeout_naming_the_missing_rank_or_the_endpoint(
    monkeypatch, held_port, rank, host, port, message
):
    monkeypatch.setenv("ARCHSPEC_RENDEZVOUS_TIMEOUT", "1")
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    started = time.monotonic()
    with pytest.raises(ArchspecError, match=message):
        join_group(Group(rank, 2, host, held_port if port else free_port()), "gloo")
    assert time.monotonic() - started < 15 and not torch.distributed.is_initialized()


TINY_TRAIN = ["-m", "archspec.cli", "train", "input 16x16x3 conv3-4 maxpool FC-8 FC-4 soft-max", "--data",
              "synthetic", "--crop", "16", "--scale", "18", "--batch", "16", "--threads", "1", "--epochs", "1",
              "--max-steps", "2"]  # fmt: skip


@pytest.mark.parametrize(
    "second, field",
    [(["--lr", "0.02"], "recipe.lr: '0.02' against '0.01'"), (["--width", "2"], "spec (the network)")],
    ids=["recipe", "spec"],
)
def test_ranks_that_would_train_different_runs_refuse_naming_the_first_field_that_differs(tmp_path, second, field):
    env = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    env |= {"ARCHSPEC_RENDEZVOUS_TIMEOUT": "60"}
    ranks = [
        start(*TINY_TRAIN, *more, "--out", str(tmp_path / f"r{r}"), env=env | {"RANK": str(r)})
        for r, more in ((0, []), (1, second))
    ]
    for code, _, err in map(finish, ranks):
        assert code == 2 and err.strip().splitlines()[-1].startswith("archspec: error: rank 1 differs from rank 0")
        assert field in err and "Traceback" not in err
    assert not (tmp_path / "r0" / "model.safetensors").exists()


def _children(pid: int) -> list[int]:
    stats = [p.read_text() for p in Path("/proc").glob("[0-9]*/stat") if p.exists()]
    return [int(s.split()[0]) for s in stats if int(s.rsplit(")", 1)[1].split()[1]) == pid]


@pytest.mark.parametrize("stop", ["kill-a-worker", "terminate-the-launcher"])
def test_a_run_whose_processes_are_stopped_says_in_one_line_how_to_resume(tmp_path, stop):
    """SIGKILL to a worker of `--nproc 2`, or SIGTERM to the launcher, once a step checkpoint is saved: one
    line naming what happened and the resume command, no torch traceback."""
    out = tmp_path / "run"
    train = [*TINY_TRAIN[:-4], "--epochs", "200", "--checkpoint-every", "2", "--nproc", "2", "--out", str(out)]
    launcher = start(*train)
    deadline = time.monotonic() + LIMIT_S
    while not (out / "checkpoint.pt").is_file() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [p for p in _children(launcher.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) == 2, "the launcher ended or saved no checkpoint in time"
    if stop == "kill-a-worker":
        os.kill(workers[-1], signal.SIGKILL)
    else:
        os.kill(launcher.pid, signal.SIGTERM)
    code, _, err = finish(launcher)
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and f"continue with: archspec train --resume {out}" in last
    if stop == "kill-a-worker":
        assert code == 2 and "died (killed by SIGKILL)" in last
    else:
        assert code == 130 and "stopped by SIGTERM" in last
