"""Module paths in torchvision's layout of each family (the state_dict keys torchvision's checkpoints have)."""

from archspec.compiler.layout import module_paths
from archspec.spec import load


def test_module_paths_follow_torchvisions_layout_of_each_family(spec_dir):
    def paths(name):
        net = load(spec_dir / f"{name}.txt")
        return [p for p in module_paths(net) if p is not None]

    r50 = paths("resnet50")
    assert r50[:4] == ["conv1", "bn1", "relu", "maxpool"] and r50[-2:] == ["avgpool", "fc"]
    assert "layer1.0.downsample.0" in r50 and "layer1.1.downsample.0" not in r50 and "layer4.2.bn3" in r50
    g = paths("googlenet")
    assert g[:3] == ["conv1.conv", "conv1.bn", "maxpool1"] and "inception4e.branch4.1.conv" in g
    assert "inception3a.branch1.conv" in g and "inception5b.branch3.1.bn" in g and "maxpool4" in g
    assert paths("alexnet")[-3:] == ["classifier.4", "classifier.5", "classifier.6"]
    assert paths("alexnet")[13] == "classifier.0"  # the written dropout starts torchvision's classifier
