"""Data parallelism on CPU processes (gloo): batch norm over the global batch. The processes run in subprocesses
(torchrun, `archspec train --nproc 2`), bounded in time."""

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from archspec.harness.distributed import AllReduceBatchNorm2d, Context, cpu_share

from .bn_halves import BATCH, CHANNELS, inputs
from .rehearsal import finish, start

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch has no torch.distributed")


def test_two_half_batches_normalise_and_differentiate_like_the_whole_batch(tmp_path):
    """The oracle is nn.BatchNorm2d on the whole batch: output, input gradient, weight/bias gradients and running
    statistics (unbiased variance) of rank 0's half all match."""
    code, _, err = finish(
        start("-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
              str(Path(__file__).with_name("bn_halves.py")), str(tmp_path / "got.pt"))
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
             "--lr", "0.05", "--init", "torchvision", "--dropout", "0", *options]  # fmt: skip
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
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert cpu_share(cpu) == 4 and cpu_share(cuda) is None
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert cpu_share(cpu) == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert cpu_share(cpu) is None
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_share(cpu) is None
