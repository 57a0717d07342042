"""The suite schema (`harness/suite.py`) and its documentation."""

import pytest

from archspec.errors import ArchspecError
from archspec.harness.suite import Entry, Settings

from ..conftest import ROOT


def section(text: str, title: str) -> str:
    return text.split(title, 1)[1].split("\n## ", 1)[0]


def test_the_suites_readme_names_every_key_a_suite_file_takes():
    """suites/README.md documents the schema by hand: a key added to `[suite]` or `[[train]]` (e.g. through the
    train options an entry may set) fails here until the README names it."""
    text = (ROOT / "suites" / "README.md").read_text()
    for title, model in (("## `[suite]`", Settings), ("## `[[train]]`", Entry)):
        missing = [key for key in model.model_fields if f"`{key}`" not in section(text, title)]
        assert not missing, f"suites/README.md's {title} section does not name {missing}"


def test_an_entry_may_set_its_own_width_which_reaches_its_net_and_its_plan(tmp_path):
    """The successors suite trains the ImageNet-stem nets at 1/8 of their width and the ResNet paper's CIFAR nets
    at their own: an entry's `width` wins over the suite's for its training config, the net it builds and the
    planner's count of it; an entry without one keeps the suite's."""
    import archspec
    from archspec.harness.planning import cost
    from archspec.harness.suite import entry_config, load_suite

    path = tmp_path / "suite.toml"
    path.write_text(
        '[suite]\nname = "widths"\ndata = "synthetic"\ncrop = 32\nwidth = 0.125\nepochs = 1\n\n'
        '[[train]]\nid = "R20"\nspec = "resnet20"\nscale = "256"\nwidth = 0.5\n\n'
        '[[train]]\nid = "R18"\nspec = "resnet18"\nscale = "256"\n\n'
        '[[table]]\nname = "T"\ntitle = "t"\nrows = [{ label = "R20", train = ["R20"], protocol = "single" }]\n'
    )
    suite = load_suite(path)
    own, suites = (entry_config(suite, e, tmp_path, 0, 1, None) for e in suite.train)
    assert (own.model.width, suites.model.width) == (0.5, 0.125)
    planned = {p.entry.id: p.net for p in cost.entry_plans(suite)}
    for cfg, spec, first in ((own, "resnet20", 8), (suites, "resnet18", 8)):
        net = cfg.network(10, 3)
        assert archspec.infer(net).params == archspec.infer(planned[cfg.name]).params
        assert archspec.infer(net).layers[0].out_shape[0] == first, spec  # resnet20's 16 x 1/2, resnet18's 64 x 1/8
    with pytest.raises(ArchspecError, match=r"train\.0\.width: found 0; expected greater than 0"):
        path.write_text(path.read_text().replace("width = 0.5", "width = 0"))
        load_suite(path)
