"""Keep the README's model table generated from catalog.py, through the models CLI's own table
(run: python -m tools.readme_sync)."""

from __future__ import annotations

import re
from pathlib import Path

from remove_background_node.models_cli import table

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def synced(text: str) -> str:
    """README text -> the same text with the block between the markers regenerated."""
    block = f"{START}\n{table(markdown=True)}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    README.write_text(synced(README.read_text()))
    print(f"updated {README}")
