"""Rehearsals of what a cluster does, with torchrun agents on 127.0.0.1: two nodes, a dead worker, a missing node.
Each run is bounded; the reference is one process training the same global batch in this process."""

import socket
import time
import uuid
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ..rehearsal import LIMIT_S, archspec_here, finish, free_port, torchrun

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed, hence no torchrun"
)

WORKER = Path(__file__).parent.parent / "torchrun_worker.py"
TINY_BN = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"
TRAIN = [
    "train", TINY_BN, "--bn", "--data", "synthetic", "--crop", "16", "--scale", "18", "--batch", "16",
    "--epochs", "1", "--max-steps", "6", "--lr", "0.05", "--init", "torchvision", "--dropout", "0",
    "--precision", "fp32", "--threads", "1",  # fp32 on any CPU: auto is bf16 where the CPU has bf16 units
]  # fmt: skip


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """The reference: `archspec train` in one process with the global batch."""
    out = tmp_path_factory.mktemp("one") / "run"
    archspec_here(*TRAIN, "--out", str(out))
    return out


def assert_same_weights(run: Path, reference: Path) -> None:
    got, want = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert got.keys() == want.keys() and any("running_var" in k for k in want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def test_two_torchrun_nodes_train_a_batch_norm_net_like_one_process(tmp_path, one_process):
    """Two agents (--nnodes 2, one process each) meet through c10d; each node has its own --out, as machines
    without a shared filesystem: rank 0's node holds the run, the other says where it is."""
    rdzv = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", uuid.uuid4().hex]
    nodes = [
        torchrun("--nnodes", "2", "--nproc-per-node", "1", *rdzv, str(WORKER), *TRAIN, "--out", str(tmp_path / n))
        for n in ("node0", "node1")
    ]
    results = [finish(agent) for agent in nodes]
    assert [code for code, _, _ in results] == [0, 0], results
    writer = next(i for i in (0, 1) if (tmp_path / f"node{i}" / "model.safetensors").is_file())
    other_out = results[1 - writer][1]
    assert f"written by rank 0 on {socket.gethostname()}:{tmp_path / f'node{writer}'}" in other_out
    assert "weights:" not in other_out and not (tmp_path / f"node{1 - writer}" / "model.safetensors").exists()
    assert_same_weights(tmp_path / f"node{writer}", one_process)


def test_a_killed_worker_restarts_the_group_from_the_last_step_checkpoint(tmp_path, one_process):
    """Rank 1 dies (SIGKILL) before step 4; the step checkpoint of step 2 is the last one. torchrun restarts
    both workers once, the run resumes from step 2 and ends with the uninterrupted run's weights.
    TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1: with the agent's store shared (torch's default), the restarted workers
    read the first attempt's gloo addresses and fail to connect (pytorch/pytorch#135712)."""
    agent = torchrun(
        "--nnodes", "1", "--nproc-per-node", "2", "--max-restarts", "1", "--monitor-interval", "0.1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
        str(WORKER), *TRAIN, "--checkpoint-every", "2", "--out", str(tmp_path / "run"),
        env={"KILL_AT_STEP": "4", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"},
    )  # fmt: skip
    code, out, err = finish(agent)
    assert code == 0, err[-3000:]
    assert "torchrun restart 1: resuming from checkpoint.pt at epoch 1, step 2" in err
    assert_same_weights(tmp_path / "run", one_process)


def test_a_missing_node_ends_torchrun_within_its_join_timeout(tmp_path):
    """--nnodes 2 with one agent: the rendezvous times out after join_timeout (here 2 s) with one error line
    from torchrun; archspec's code never ran, so no traceback of it."""
    started = time.monotonic()
    agent = torchrun(
        "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-conf", "join_timeout=2",
        str(WORKER), *TRAIN, "--out", str(tmp_path / "run"),
    )  # fmt: skip
    code, out, err = finish(agent)
    assert code != 0 and err.strip().splitlines()[-1].endswith("RendezvousTimeoutError")
    assert "archspec" not in err and not (tmp_path / "run").exists()
    assert time.monotonic() - started < LIMIT_S
