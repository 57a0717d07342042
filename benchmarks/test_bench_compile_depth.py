"""Issue 9's complaint: `compile` was quadratic in depth (10k layers 8.6 s, 100k over 3 minutes) because the
summary indexed `nn.Sequential` once per row. Building and summarising 4x the layers must cost about 4x, not 16x:
the ratio of the two, measured in the same run, is reported beside the linear 4.0."""

from archspec import compile_spec

from .conftest import RATIOS

RATIOS.append(
    ("compile: time for 8,000 / time for 2,000 conv layers (linear: 4.0, quadratic: 16.0)", "deep_8000", "deep_2000")
)


def spec(convs: int) -> str:
    return "input 8x8x1 " + " ".join(["conv1-2"] * convs) + " FC-2 soft-max"


def test_compile_2000_layers(benchmark, record):
    benchmark.pedantic(compile_spec, args=(spec(2000),), rounds=3, iterations=1)
    record("deep_2000")


def test_compile_8000_layers(benchmark, record):
    result = benchmark.pedantic(compile_spec, args=(spec(8000),), rounds=3, iterations=1)
    assert len(result.rows) == 2 * 8000 + 3  # conv + relu each, avgpool, FC, soft-max
    record("deep_8000")
