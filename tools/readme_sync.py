"""Keep the README's model table generated from catalog.py (run: python -m tools.readme_sync)."""

from __future__ import annotations

import re
from pathlib import Path

from remove_background_node import catalog

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def model_table() -> str:
    """The catalog -> a markdown table of every model (name, label, input size, file, checksum, licence)."""
    rows = ["| model | shown as | input | release file (size) | checksum | licence |", "|---|---|---|---|---|---|"]
    for m in catalog.MODELS:
        rows.append(
            f"| `{m.name}` | {m.label} | {m.input_size}² | `{m.release_file}` (~{m.size_mb} MB) "
            f"| `{m.checksum}` | {m.licence} |"
        )
    return "\n".join(rows)


def synced(text: str) -> str:
    """README text -> the same text with the block between the markers regenerated."""
    block = f"{START}\n{model_table()}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    README.write_text(synced(README.read_text()))
    print(f"updated {README}")
