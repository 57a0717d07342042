import pytest

import archspec
from archspec import registry


def test_registry_lists_the_shipped_specs_and_they_exist():
    assert registry.names()[:7] == ("A", "A-LRN", "B", "C", "D", "E", "B-conv5")
    assert registry.names()[7:] == (
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet50-v1",
        "resnet101-v1",
        "resnet152-v1",
        "alexnet",
        "googlenet",
        "plain18",
        "plain34",
        *("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"),  # the ResNet paper's CIFAR-10 nets
        *("plain20", "plain32", "plain44", "plain56"),
    )
    assert all(registry.spec_path(n).is_file() for n in registry.names())


@pytest.mark.parametrize("alias, spec, bn", [("vgg16", "D", False), ("VGG19_bn", "E", True), ("a-lrn", "A-LRN", False)])
def test_aliases(alias, spec, bn):
    path, is_bn = registry.lookup(alias)
    assert (path.stem, is_bn) == (spec, bn)


def test_unknown_name_lists_what_exists():
    assert registry.lookup("vgg17") is None
    with pytest.raises(archspec.ArchspecError, match="one of A, A-LRN"):
        archspec.network("vgg17")


def test_long_spec_text_is_not_taken_for_a_path():
    text = "input 32x32x3 " + "conv3-8 " * 60 + "FC-10"  # longer than any file name
    assert archspec.network(text).weight_layers == 61
