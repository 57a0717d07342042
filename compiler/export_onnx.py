"""`-o FILE.onnx`: an ONNX model for onnxruntime, TensorRT, OpenVINO or a browser, checked by onnxruntime.

The official packages do the work (the `onnx` extra: `pip install -e ".[onnx]"`): torch's TorchScript-based
exporter (`torch.onnx.export(..., dynamo=False)`) traces the module, `onnx` stores the metadata in the model's
metadata properties and checks the model, and onnxruntime runs it on an example batch and must give torch's
outputs before a byte is written. The TorchScript exporter, rather than torch 2.13's default `dynamo=True` one,
because it is about six times faster with equal outputs (the 19 shipped specs at width 1/8 on two cores: 25 s
against 142 s; resnet152 alone 4 s against 27 s) and needs no `onnxscript`; its deprecation notes are silenced,
since onnxruntime checks the result.

The model takes `images` (N, C, H, W) float32 with a dynamic batch and returns `logits` (N, classes) (or the
dense form's score map). Opset 17 by default: current onnxruntime, TensorRT (8.6 and later) and OpenVINO run it.
`--opset N` asks for another; one that onnxruntime cannot run (below 7, where it has no kernels) is one line,
and so is one that torch cannot write. Each metadata property's value is JSON text.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.onnx._constants import ONNX_MAX_OPSET  # the newest opset torch writes: no public name holds it

from archspec.atomic import atomic_path
from archspec.errors import ArchspecError

DEFAULT_OPSET = 17
INPUT, OUTPUT = "images", "logits"


def packages(path: str | Path):
    """`(onnx, onnxruntime)`, or one line naming the extra that installs them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ArchspecError(
            f"{path}: writing ONNX needs the optional packages onnx and onnxruntime ({e.name} is not installed); "
            "expected them installed: pip install -e \".[onnx]\" (or 'archspec[onnx]')"
        ) from None
    return onnx, onnxruntime


def write_onnx(
    program: nn.Module, example: torch.Tensor, path: Path, metadata: dict, opset: int | None, dynamic_size: bool
) -> None:
    """Export `program` traced on `example` (N, C, H, W), check it in onnxruntime, then write it atomically."""
    onnx, ort = packages(path)
    opset = opset or DEFAULT_OPSET
    with torch.no_grad():
        expected = program(example)  # (N, classes) or (N, classes, h, w)
    model = onnx.load_from_string(_traced(program, example, expected.dim(), opset, dynamic_size))
    onnx.helper.set_model_props(model, {k: json.dumps(v) for k, v in metadata.items()})
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    _check_in_onnxruntime(ort, data, example, expected, opset, path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _traced(program: nn.Module, example: torch.Tensor, out_dims: int, opset: int, dynamic_size: bool) -> bytes:
    if opset > ONNX_MAX_OPSET:  # asked of torch, it prints its whole graph to stdout before it refuses
        raise ArchspecError(
            f"--opset {opset}: torch {torch.__version__} writes opsets up to {ONNX_MAX_OPSET}; expected an opset "
            f"that onnxruntime runs, such as {DEFAULT_OPSET} (the default)"
        )
    sizes = {2: "height", 3: "width"} if dynamic_size else {}
    out_sizes = {2: "map_height", 3: "map_width"} if dynamic_size and out_dims == 4 else {}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's and the deprecation's notes: onnxruntime checks the result
        try:
            torch.onnx.export(
                program,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_axes={INPUT: {0: "batch", **sizes}, OUTPUT: {0: "batch", **out_sizes}},
            )
        except RuntimeError as e:  # torch.onnx's errors (an unknown opset, an op it has none for) are RuntimeErrors
            raise ArchspecError(
                f"--opset {opset}: torch cannot export at this opset ({_first_line(e)}); expected an opset that "
                f"onnxruntime runs, such as {DEFAULT_OPSET} (the default)"
            ) from None
    return buffer.getvalue()


def _check_in_onnxruntime(ort, data: bytes, example: torch.Tensor, expected: torch.Tensor, opset: int, path) -> None:
    """onnxruntime loads the model and gives torch's outputs on `example`, within float rounding."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes on stderr about old opsets
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {INPUT: example.numpy()})[0])
    except (state.Fail, state.NotImplemented, state.InvalidGraph, state.InvalidArgument, state.RuntimeException) as e:
        raise ArchspecError(
            f"--opset {opset}: onnxruntime {ort.__version__} cannot run the exported net ({_first_line(e)}); "
            f"expected an opset it runs, such as {DEFAULT_OPSET} (the default)"
        ) from None
    diff = (got - expected).abs().max().item()
    scale = max(1.0, expected.abs().max().item())
    if got.shape != expected.shape or diff > 1e-3 * scale:  # float rounding over a deep net, not a wrong op
        raise ArchspecError(
            f"{path}: onnxruntime's outputs differ from torch's (max abs difference {diff:.3g} on outputs up to "
            f"{scale:.3g}); expected equal outputs, so nothing was written (try another --opset)"
        )


def _first_line(e: Exception) -> str:
    """An exporter's or onnxruntime's message, first line, without onnxruntime's `[ONNXRuntimeError] : 9 :` code."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.split(" : ")[-1][:200]
