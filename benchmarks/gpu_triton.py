"""GPU benchmark of the Triton backend (issues 3 and 27), with triton.testing.do_bench.

    python -m benchmarks.gpu_triton            # needs CUDA; writes benchmarks/results/triton-<gpu>.{json,md}
    python -m benchmarks.gpu_triton --quick    # 4 conv layers, 1 FC, no torch.compile, 5 steps: -quick.{json,md}

1. Precision: an fp32 conv and FC layer against torch's, with TF32 allowed and
   not: the kernels follow torch's flags (`cudnn.allow_tf32`, `cuda.matmul.allow_tf32`).
2. Every conv layer of D at batch 64, bf16, channels-last: the fused kernel the
   schedule chooses vs torch (cuDNN conv, then separate bias add, ReLU and pool; and
   cuDNN conv with bias, then ReLU and pool).
3. FC layers of D: the Triton GEMM vs cuBLAS (F.linear) + ReLU.
4. End to end, D at batch 64: forward and training-step images/s for torch
   eager, torch.compile and the Triton backend, in one run, each timed over
   STEPS calls after a warm-up.
Ratios are against the baselines measured in the same run. Each layer's row names
the config the autotuner chose. Results are written after every section, so a
run cut short keeps what it measured; every error is checked against its
tolerance, and the run fails at the end if any is over.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

import archspec
from archspec.compiler.fusion import launches
from archspec.compiler.kernels import conv as conv_kernels
from archspec.compiler.kernels import conv_pool as pool_kernels
from archspec.compiler.kernels import gemm
from archspec.compiler.kernels import linear as linear_kernels
from archspec.infer import infer

BATCH, DTYPE = 64, torch.bfloat16
OUT = Path(__file__).parent / "results"
QUICK_LAYERS = (0, 1, 5, 9)  # D's first conv (K flattened), the first pool, a 256-channel conv, a 512 pool
# max |error| / max |reference|; logits: bf16 rounding through all 16 layers of D
TOLERANCE = {"bf16": 2e-2, "tf32": 1e-2, "fp32": 1e-4, "logits": 5e-2}
PRECISION_CONV = (16, 256, 256, 28)  # (N, C_in, C_out, H=W) of the fp32 check
PRECISION_FC = (64, 4096, 1000)  # (M, K, N)
STEPS = {"full": 30, "quick": 5}  # timed forward / training steps end to end


def bench(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=100)  # ms


def per_call_ms(fn, calls: int, warmup: int = 3) -> float:
    """Mean ms per call over `calls` calls after `warmup`: for steps too long for do_bench's 100 ms budget."""
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()


def checked(row: dict, error: float, kind: str) -> dict:
    return {**row, "rel_err": error, "tolerance": TOLERANCE[kind], "ok": error <= TOLERANCE[kind]}


@contextmanager
def tf32(allowed: bool):
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def precision_rows() -> list[dict]:
    n, ci, co, hw = PRECISION_CONV
    x = torch.randn(n, ci, hw, hw, device="cuda").to(memory_format=torch.channels_last)
    w, b = torch.randn(co, ci, 3, 3, device="cuda") * 0.05, torch.randn(co, device="cuda")
    m, k, nf = PRECISION_FC
    xf, wf, bf = (
        torch.randn(m, k, device="cuda"),
        torch.randn(nf, k, device="cuda") * 0.02,
        torch.randn(nf, device="cuda"),
    )
    rows = []
    for allowed in (False, True):
        with tf32(allowed):
            kind = "tf32" if allowed else "fp32"
            conv = relative_error(conv_kernels.conv2d_bias_relu(x, w, b), F.relu(F.conv2d(x, w, b, padding=1)))
            fc = relative_error(linear_kernels.linear_bias_relu(xf, wf, bf), F.relu(F.linear(xf, wf, bf)))
            rows.append(checked({"op": "conv", "tf32_allowed": allowed}, conv, kind))
            rows.append(checked({"op": "linear", "tf32_allowed": allowed}, fc, kind))
    return rows


def conv_layers() -> list[dict]:
    net = archspec.network("D")
    stats = infer(net)
    rows = []
    for step in launches(net):
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
    kernel = pool_kernels._conv_pool_kernel if pool else conv_kernels._conv_kernel

    def fused():
        return pool_kernels.conv2d_bias_relu_pool(x, w, b)[0] if pool else conv_kernels.conv2d_bias_relu(x, w, b)

    def separate():
        y = F.relu(F.conv2d(x, w, padding=1) + b.view(1, -1, 1, 1))
        return F.max_pool2d(y, 2, 2) if pool else y

    def conv_bias():
        y = F.relu(F.conv2d(x, w, b, padding=1), inplace=True)
        return F.max_pool2d(y, 2, 2) if pool else y

    error = relative_error(fused(), conv_bias())
    t = {"triton_ms": bench(fused), "torch_separate_ms": bench(separate), "torch_conv_bias_ms": bench(conv_bias)}
    row = {
        **row,
        "config": gemm.label(kernel.best_config),
        **t,
        "speedup_vs_separate": t["torch_separate_ms"] / t["triton_ms"],
        "speedup_vs_conv_bias": t["torch_conv_bias_ms"] / t["triton_ms"],
    }
    print(f"conv {row['op']} {row['c_in']}->{row['c_out']} @{row['hw']}: {row['config']}", flush=True)
    return checked(row, error, "bf16")


def fc_bench(quick: bool) -> list[dict]:
    rows = []
    for k, n in [(4096, 4096)] if quick else [(25088, 4096), (4096, 4096), (4096, 1000)]:
        x = torch.randn(BATCH, k, device="cuda", dtype=DTYPE)
        w = (torch.randn(n, k, device="cuda") * 0.01).to(DTYPE)
        b = torch.randn(n, device="cuda", dtype=DTYPE)
        error = relative_error(linear_kernels.linear_bias_relu(x, w, b), F.relu(F.linear(x, w, b)))
        config = gemm.label(linear_kernels._linear_kernel.best_config)
        t_tri = bench(lambda: linear_kernels.linear_bias_relu(x, w, b))  # noqa: B023
        t_cub = bench(lambda: F.relu(F.linear(x, w, b)))  # noqa: B023
        row = {"k": k, "n": n, "config": config, "triton_ms": t_tri, "cublas_ms": t_cub, "speedup": t_cub / t_tri}
        rows.append(checked(row, error, "bf16"))
    return rows


def end_to_end(quick: bool) -> dict:
    x = torch.randn(BATCH, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (BATCH,), device="cuda")
    eager = archspec.compile("D", backend="torch").cuda().to(memory_format=torch.channels_last)
    models = {"torch_eager": eager, "triton": archspec.compile("D", backend="triton").cuda()}
    if not quick:
        models["torch_compile"] = torch.compile(eager)
    triton_model = models["triton"]
    triton_model.load_state_dict(eager.state_dict())
    with torch.no_grad(), torch.autocast("cuda", dtype=DTYPE):
        error = relative_error(triton_model.eval()(x), eager.eval()(x))
    steps = STEPS["quick" if quick else "full"]
    out = {"steps": steps, "logits": checked({}, error, "logits")}
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

        fwd, step = per_call_ms(forward, steps), per_call_ms(train_step, steps)
        out[name] = {"forward_img_s": BATCH / fwd * 1e3, "train_img_s": BATCH / step * 1e3}
    for key in ("forward_img_s", "train_img_s"):
        for base in ("torch_eager", "torch_compile"):
            if base in out:
                out[f"triton_vs_{base.removeprefix('torch_')}_{key}"] = out["triton"][key] / out[base][key]
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
    parts = [f"# Triton backend on {m['device']}", "", f"torch {m['torch']}, triton {m['triton']}, CUDA {m['cuda']}"]
    sections = [
        ("precision", "fp32 against torch, TF32 allowed or not"),
        ("conv", "Conv layers of D (batch 64, bf16, channels-last)"),
        ("fc", "FC layers"),
    ]
    for key, title in sections:
        if key in result:
            parts += ["", f"## {title}", "", pd.DataFrame(result[key]).round(4).to_markdown(index=False)]
    if "end_to_end" in result:
        parts += ["", "## End to end (D, batch 64)", "", "```json", json.dumps(result["end_to_end"], indent=2), "```"]
    return "\n".join(parts) + "\n"


def write(result: dict, stem: str) -> None:
    OUT.mkdir(exist_ok=True)
    for suffix, text in ((".json", json.dumps(result, indent=2) + "\n"), (".md", markdown(result))):
        tmp = OUT / f"{stem}{suffix}.tmp"
        tmp.write_text(text)
        tmp.replace(OUT / f"{stem}{suffix}")


def failures(result: dict) -> list[str]:
    rows = [*result.get("precision", []), *result.get("conv", []), *result.get("fc", [])]
    rows += [result["end_to_end"]["logits"]] if "end_to_end" in result else []
    return [f"{r}" for r in rows if not r["ok"]]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 conv layers, 1 FC layer, no torch.compile, 5 steps")
    quick = p.parse_args(argv).quick
    if not torch.cuda.is_available():
        sys.exit("benchmarks.gpu_triton needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    result = {"machine": machine(), "quick": quick}
    stem = "triton-" + result["machine"]["device"].replace(" ", "_") + ("-quick" if quick else "")
    layers = conv_layers()
    sections = [
        ("precision", precision_rows),
        ("conv", lambda: [layer_bench(layers[i]) for i in (QUICK_LAYERS if quick else range(len(layers)))]),
        ("fc", lambda: fc_bench(quick)),
        ("end_to_end", lambda: end_to_end(quick)),
    ]
    for key, section in sections:
        result[key] = section()
        write(result, stem)
        print(f"{key}: written to {OUT / stem}.json", flush=True)
    print(markdown(result))
    bad = failures(result)
    if bad:
        sys.exit("errors over tolerance:\n" + "\n".join(bad))


if __name__ == "__main__":
    main()
