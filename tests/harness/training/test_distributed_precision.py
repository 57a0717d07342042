"""Which arithmetic each precision choice runs a device in: auto follows the machine's bf16 units that oneDNN may
use, and bf16 insisted on where a CPU would emulate it stops before anything runs."""

import pytest
import torch

from archspec.choices import Precision
from archspec.errors import ArchspecError
from archspec.harness.training.distributed import autocast_dtype, check_precision, cpu_bf16_units, precision_reason

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.mark.parametrize(
    "amx, avx512_bf16, units",
    [(True, True, ["AMX", "AVX512-BF16"]), (False, True, ["AVX512-BF16"]), (False, False, []), (None, None, None)],
)
def test_the_cpus_bf16_units_are_torchs_own_checks(bf16_units, amx, avx512_bf16, units):
    bf16_units(amx=amx, avx512_bf16=avx512_bf16)
    assert cpu_bf16_units() == units


@pytest.mark.parametrize(
    "variable, cap, units",
    [
        ("ONEDNN_MAX_CPU_ISA", "AVX2", []),  # the AVX2 kernels: bf16 emulated, as on a CPU without the units
        ("ONEDNN_MAX_CPU_ISA", "avx512_core", []),
        ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", ["AVX512-BF16"]),  # AVX512-BF16's dot products, not AMX tiles
        ("DNNL_MAX_CPU_ISA", "AVX512_CORE_AMX", ["AMX", "AVX512-BF16"]),  # oneDNN's former name for the variable
        ("ONEDNN_MAX_CPU_ISA", "ALL", ["AMX", "AVX512-BF16"]),
        ("ONEDNN_MAX_CPU_ISA", "AVX10_2_512", ["AVX512-BF16"]),
        ("ONEDNN_MAX_CPU_ISA", "AVX3", ["AMX", "AVX512-BF16"]),  # not a value oneDNN takes: it ignores it
        ("ONEDNN_MAX_CPU_ISA", " AVX2", ["AMX", "AVX512-BF16"]),  # nor this: oneDNN does not strip spaces
    ],
)
def test_a_cap_on_onednns_instructions_leaves_it_only_the_units_below_the_cap(
    bf16_units, monkeypatch, variable, cap, units
):
    bf16_units(amx=True, avx512_bf16=True)
    monkeypatch.setenv(variable, cap)
    assert cpu_bf16_units() == units


@pytest.mark.parametrize(
    "onednn, dnnl, units",
    [
        ("AVX2", "AVX512_CORE_AMX", []),  # oneDNN's own name wins
        ("AVX3", "AVX2", ["AMX", "AVX512-BF16"]),  # even with a value oneDNN ignores: DNNL_ is not read then
        ("", "AVX2", []),  # empty counts as unset
    ],
)
def test_onednns_own_variable_wins_over_its_former_name(bf16_units, monkeypatch, onednn, dnnl, units):
    bf16_units(amx=True, avx512_bf16=True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", onednn)
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", dnnl)
    assert cpu_bf16_units() == units


def test_auto_runs_fp32_where_a_cap_keeps_onednn_from_the_cpus_bf16_units_and_says_so(bf16_units, monkeypatch):
    bf16_units(avx512_bf16=True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert autocast_dtype(Precision.auto, CPU) is None
    assert precision_reason(Precision.auto, CPU) == (
        "fp32 (auto: this CPU has AVX512-BF16, but ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN from them)"
    )
    with pytest.raises(ArchspecError) as e:
        check_precision(Precision.bf16, CPU, "suite.toml: suite.precision")
    assert str(e.value) == (
        "suite.toml: suite.precision: found bf16 where ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN from this CPU's "
        "AVX512-BF16, so it emulates bf16, about 90x slower than fp32; expected auto (fp32 here) or fp32, or "
        "ONEDNN_MAX_CPU_ISA unset"
    )


@pytest.mark.parametrize(
    "precision, device, units, dtype",
    [
        (Precision.auto, CPU, {"amx": True}, torch.bfloat16),
        (Precision.auto, CPU, {"avx512_bf16": True}, torch.bfloat16),
        (Precision.auto, CPU, {}, None),  # emulated bf16 would be ~90x slower: fp32
        (Precision.auto, CPU, {"amx": None, "avx512_bf16": None}, None),  # a torch that cannot tell: fp32
        (Precision.auto, CUDA, {}, torch.bfloat16),
        (Precision.fp32, CPU, {"amx": True}, None),
        (Precision.fp32, CUDA, {}, None),
        (Precision.bf16, CPU, {"amx": True}, torch.bfloat16),
        (Precision.bf16, CUDA, {}, torch.bfloat16),
    ],
)
def test_each_precision_picks_its_autocast_dtype(bf16_units, precision, device, units, dtype):
    bf16_units(**units)
    assert autocast_dtype(precision, device) is dtype


def test_bf16_on_a_cpu_without_bf16_units_stops_with_the_fix(bf16_units):
    bf16_units()
    with pytest.raises(ArchspecError) as e:
        check_precision(Precision.bf16, CPU, "--precision")
    assert str(e.value) == (
        "--precision: found bf16 on a CPU without bf16 units (AMX, AVX512-BF16), where oneDNN emulates it, about 90x "
        "slower than fp32; expected auto (fp32 on this CPU, bf16 where it has the units) or fp32"
    )
    for precision in (Precision.auto, Precision.fp32):
        check_precision(precision, CPU, "--precision")
    check_precision(Precision.bf16, CUDA, "--precision")


@pytest.mark.parametrize("units", [{"amx": True}, {"amx": None, "avx512_bf16": None}])
def test_bf16_where_the_cpu_has_bf16_units_or_torch_cannot_tell_goes_ahead(bf16_units, units):
    bf16_units(**units)
    check_precision(Precision.bf16, CPU, "--precision")


@pytest.mark.parametrize(
    "precision, device, units, reason",
    [
        (Precision.auto, CPU, {"amx": True, "avx512_bf16": True}, "bf16 (auto: this CPU has AMX and AVX512-BF16)"),
        (Precision.auto, CPU, {}, "fp32 (auto: this CPU has no bf16 units, AMX or AVX512-BF16)"),
        (Precision.auto, CPU, {"amx": None, "avx512_bf16": None}, "fp32 (auto: this torch cannot tell whether the "),
        (Precision.auto, CUDA, {}, "bf16 (auto: CUDA)"),
        (Precision.bf16, CPU, {"amx": True}, "bf16 (asked for)"),
        (Precision.fp32, CPU, {"amx": True}, "fp32 (asked for)"),
    ],
)
def test_the_reason_says_what_ran_and_why(bf16_units, precision, device, units, reason):
    bf16_units(**units)
    assert precision_reason(precision, device).startswith(reason)
