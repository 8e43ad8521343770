"""The example workflows the pack ships, and the graph InvokeAI's editor would enqueue for each."""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

WORKFLOWS = Path(__file__).resolve().parents[2] / "remove_background_node" / "workflows"
NOT_INPUTS = {"id", "type", "is_intermediate", "use_cache"}  # a node's fields that are not inputs in the editor


def load(path: Path) -> dict[str, Any]:
    """A workflow file -> its JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def invocation_nodes(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """A workflow -> its invocation nodes (not notes or other editor nodes)."""
    return [n for n in workflow["nodes"] if n["type"] == "invocation"]


def to_graph(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow -> the graph the editor would enqueue: connected inputs dropped, values kept."""
    connected = {(e["target"], e["targetHandle"]) for e in workflow["edges"]}
    nodes = {}
    for node in invocation_nodes(workflow):
        data = node["data"]
        fields = {
            name: field["value"]
            for name, field in data["inputs"].items()
            if "value" in field and field["value"] is not None and (data["id"], name) not in connected
        }
        nodes[data["id"]] = {
            "id": data["id"],
            "type": data["type"],
            "is_intermediate": data["isIntermediate"],
            "use_cache": data["useCache"],
            **fields,
        }
    edges = [
        {
            "source": {"node_id": e["source"], "field": e["sourceHandle"]},
            "destination": {"node_id": e["target"], "field": e["targetHandle"]},
        }
        for e in workflow["edges"]
    ]
    return {"id": "example", "nodes": nodes, "edges": edges}


def edges_of(graph: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """A graph from ``to_graph`` -> its edges as (source, field, destination, field) for Server.run."""
    return [(e["source"]["node_id"], e["source"]["field"], e["destination"]["node_id"], e["destination"]["field"]) for e in graph["edges"]]


@functools.cache
def load_core_nodes() -> None:
    """Import every core InvokeAI node, so its registry holds them all, as in the server."""
    import invokeai.app.invocations as core

    for module in pkgutil.iter_modules(core.__path__):
        if module.name != "load_custom_nodes":
            importlib.import_module(f"invokeai.app.invocations.{module.name}")
