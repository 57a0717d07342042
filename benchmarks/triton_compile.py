"""Compile every Triton kernel and autotune config for Hopper and Ampere on a CPU-only machine (issue 27).

    python -m benchmarks.triton_compile                 # all; writes benchmarks/results/triton-compile.json
    python -m benchmarks.triton_compile --nets D --targets sm_90 --first 2 --out /tmp/c.json   # a subset

No GPU is needed: `triton.compile` with a CUDA `GPUTarget` produces the real cubin, and the
ptxas that ships with triton reports registers and spills. The launches are recorded, not
run: each net's Triton model runs a training step (forward and backward) and an eval
forward on torch's meta device with every kernel replaced by a recorder, so shapes, dtypes,
strides and constexprs are exactly those of the real code path (batch 64, bf16, as the GPU
benchmark runs them; plus its fp32 precision check). Each distinct specialisation x
autotune config is compiled once per target, as Triton's cache does. Per compile: registers,
spill bytes, shared memory, compile seconds and the number of loops (`scf.for`) in the kernel.

The cold-start estimate of `benchmarks/gpu_triton.py` is the sum of the sm_90 compile times
of the distinct compiles D's launches and its precision check need: the autotuner compiles every surviving config of
every new specialisation once. Compile times are CPU seconds (this process and ptxas) on this
machine, whose 2 cores are shared: wall time there says more about the other jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # real kernels, not the interpreter's; before any kernel module is imported
    os.environ.pop("TRITON_INTERPRET", None)
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9 warns when unset; 1 is its default

import torch
import triton
from triton import knobs
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction, create_function_from_signature

import archspec
from archspec.compiler import build
from archspec.compiler import kernels as kernel_pkg
from archspec.compiler.kernels import gemm

OUT = Path(__file__).parent / "results" / "triton-compile.json"
TARGETS = {"sm_90": GPUTarget("cuda", 90, 32), "sm_80": GPUTarget("cuda", 80, 32)}
NETS = ("D", "resnet50", "googlenet", "A-LRN")  # A-LRN: the LRN kernel
BENCH_NET = "D"  # what benchmarks/gpu_triton.py runs
BATCH = 64
LIMITS = {"spill_bytes": 0, "compile_s": 3.0, "cold_start_s": 240.0, "loops": 1}


def kernel_modules() -> dict:
    import importlib
    import pkgutil

    return {
        m.name: importlib.import_module(f"{kernel_pkg.__name__}.{m.name}")
        for m in pkgutil.iter_modules(kernel_pkg.__path__)
    }


def launchable(obj) -> bool:
    return isinstance(obj, (Autotuner, JITFunction))


class Recorder:
    """Stands in for a kernel: `kernel[grid](*args, **kwargs)` records the call instead of running it."""

    def __init__(self, name: str, kernel, calls: list) -> None:
        self.name, self.kernel, self.calls = name, kernel, calls

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.calls.append((self.name, self.kernel, args, kwargs))


@contextmanager
def recording(calls: list):
    """Every `_*_kernel` of compiler/kernels replaced by a Recorder; the device checks pass meta tensors."""
    with contextlib.ExitStack() as stack:
        for file, module in kernel_modules().items():
            for attr, obj in vars(module).copy().items():
                if attr.endswith("_kernel") and launchable(obj):
                    stack.enter_context(mock.patch.object(module, attr, Recorder(file, obj, calls)))
            if hasattr(module, "interpreted"):
                stack.enter_context(mock.patch.object(module, "interpreted", lambda: True))
        stack.enter_context(mock.patch.object(kernel_pkg, "interpreted", lambda: True))
        stack.enter_context(mock.patch("archspec.compiler.interpreted", lambda: True))
        stack.enter_context(mock.patch("torch.is_autocast_enabled", lambda *device: False))  # no meta autocast
        yield


def record(name: str, dtype: torch.dtype = torch.bfloat16, batch: int = BATCH) -> list:
    """The kernel launches of one training step and one eval forward of `name`, on meta."""
    calls: list = []
    with torch.device("meta"), recording(calls):
        net = archspec.network(name)
        model = build(net, backend="triton").to(dtype)
        shape = (batch, net.input.channels, net.input.height, net.input.width)
        x = torch.empty(shape, dtype=dtype).to(memory_format=torch.channels_last)
        model.train()
        model(x).float().sum().backward()
        model.eval()
        with torch.no_grad():
            model(x)
    return calls


def record_precision() -> list:
    """The fp32 launches of gpu_triton's precision section: a conv and an FC layer, TF32 allowed and not."""
    from archspec.compiler.kernels import conv, linear

    from .gpu_triton import PRECISION_CONV, PRECISION_FC, tf32

    (n, c_in, c_out, hw), (m, k, n_fc) = PRECISION_CONV, PRECISION_FC
    calls: list = []
    with torch.device("meta"), recording(calls):
        x = torch.empty(n, c_in, hw, hw).to(memory_format=torch.channels_last)
        for allowed in (False, True):
            with tf32(allowed):
                conv.conv2d_bias_relu(x, torch.empty(c_out, c_in, 3, 3), torch.empty(c_out))
                linear.linear_bias_relu(torch.empty(m, k), torch.empty(n_fc, k), torch.empty(n_fc))
    return calls


def jit_of(kernel) -> JITFunction:
    while not isinstance(kernel, JITFunction):
        kernel = kernel.fn
    return kernel


def variants(name: str, kernel, args: tuple, kwargs: dict, target: GPUTarget) -> list[tuple[str, dict, tuple]]:
    """(config label, compile kwargs, dedup key) for each config the autotuner would compile for this launch."""
    jit = jit_of(kernel)
    binder = create_function_from_signature(jit.signature, jit.params, make_backend(target))
    configs = [None]
    if isinstance(kernel, Autotuner):
        kernel.nargs = dict(zip(kernel.arg_names, args, strict=False))
        configs = kernel.prune_configs(kwargs)
    out = []
    for config in configs:
        kw = {**kwargs, **(config.all_kwargs() if config else {})}
        _, spec, options = binder(*args, **kw)
        key = (name, str(spec), str(sorted(options.items())))
        out.append((gemm.label(config), kw, key))
    return out


def tuning_key(kernel, args: tuple, kwargs: dict) -> tuple:
    """The autotuner's cache key for this launch (as `Autotuner.run` builds it): a new one re-tunes."""
    if not isinstance(kernel, Autotuner):
        return ()
    named = {**dict(zip(kernel.arg_names, args, strict=False)), **kwargs}
    return (
        *(named[k] for k in kernel.keys if k in named),
        *(str(v.dtype) for v in named.values() if hasattr(v, "dtype")),
    )


def partial_batch(net: str, target: GPUTarget) -> dict:
    """What a last partial batch (BATCH - 3 images) costs after a full one: new compiles and new tunings."""
    seen = {}
    for batch in (BATCH, BATCH - 3):
        seen[batch] = {
            (name, tuning_key(kernel, args, kwargs), key)
            for name, kernel, args, kwargs in record(net, batch=batch)
            for _, _, key in variants(name, kernel, args, kwargs, target)
        }
    full, partial = seen[BATCH], seen[BATCH - 3]
    return {
        "net": net,
        "batch": BATCH - 3,
        "new_compiles": len({k for *_, k in partial} - {k for *_, k in full}),
        "new_tunings": len({k[:2] for k in partial} - {k[:2] for k in full}),
    }


def describe(kernel, args: tuple, kwargs: dict) -> str:
    """The launch in a few words: its integer arguments and non-block constexprs."""
    names = jit_of(kernel).arg_names
    ints = [f"{n}={v}" for n, v in zip(names, args, strict=False) if isinstance(v, int) and not n.startswith("s")]
    flags = [f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in kwargs.items()]
    return " ".join(ints + flags)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ptxas): what a compile costs one quiet core,
    unlike wall time on a machine shared by other jobs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


PTXAS = re.compile(r"Used (\d+) registers")
SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def compile_one(kernel, args: tuple, kwargs: dict, target: GPUTarget) -> dict:
    jit = jit_of(kernel)
    backend = make_backend(target)
    binder = create_function_from_signature(jit.signature, jit.params, backend)
    bound, spec, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = jit._pack_args(backend, kwargs, bound, spec, options)
    log = io.StringIO()
    start, wall = cpu_seconds(), time.perf_counter()
    with knobs.compilation.scope(), contextlib.redirect_stdout(log):
        knobs.compilation.always_compile = True
        knobs.nvidia.dump_ptxas_log = True
        compiled = triton.compile(ASTSource(jit, signature, constexprs, attrs), target=target, options=options.__dict__)
    seconds, wall = cpu_seconds() - start, time.perf_counter() - wall
    regs, spills = PTXAS.search(log.getvalue()), SPILL.search(log.getvalue())
    return {
        "registers": int(regs.group(1)),
        "spill_bytes": int(spills.group(1)) if spills else 0,
        "shared_bytes": compiled.metadata.shared,
        "compile_s": round(seconds, 2),
        "wall_s": round(wall, 2),
        "loops": compiled.asm["ttgir"].count("scf.for "),
    }


def run(nets, targets, first: int | None = None, kernels: list[str] | None = None, verbose: bool = True) -> dict:
    launches = {net: record(net) for net in nets}
    if BENCH_NET in nets:
        launches[f"{BENCH_NET}-precision"] = record_precision()
    rows, seen, bench = [], {}, {}  # bench: dedup key -> kernel, for the distinct compiles D needs on sm_90
    for target_name, net in ((t, net) for t in targets for net in launches):
        for name, kernel, args, kwargs in launches[net]:
            for label, kw, key in variants(name, kernel, args, kwargs, TARGETS[target_name]):
                key = (target_name, *key)
                if net.startswith(BENCH_NET) and target_name == "sm_90":
                    bench[key] = name
                done = sum(r["kernel"] == name and r["target"] == target_name for r in rows)
                if key in seen:
                    seen[key]["nets"].add(net)
                elif (not kernels or name in kernels) and (first is None or done < first):
                    row = {"kernel": name, "target": target_name, "config": label}
                    row.update(launch=describe(kernel, args, kwargs), nets={net})
                    seen[key] = row
                    rows.append(row)
                    row.update(compile_one(kernel, args, kw, TARGETS[target_name]))
                    if verbose:
                        print(
                            f"{target_name} {name:10s} {label:20s} regs {row['registers']:3d} spills "
                            f"{row['spill_bytes']:5d} {row['compile_s']:5.1f}s loops {row['loops']}  {row['launch']}",
                            flush=True,
                        )
    for row in rows:
        row["nets"] = sorted(row["nets"])
    # with --first, a compile not made is estimated by the mean of its kernel's compiles on sm_90
    mean = {k: v["compile_s_mean"] for k, v in summary(rows).items()}
    cold = sum(seen[k]["compile_s"] if k in seen else mean.get(f"{name} sm_90", 0.0) for k, name in bench.items())
    return {
        "rows": rows,
        "cold_start_s": cold,
        "bench_compiles": len(bench),
        "estimated": sum(k not in seen for k in bench),
        "partial_batch": partial_batch(nets[0], TARGETS["sm_90"]),
    }


def summary(rows: list[dict]) -> dict:
    out = {}
    for row in rows:
        s = out.setdefault(
            f"{row['kernel']} {row['target']}", {"compiles": 0, "registers_max": 0, "spill_bytes_max": 0}
        )
        s["compiles"] += 1
        s["registers_max"] = max(s["registers_max"], row["registers"])
        s["spill_bytes_max"] = max(s["spill_bytes_max"], row["spill_bytes"])
        s["compile_s_max"] = max(s.get("compile_s_max", 0), row["compile_s"])
        s["compile_s_total"] = round(s.get("compile_s_total", 0) + row["compile_s"], 2)
        s["loops_max"] = max(s.get("loops_max", 0), row["loops"])
    for s in out.values():
        s["compile_s_mean"] = round(s["compile_s_total"] / s["compiles"], 2)
    return out


def machine() -> dict:
    from triton.backends.nvidia.compiler import get_ptxas_version

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "triton": triton.__version__,
        "ptxas": get_ptxas_version(90).strip().splitlines()[-1],
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=list(NETS))
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--first", type=int, help="compile only the first N variants of each kernel per target")
    p.add_argument("--kernels", nargs="+", help="compile only these kernels (file names: conv, linear, ...)")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    result = run(a.nets, a.targets, a.first, a.kernels)
    rows = result["rows"]
    doc = {
        "machine": machine(),
        "nets": a.nets,
        "batch": BATCH,
        "limits": LIMITS,
        "met": {
            "spills": all(r["spill_bytes"] <= LIMITS["spill_bytes"] for r in rows),
            "compile_s": all(r["compile_s"] <= LIMITS["compile_s"] for r in rows),
            "loops": all(r["loops"] <= LIMITS["loops"] for r in rows),
            "cold_start_s": result["cold_start_s"] <= LIMITS["cold_start_s"],
            "partial_batch": result["partial_batch"]["new_compiles"] == result["partial_batch"]["new_tunings"] == 0,
        },
        "cold_start_s": round(result["cold_start_s"], 1),
        "cold_start_compiles": result["bench_compiles"],
        "cold_start_compiles_estimated": result["estimated"],
        "partial_batch": result["partial_batch"],
        "summary": summary(rows),
        "compiles": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(a.out)
    print(json.dumps({k: doc[k] for k in ("met", "cold_start_s", "partial_batch", "summary")}, indent=1))
    return doc


if __name__ == "__main__":
    main()
