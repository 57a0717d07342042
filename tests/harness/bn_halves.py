"""Run by torchrun with 2 processes: each puts its half of a fixed batch through AllReduceBatchNorm2d; rank 0
saves what it got (output, input gradient, summed weight and bias gradients, buffers) to argv[1]."""

import sys

import torch

from archspec.harness.training.config import Launch
from archspec.harness.training.distributed import AllReduceBatchNorm2d, launch

BATCH, CHANNELS = 8, 3


def inputs():
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(BATCH, CHANNELS, 5, 5, generator=g) + 2).contiguous(memory_format=torch.channels_last)
    return x, torch.randn(BATCH, CHANNELS, 5, 5, generator=g), torch.randn(CHANNELS, generator=g)


def half_batch(out, ctx):
    x, upstream, w = inputs()
    bn = AllReduceBatchNorm2d(CHANNELS, momentum=0.3)
    bn.weight.data.copy_(w)
    mine = slice(ctx.rank * BATCH // 2, (ctx.rank + 1) * BATCH // 2)
    x = x[mine].requires_grad_()
    y = bn(x)
    (y * upstream[mine]).sum().backward()
    grads = torch.cat([bn.weight.grad, bn.bias.grad])
    torch.distributed.all_reduce(grads)  # what DDP does with them (it averages mean losses; here: sums)
    if ctx.main:
        torch.save({"y": y.detach(), "x_grad": x.grad, "grads": grads, "stats": bn.state_dict()}, out)


if __name__ == "__main__":
    launch(half_batch, Launch(devices=2, cuda=False, errors=sys.argv[1] + ".errors"), sys.argv[1])
