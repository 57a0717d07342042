"""Every claim of every shipped suite against the paper's sentence it tests: the sentence (quoted from
../shared/paper.md, checked there) names configurations (nets, training scales, test protocols), and the claim must
pair exactly the rows that measure them wherever the suite has those rows, no fewer (a claim decided on part of its
sentence) and no more (a claim stretched past it)."""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from archspec.harness.suite import load_suite

from ...test_table import PAPER, needs_paper

SUITES = ("quick", "small", "paper", "successors")
VGG = "ABCDE"
JITTER = "[256;512]"
MULTI_Q = {"256": "{224,256,288}", "384": "{352,384,416}", JITTER: "{256,384,512}"}  # Sec. 3.2, per training S
SINGLE_Q = {"256": "256", "384": "384", JITTER: "384"}


@dataclass(frozen=True)
class Wording:
    sentence: str  # as paper.md words it (whitespace aside)
    kind: str
    pairs: Callable[[], list[tuple[str, str]]]  # every configuration the sentence names, as [claimed, compared] rows


def per_net(nets: str, *pairs: str) -> Callable[[], list[tuple[str, str]]]:
    """Pairs written with X for the net, one set for each of `nets`."""
    return lambda: [tuple(p.replace("X", x) for p in pair.split(" | ")) for x in nets for pair in pairs]


def multi_scale() -> list[tuple[str, str]]:
    """Sec. 4.2: each net and training scale of Table 4 at its three test scales against the same net at one."""
    return [(f"{x} {s} {MULTI_Q[s]}", f"{x} {s} {SINGLE_Q[s]}") for x in VGG for s in MULTI_Q]


# claim text (up to its parenthesis) -> the sentence it tests and the configurations that sentence names
WORDING = {
    "LRN does not help": Wording(
        "LRN (A-LRN) does not improve on A without any normalisation.",
        "no_worse",
        lambda: [("A 256 256", "A-LRN 256 256")],
    ),
    # the depth sentence is two claims of two kinds (suites/README.md): A -> B -> D falls, E no worse than D
    "error falls with depth": Wording(
        "the error decreases with depth, from 11 layers (A) to 19 (E).",
        "lower",
        lambda: [("B 256 256", "A 256 256"), ("D 256 256", "B 256 256")],
    ),
    "depth saturates at 19 layers": Wording(
        "the error saturates at 19 layers on this data set.", "no_worse", lambda: [("E 256 256", "D 256 256")]
    ),
    "C beats B": Wording("C (three 1x1 convs) is better than B", "lower", lambda: [("C 256 256", "B 256 256")]),
    "D beats C": Wording("D is better than C", "lower", lambda: [("D 256 256", "C 256 256")]),
    "deep small filters beat shallow large ones": Wording(
        "B beats a shallow net in which each pair of 3x3 convs is one 5x5 conv",
        "lower",
        lambda: [("B centre crop", "B-conv5 centre crop")],
    ),
    # Table 3's fixed scales, read at the same epochs: each net's S = 384 against its S = 256 control
    "S = 384 is no worse than S = 256": Wording(
        "D 256 256 27.0 8.8 | D 384 384 26.8 8.7", "no_worse", per_net(VGG, "X 384 384 | X 256 256 (control)")
    ),
    "scale jittering helps": Wording(
        "better results than training at a fixed smallest side, S = 256 or S = 384, even with a single test scale "
        "(both fixed scales are named).",
        "lower",
        per_net(VGG, "X [256;512] 384 | X 256 256 (control)", "X [256;512] 384 | X 384 384 (control)"),
    ),
    "multi-scale testing helps": Wording(
        "scale jittering at test time (several Q) is better than the same model at one scale", "lower", multi_scale
    ),
    "multi-crop is": Wording(
        "multi-crop is slightly better than dense", "lower", per_net("DE", "X multi-crop | X dense")
    ),
    "multi-crop & dense is best": Wording(
        "complementary: their combination beats each.",
        "lower",
        per_net("DE", "X multi-crop & dense | X dense", "X multi-crop & dense | X multi-crop"),
    ),
    "fusion of two nets helps": Wording(
        "fusing D/[256;512] and E/[256;512] beats each of them.",
        "lower",
        per_net("DE", "D+E multi-crop & dense | X multi-crop & dense"),
    ),
    "a VGG single net beats GoogLeNet": Wording(
        "VGG 1 net 7.0; GoogLeNet 1 net 7.9", "lower", lambda: [("VGG-19 (E)", "GoogLeNet")]
    ),
    "VGG beats AlexNet": Wording(
        "VGG 1 net 7.0; GoogLeNet 1 net 7.9, 7 nets 6.7; MSRA 1 net 9.1; Clarifai 1 net 12.5; Zeiler & Fergus 1 net "
        "16.1; OverFeat 7 nets 13.6; Krizhevsky 5 nets 16.4.",
        "lower",
        lambda: [("VGG-11 (A), crop 64", "AlexNet, crop 64")],
    ),
    # the ResNet paper's CIFAR nets (Sec. 4.2), where its depth claims are decided (issue 38): Fig. 6 in one
    # sentence; deeper plain nets against the shallowest, plain-20, as the issue words it (plain-56 vs plain-20)
    "plain-56 is worse than plain-20": Wording(
        "deeper plain nets (20, 32, 44, 56 layers) have higher training and test error (degradation)",
        "lower",
        lambda: [("plain-20", f"plain-{n}") for n in (32, 44, 56)],
    ),
    # the same figure's two panels at the depth both have at their deepest; paper.md quotes no plain-56 figure
    "ResNet-56 beats plain-56": Wording(
        "deeper plain nets (20, 32, 44, 56 layers) have higher training and test error (degradation); deeper "
        "residual nets have lower error, up to 110 layers.",
        "lower",
        lambda: [("ResNet-56", "plain-56")],
    ),
    # Table 6: 110 layers at 6.61 (mean of 5 runs) against 56 at 6.97, a third of a point: no worse, not lower
    "ResNet-110 is no worse than ResNet-56": Wording(
        "ResNet-56 6.97 (0.85M); ResNet-110 6.43, best of 5 runs, mean 6.61 +- 0.16 (1.7M)",
        "no_worse",
        lambda: [("ResNet-110", "ResNet-56")],
    ),
}


def wording_of(text: str) -> Wording:
    key = text.split(" (")[0]
    assert key in WORDING, f"claim {text!r} has no sentence in WORDING: add the one of paper.md it tests"
    return WORDING[key]


def claims_of(name: str):
    suite = load_suite(name)
    labels = {r.label for t in suite.table for r in t.rows}
    return [(c, labels) for c in suite.claim]


@pytest.mark.parametrize("name", SUITES)
def test_every_claim_pairs_every_configuration_its_sentence_names_and_no_other(name):
    for claim, labels in claims_of(name):
        wording = wording_of(claim.text)
        named = [p for p in wording.pairs() if set(p) <= labels]  # the configurations this suite can measure
        assert named, f"{name}: {claim.text!r} measures none of its sentence's configurations"
        assert sorted(claim.pairs) == sorted(named), f"{name}: {claim.text!r}"
        assert claim.kind == wording.kind, f"{name}: {claim.text!r}"


def test_the_successors_depth_claims_are_decided_on_the_cifar_nets_only():
    """Issue 38: at crop 32 the ImageNet stems leave ResNet-18/34 and plain-18/34 on 2x2 and 1x1 maps, so the depth
    claims pair only the ResNet paper's CIFAR nets (specs plain20/56, resnet56/110), each at one common width."""
    suite = load_suite("successors")
    by_label = {r.label: r for t in suite.table for r in t.rows}
    by_id = {e.id: e for e in suite.train}
    cifar = {"plain20", "plain56", "resnet56", "resnet110"}
    depth = [c for c in suite.claim if "plain" in c.text or "ResNet" in c.text]
    assert [c.text.split(" (")[0] for c in depth] == [
        "plain-56 is worse than plain-20",
        "ResNet-56 beats plain-56",
        "ResNet-110 is no worse than ResNet-56",
    ]
    entries = [by_id[t] for c in depth for pair in c.pairs for label in pair for t in by_label[label].train]
    assert {e.spec for e in entries} == cifar and len({e.width for e in entries}) == 1
    assert all(suite.crop_of(e) == 32 for e in entries)
    imagenet_stems = {e.id for e in suite.train if e.spec in {"resnet18", "resnet34", "resnet50", "plain18", "plain34"}}
    assert len(imagenet_stems) == 5  # they stay, for the cost table
    assert not {t for c in suite.claim for p in c.pairs for label in p for t in by_label[label].train} & imagenet_stems


def test_the_successors_vgg_alexnet_claim_has_batch_norm_on_both_sides():
    suite = load_suite("successors")
    by_label = {r.label: r for t in suite.table for r in t.rows}
    (claim,) = [c for c in suite.claim if c.text.startswith("VGG beats AlexNet")]
    entries = [e for e in suite.train for label in claim.pairs[0] if e.id in by_label[label].train]
    assert [e.spec for e in entries] == ["A", "alexnet"] and all(e.batch_norm for e in entries)


def test_the_small_suites_jittering_claim_holds_both_fixed_scales():
    """The referee's case: Sec. 4.1 names S = 256 and S = 384, and the suite trains same-chain controls at both."""
    (jitter,) = [c for c, _ in claims_of("small") if c.text.startswith("scale jittering")]
    fixed = {second.split(" ")[1] for _, second in jitter.pairs}
    assert fixed == {"256", "384"} and {first for first, _ in jitter.pairs} == {"D [256;512] 384", "E [256;512] 384"}


@needs_paper
def test_every_sentence_is_the_papers_own():
    text = re.sub(r"\s+", " ", PAPER.read_text())
    for key, wording in WORDING.items():
        assert wording.sentence in text, key
