"""The example workflows the pack ships, and the graph InvokeAI's editor would enqueue for each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WORKFLOWS = Path(__file__).resolve().parents[2] / "remove_background_node" / "workflows"


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
