"""Data parallelism on CPU processes (gloo, through torch's elastic launcher): batch norm over the global batch."""

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from archspec.harness import Recipe, TrainConfig, train
from archspec.harness.config import DataConfig, Launch
from archspec.harness.distributed import AllReduceBatchNorm2d, launch
from archspec.passes import Overrides

BATCH, CHANNELS = 8, 3


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(BATCH, CHANNELS, 5, 5, generator=g) + 2).contiguous(memory_format=torch.channels_last)
    return x, torch.randn(BATCH, CHANNELS, 5, 5, generator=g), torch.randn(CHANNELS, generator=g)


def _half_batch_each(_, ctx):
    """This process's half of the batch through AllReduceBatchNorm2d; the loss is the sum over both halves."""
    x, upstream, w = _inputs()
    bn = AllReduceBatchNorm2d(CHANNELS, momentum=0.3)
    bn.weight.data.copy_(w)
    mine = slice(ctx.rank * BATCH // 2, (ctx.rank + 1) * BATCH // 2)
    x = x[mine].requires_grad_()
    y = bn(x)
    (y * upstream[mine]).sum().backward()
    grads = torch.cat([bn.weight.grad, bn.bias.grad])
    torch.distributed.all_reduce(grads)  # what DDP does (it averages the mean losses; here: sum of sums)
    return {"y": y.detach(), "x_grad": x.grad, "grads": grads, "stats": bn.state_dict()}


def test_two_half_batches_normalise_and_differentiate_like_the_whole_batch(tmp_path):
    """The oracle is nn.BatchNorm2d on the whole batch: input gradient, weight/bias gradients and running
    statistics (unbiased variance) of rank 0's half all match; so does the output."""
    got = launch(_half_batch_each, Launch(devices=2, cuda=False, errors=str(tmp_path)), None)
    x, upstream, w = _inputs()
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
    x = _inputs()[0]
    bn, plain = AllReduceBatchNorm2d(CHANNELS), nn.BatchNorm2d(CHANNELS)
    assert torch.equal(bn(x), plain(x)) and torch.equal(bn.running_var, plain.running_var)
    assert torch.equal(bn.eval()(x), plain.eval()(x))


TINY_RESNET = "input 16x16x3 conv3-4 bn [conv3-4 bn; conv3-4 bn] ×1 [conv3-8/2 bn; conv3-8 bn] ×1 avgpool FC-4 soft-max"


@pytest.mark.parametrize(
    "spec, width, side",
    [("A", 0.0625, 32), (TINY_RESNET, None, 16)],
    ids=["A-bn", "tiny-resnet"],
)
def test_two_processes_train_a_batch_norm_net_like_one(tmp_path, spec, width, side):
    """Weights and running statistics after 3 SGD steps (momentum, weight decay) at global batch 16."""
    data = DataConfig(source="synthetic", synthetic=(48, 4, side), crop=side, scale=(side, side + 4))
    recipe = Recipe(epochs=1, batch=16, lr=0.05, init="torchvision", dropout=0.0)
    one = TrainConfig(
        spec=spec,
        model=Overrides(width=width, batch_norm=True),
        data=data,
        recipe=recipe,
        out=str(tmp_path / "one"),
        backend="torch",
        progress=False,
    )
    train(one)
    train(one.model_copy(update={"out": str(tmp_path / "two"), "devices": 2, "cuda": False}))
    w1, w2 = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys() and any("running_var" in k for k in w1)
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5, msg=key)
