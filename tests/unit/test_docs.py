"""The README matches the code: its generated parts are current, its first commands are the Makefile's."""

from __future__ import annotations

from tools import readme_sync


def test_generated_parts_are_current():
    """The model table, the order of operations and every node's inputs and outputs come from the code."""
    text = readme_sync.README.read_text()
    assert readme_sync.missing(text) == []
    assert readme_sync.synced(text) == text, "run: python -m tools.readme_sync"


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = readme_sync.README.read_text().split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
    makefile = (readme_sync.README.parent / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile and "\ntest-compat:" in makefile
    assert "make test" in (readme_sync.README.parent / ".ci" / "run").read_text()
