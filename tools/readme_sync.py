"""Keep the README's generated parts in step with the code (run: python -m tools.readme_sync).

Each part sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``: the model table (the
models CLI's own), the order of operations (pipeline.STEPS) and every node's inputs and outputs
(the nodes' own field titles, ranges, defaults and descriptions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = {"id", "type", "is_intermediate", "use_cache", "board", "metadata"}


def _type(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    """A field's JSON schema -> a short type and range for a person."""
    if "enum" in prop:
        return "dropdown"
    ref = prop.get("$ref") or next((a.get("$ref") or a.get("items", {}).get("$ref") for a in prop.get("anyOf", []) if a.get("$ref") or a.get("items")), None)
    names = {"ImageField": "image", "ColorField": "colour", "BoundingBoxField": "bounding box", "VideoField": "video"}
    if ref:
        name = names.get(ref.rsplit("/", 1)[-1], ref.rsplit("/", 1)[-1])
        many = any(a.get("type") == "array" for a in prop.get("anyOf", [])) or prop.get("type") == "array"
        return f"list of {name}es" if many else name
    kind = {"boolean": "bool", "integer": "int", "number": "float", "string": "text"}.get(prop.get("type", ""), prop.get("type", ""))
    if "minimum" in prop and "maximum" in prop:
        low, high = prop["minimum"], prop["maximum"]
        fmt = (lambda v: f"{v:g}") if kind == "float" else (lambda v: str(v))
        return f"{kind} {fmt(low).replace('-', '−')}..{fmt(high)}"
    return kind


def _default(prop: dict[str, Any]) -> str:
    """A field's JSON schema -> its default as the editor shows it, or '' when it has none."""
    if prop.get("orig_required"):
        return ""
    value = prop.get("orig_default", prop.get("default"))
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict) and set(value) == {"r", "g", "b", "a"}:
        return "transparent" if value["a"] == 0 else f"rgba({value['r']}, {value['g']}, {value['b']}, {value['a']})"
    return f"`{value}`" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def inputs_table(node: Any) -> str:
    """A node class -> the markdown table of its inputs: name, title, type and range, default, description."""
    schema = node.model_json_schema()
    rows = ["| Input | Shown as | Type (default) | What it does |", "|---|---|---|---|"]
    for name in node.model_fields:
        if name in SKIP:
            continue
        prop = schema["properties"][name]
        default = _default(prop)
        kind = _type(prop, schema) + (f" ({default})" if default else "")
        rows.append(f"| `{name}` | {prop.get('title', '')} | {kind} | {prop.get('description', '').rstrip('.')}. |")
    if {"board", "metadata"} <= set(node.model_fields):
        rows.append("| `board`, `metadata` | | | As on core image nodes: where the outputs are saved, and the metadata saved with them. |")
    return "\n".join(rows)


def outputs_table(output: Any) -> str:
    """An output class -> the markdown table of its fields: name, type, description."""
    schema = output.model_json_schema()
    rows = ["| Output | Type | What it is |", "|---|---|---|"]
    for name, prop in schema["properties"].items():
        if name in {"type", "output_meta"}:  # InvokeAI's own, on every output
            continue
        rows.append(f"| `{name}` | {_type(prop, schema)} | {prop.get('description', '').rstrip('.')}. |")
    return "\n".join(rows)


def order_of_operations() -> str:
    """pipeline.STEPS -> the README's numbered list."""
    from remove_background_node.pipeline import STEPS

    return "\n".join(
        f"{i}. {f'`{name}`' if name.isidentifier() else name}: {what}" for i, (name, what) in enumerate(STEPS, start=1)
    )


def parts() -> dict[str, Callable[[], str]]:
    """-> each generated part of the README by its marker name."""
    import remove_background_node as pack
    from remove_background_node.models_cli import table

    made: dict[str, Callable[[], str]] = {
        "model-table": lambda: table(markdown=True),
        "order-of-operations": order_of_operations,
    }
    tabled: set[Any] = set()
    for node in (pack.RemoveBackgroundInvocation, pack.RefineCutoutInvocation, *getattr(pack, "VIDEO_NODES", ())):
        kind = node.model_json_schema()["properties"]["type"]["default"]
        made[f"{kind}-inputs"] = lambda node=node: inputs_table(node)
        if _output_of(node) not in tabled:  # a node with another's outputs says so in words
            tabled.add(_output_of(node))
            made[f"{kind}-outputs"] = lambda node=node: outputs_table(_output_of(node))
    return made


def _output_of(node: Any) -> Any:
    """A node class -> its output class (the return annotation of invoke)."""
    return node.invoke.__annotations__["return"]


def synced(text: str) -> str:
    """README text -> the same text with every generated part between its markers made anew."""
    for name, make in parts().items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{make()}\n{end}", text, flags=re.S)
    return text


def missing(text: str) -> list[str]:
    """README text -> the names of generated parts whose markers it lacks."""
    return [name for name in parts() if f"<!-- {name}:start -->" not in text]


if __name__ == "__main__":
    README.write_text(synced(README.read_text()))
    print(f"updated {README}")
