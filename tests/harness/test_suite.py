"""The suite schema (`harness/suite.py`) and its documentation."""

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
