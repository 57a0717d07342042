"""One SGD step of a net in the training memory format against the same step in NCHW; run in a subprocess by
test_memory_format.py, so that a oneDNN abort fails that test, not the suite. Prints one JSON object."""

import copy
import json
import sys

import torch

import archspec
from archspec.compiler.memory_format import channels_last, routed_convs

name, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)  # one thread: oneDNN's bug aborts; two: it gives wrong gradients or hangs
torch.manual_seed(0)
reference = archspec.compile(name, width=0.0625, input="32x32x3", num_classes=10).train()
used = channels_last(copy.deepcopy(reference), "cpu")
x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
for model, batch in ((reference, x), (used, x.contiguous(memory_format=torch.channels_last))):
    torch.manual_seed(1)  # the same dropout masks
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(model(batch), y).backward()
    optimizer.step()
convs = [n for n, m in reference.named_modules() if isinstance(m, torch.nn.Conv2d)]
ref, got = dict(reference.named_parameters()), dict(used.named_parameters())


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


print(
    json.dumps(
        {
            "convs": len(convs),
            "routed": len(routed_convs(used)),
            "grad": {n: relative(got[f"{n}.weight"].grad, ref[f"{n}.weight"].grad) for n in convs},
            "weights": max(relative(got[n], ref[n]) for n in ref),
        }
    )
)
