"""GPU benchmark of the Triton backend (issue 3), with triton.testing.do_bench.

    python -m benchmarks.gpu_triton            # needs CUDA; writes benchmarks/results/triton-<gpu>.{json,md}

1. Every conv layer of D at batch 64, bf16, channels-last: the fused kernel the
   plan chooses vs torch (cuDNN conv, then separate bias add, ReLU and pool; and
   cuDNN conv with bias, then ReLU and pool).
2. FC layers of D: the Triton GEMM vs cuBLAS (F.linear) + ReLU.
3. End to end, D at batch 64: forward and training-step images/s for torch
   eager, torch.compile and the Triton backend, in one run.
Ratios are against the baselines measured in the same run.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import archspec
from archspec.compiler.fusion import plan
from archspec.compiler.kernels.conv import conv2d_bias_relu
from archspec.compiler.kernels.conv_pool import conv2d_bias_relu_pool
from archspec.compiler.kernels.linear import linear_bias_relu
from archspec.infer import infer

BATCH, DTYPE = 64, torch.bfloat16
OUT = Path(__file__).parent / "results"


def bench(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=100)  # ms


def conv_layers() -> list[dict]:
    net = archspec.network("D")
    stats = infer(net)
    rows = []
    for step in plan(net):
        if step.op.startswith("conv"):
            s = stats.layers[step.layers[0]]
            rows.append({"op": step.op, "c_in": s.in_shape[0], "c_out": s.out_shape[0], "hw": s.in_shape[1]})
    return rows


def layer_bench(row: dict) -> dict:
    x = torch.randn(BATCH, row["c_in"], row["hw"], row["hw"], device="cuda", dtype=DTYPE)
    x = x.to(memory_format=torch.channels_last)
    w = (torch.randn(row["c_out"], row["c_in"], 3, 3, device="cuda") * 0.05).to(DTYPE)
    b = torch.randn(row["c_out"], device="cuda", dtype=DTYPE)
    pool = row["op"] == "conv_bias_relu_pool"

    def fused():
        return conv2d_bias_relu_pool(x, w, b) if pool else conv2d_bias_relu(x, w, b)

    def separate():
        y = F.relu(F.conv2d(x, w) + b.view(1, -1, 1, 1))
        return F.max_pool2d(y, 2, 2) if pool else y

    def conv_bias():
        y = F.relu(F.conv2d(x, w, b), inplace=True)
        return F.max_pool2d(y, 2, 2) if pool else y

    ref = conv_bias()
    err = (fused()[0] if pool else fused()).float().sub(ref.float()).abs().max().item()
    t = {"triton_ms": bench(fused), "torch_separate_ms": bench(separate), "torch_conv_bias_ms": bench(conv_bias)}
    return {
        **row,
        **t,
        "max_abs_err": err,
        "speedup_vs_separate": t["torch_separate_ms"] / t["triton_ms"],
        "speedup_vs_conv_bias": t["torch_conv_bias_ms"] / t["triton_ms"],
    }


def fc_bench() -> list[dict]:
    rows = []
    for k, n in [(25088, 4096), (4096, 4096), (4096, 1000)]:
        x = torch.randn(BATCH, k, device="cuda", dtype=DTYPE)
        w = (torch.randn(n, k, device="cuda") * 0.01).to(DTYPE)
        b = torch.randn(n, device="cuda", dtype=DTYPE)
        t_tri = bench(lambda: linear_bias_relu(x, w, b))  # noqa: B023
        t_cub = bench(lambda: F.relu(F.linear(x, w, b)))  # noqa: B023
        rows.append({"k": k, "n": n, "triton_ms": t_tri, "cublas_ms": t_cub, "speedup": t_cub / t_tri})
    return rows


def end_to_end() -> dict:
    x = torch.randn(BATCH, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (BATCH,), device="cuda")
    eager = archspec.compile("D", backend="torch").cuda().to(memory_format=torch.channels_last)
    models = {
        "torch_eager": eager,
        "torch_compile": torch.compile(eager),
        "triton": archspec.compile("D", backend="triton").cuda(),
    }
    out = {}
    for name, model in models.items():
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def forward(model=model):
            with torch.no_grad(), torch.autocast("cuda", dtype=DTYPE):
                return model.eval()(x)

        def train_step(model=model, opt=opt):
            model.train()
            with torch.autocast("cuda", dtype=DTYPE):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        fwd, step = bench(forward), bench(train_step)
        out[name] = {"forward_img_s": BATCH / fwd * 1e3, "train_img_s": BATCH / step * 1e3}
    for key in ("forward_img_s", "train_img_s"):
        out[f"triton_vs_eager_{key}"] = out["triton"][key] / out["torch_eager"][key]
        out[f"triton_vs_compile_{key}"] = out["triton"][key] / out["torch_compile"][key]
    return out


def machine() -> dict:
    import triton

    return {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def markdown(result: dict) -> str:
    import pandas as pd

    m = result["machine"]
    parts = [
        f"# Triton backend on {m['device']}",
        "",
        f"torch {m['torch']}, triton {m['triton']}, CUDA {m['cuda']}",
        "",
        "## Conv layers of D (batch 64, bf16, channels-last)",
        "",
        pd.DataFrame(result["conv"]).round(3).to_markdown(index=False),
        "",
        "## FC layers",
        "",
        pd.DataFrame(result["fc"]).round(3).to_markdown(index=False),
        "",
        "## End to end (D, batch 64)",
        "",
        "```json",
        json.dumps(result["end_to_end"], indent=2),
        "```",
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("benchmarks.gpu_triton needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    result = {"machine": machine(), "conv": [layer_bench(r) for r in conv_layers()], "fc": fc_bench()}
    result["end_to_end"] = end_to_end()
    OUT.mkdir(exist_ok=True)
    stem = "triton-" + result["machine"]["device"].replace(" ", "_")
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
