"""Property: any text, random or a mutated real spec, either parses or raises the project's SpecError."""

from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.errors import SpecError
from archspec.infer import infer
from archspec.spec import parse

WORDS = [
    "conv3-64",
    "conv1-8",
    "conv5-2",
    "maxpool",
    "LRN",
    "FC-10",
    "FC-4096",
    "soft-max",
    "input 32x32x3",
    "input (224 × 224 RGB image)",
    "#",
    "\n",
    "|",
    " ",
    "x",
    "×",
    "-",
    "0",
    "99999999999",
    "conv",
    "FC",
    "(",
    "[",
    "]",
    "{",
    "}",
    "+",
    ";",
    "×2",
    "x 3",
    "bn",
    "avgpool",
    "conv3-8/2",
    "conv4-8p1",
    "maxpool3/2p1ceil",
    "identity",
    "dropout0.2",
    "set bn-eps 0.001",
]
REAL = "input (32 × 32 RGB image)\nconv3-64 LRN maxpool\nconv3-128 maxpool  # block 2\nFC-4096 FC-10 soft-max\n"
RESNET = "input 32x32x3\nconv7-8/2 bn maxpool3/2p1\n[conv1-8 bn; conv3-8/2 bn; conv1-32 bn] ×2\navgpool FC-10\n"
INCEPTION = "set bn-eps 0.001\nconv3-8 bn {conv1-4 bn | conv1-2 conv3-4 | maxpool3/1p1ceil conv1-4} avgpool FC-2\n"


def parses_or_spec_error(text: str) -> None:
    try:
        infer(parse(text))
    except SpecError as e:
        assert e.line >= 1 and e.col >= 1 and "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_text(text):
    parses_or_spec_error(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=20).map(" ".join))
def test_random_token_soup(text):
    parses_or_spec_error(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(REAL)), st.integers(0, 6), st.text(max_size=4))
def test_mutated_real_spec(pos, cut, insert):
    parses_or_spec_error(REAL[:pos] + insert + REAL[pos + cut :])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(RESNET)), st.integers(0, 6), st.text(max_size=4))
def test_mutated_resnet_spec(pos, cut, insert):
    parses_or_spec_error(RESNET[:pos] + insert + RESNET[pos + cut :])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(INCEPTION)), st.integers(0, 6), st.text(max_size=4))
def test_mutated_inception_spec(pos, cut, insert):
    parses_or_spec_error(INCEPTION[:pos] + insert + INCEPTION[pos + cut :])
