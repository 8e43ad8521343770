"""Keep the example workflows in remove_background_node/workflows/ in step with the nodes, and build the new ones.

Every node of this pack in a shipped workflow gets its template's version and exactly its
template's inputs (values already chosen are kept, new inputs get their defaults), so the editor
never asks to update them. The guided examples are built here from a short description.
Usage: python -m tools.workflows  (rewrites the files; tests/unit/test_workflows.py checks they are in step)
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.harness.workflows import NOT_INPUTS, WORKFLOWS, invocation_nodes, load_core_nodes

PACK = "remove_background_node"


def template(node_type: str) -> tuple[str, str, dict[str, Any]]:
    """A node type -> (its version, its pack, {input name: default, or None when it has none}) from InvokeAI's registry."""
    from invokeai.app.invocations.baseinvocation import InvocationRegistry

    import remove_background_node  # noqa: F401  (registers the pack's nodes)
    load_core_nodes()
    cls = InvocationRegistry.get_invocation_for_type(node_type)
    schema = cls.model_json_schema()
    inputs = {}
    for name, field in cls.model_fields.items():
        if name in NOT_INPUTS:
            continue
        extra = field.json_schema_extra or {}
        default = extra.get("orig_default", field.default)
        inputs[name] = None if default is None or extra.get("orig_required") else _plain(default)
    return schema["version"], schema["node_pack"], inputs


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def input_entry(name: str, value: Any = None) -> dict[str, Any]:
    """An input's name and value -> the editor's v4 JSON for it (no value key when it has none)."""
    entry: dict[str, Any] = {"name": name, "label": "", "description": ""}
    if value is not None:
        entry["value"] = value
    return entry


def sync(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow -> the same workflow with this pack's nodes at their template's version and inputs."""
    for node in invocation_nodes(workflow):
        data = node["data"]
        version, pack, defaults = template(data["type"])
        if pack != PACK:
            continue
        data["version"], data["nodePack"] = version, pack
        old = data["inputs"]
        data["inputs"] = {name: old.get(name, input_entry(name, default)) for name, default in defaults.items()}
    return workflow


def build(name: str, description: str, notes: str, tags: str, nodes: list[dict[str, Any]],
          edges: list[tuple[str, str, str, str]], form: list[tuple[str, str]], heading: str) -> dict[str, Any]:
    """A workflow from a short description: nodes {key, type, values, label, x, y, output}, edges between node keys,
    and the form's fields as (node key, input name)."""
    ids = {n["key"]: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{n['key']}")) for n in nodes}
    out_nodes = []
    for n in nodes:
        version, pack, defaults = template(n["type"])
        values = {**defaults, **n.get("values", {})}
        out_nodes.append({
            "id": ids[n["key"]],
            "type": "invocation",
            "data": {
                "id": ids[n["key"]], "version": version, "nodePack": pack, "label": n.get("label", ""), "notes": "",
                "type": n["type"], "inputs": {k: input_entry(k, v) for k, v in values.items()},
                "isOpen": True, "isIntermediate": not n.get("output", False), "useCache": True,
            },
            "position": {"x": n["x"], "y": n["y"]},
        })
    out_edges = [
        {"id": f"reactflow__edge-{ids[s]}{sf}-{ids[d]}{df}", "type": "default",
         "source": ids[s], "target": ids[d], "sourceHandle": sf, "targetHandle": df}
        for s, sf, d, df in edges
    ]
    elements: dict[str, Any] = {"root": {"id": "root", "type": "container", "data": {"layout": "column", "children": []}}}
    children = elements["root"]["data"]["children"]
    head = f"heading-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:10]}"
    elements[head] = {"id": head, "parentId": "root", "type": "heading", "data": {"content": heading}}
    children.append(head)
    for key, field in form:
        eid = f"node-field-{uuid.uuid5(uuid.NAMESPACE_URL, f'{name}/{key}/{field}').hex[:10]}"
        elements[eid] = {"id": eid, "parentId": "root", "type": "node-field",
                         "data": {"fieldIdentifier": {"nodeId": ids[key], "fieldName": field}, "showDescription": True}}
        children.append(eid)
    return {
        "name": name, "author": "Remove Background node", "description": description, "version": "1.0.0",
        "contact": "", "tags": tags, "notes": notes,
        "exposedFields": [{"nodeId": ids[key], "fieldName": field} for key, field in form],
        "meta": {"version": "4.0.0", "category": "user"},
        "nodes": out_nodes, "edges": out_edges, "form": {"elements": elements, "rootElementId": "root"},
    }


def guided_examples() -> dict[str, dict[str, Any]]:
    """The examples for regions and Refine Cutout, by file name."""
    dino_model = "grounding-dino-tiny"
    return {
        "cut_out_by_text.json": build(
            "Remove Background: cut out by text",
            "Grounding DINO finds the thing you name; Remove Background cuts it out inside the boxes it found.",
            "Type what to cut out in the prompt. Grounding DINO gives bounding boxes; Remove Background runs its model "
            "on each box (with a margin of context) and treats everything outside them as background, so a small "
            "subject in a busy picture is found instead of the picture's main subject.",
            "remove background, grounding dino, bounding boxes",
            [
                {"key": "image", "type": "image", "x": 0, "y": 0},
                {"key": "dino", "type": "grounding_dino", "x": 350, "y": 0,
                 "values": {"model": dino_model, "prompt": "a person", "detection_threshold": 0.3}},
                {"key": "rb", "type": "remove_background", "label": "Remove Background", "x": 750, "y": 0, "output": True},
            ],
            [("image", "image", "dino", "image"), ("image", "image", "rb", "image"),
             ("dino", "collection", "rb", "bounding_boxes")],
            [("image", "image"), ("dino", "prompt"), ("rb", "model")],
            "Cut out by text",
        ),
        "segment_anything_refined_edges.json": build(
            "Remove Background: Segment Anything, refined edges",
            "Grounding DINO finds it, Segment Anything outlines it, Refine Cutout turns the hard outline into soft edges.",
            "Segment Anything's masks are hard and a few pixels off. Refine Cutout solves alpha matting in a band "
            "around the mask's edge (erode size sets its width), so hair and fur come out soft. Connect a trimap "
            "(255 sure subject, 0 sure background) to Refine Cutout to mark the regions yourself.",
            "remove background, segment anything, grounding dino, matting, refine",
            [
                {"key": "image", "type": "image", "x": 0, "y": 0},
                {"key": "dino", "type": "grounding_dino", "x": 350, "y": 0,
                 "values": {"model": dino_model, "prompt": "a person", "detection_threshold": 0.3}},
                {"key": "sam", "type": "segment_anything", "x": 700, "y": 0, "values": {"model": "segment-anything-2-small"}},
                {"key": "tomask", "type": "tensor_mask_to_image", "x": 1050, "y": 0},
                {"key": "rc", "type": "refine_cutout", "label": "Refine Cutout", "x": 1400, "y": 0, "output": True,
                 "values": {"erode_size": 15, "refine_foreground": True}},
            ],
            [("image", "image", "dino", "image"), ("image", "image", "sam", "image"),
             ("dino", "collection", "sam", "bounding_boxes"), ("sam", "mask", "tomask", "mask"),
             ("image", "image", "rc", "image"), ("tomask", "image", "rc", "mask")],
            [("image", "image"), ("dino", "prompt"), ("rc", "erode_size")],
            "Segment Anything, refined edges",
        ),
        "video_background.json": build(
            "Remove Background: a video's background",
            "A video's subject over green, and its matte as a second video, with a steady edge.",
            "Pick a video. Remove Video Background runs the model on every frame and steadies the matte with the "
            "frames before it (temporal smoothing), then writes the subject over the background colour and the "
            "matte (white = subject) as two MP4s of the same size, frame rate and length. Use the matte as a track "
            "matte in a video editor, or the green video for keying.",
            "remove background, video, matte",
            [
                {"key": "video", "type": "video", "x": 0, "y": 0},
                {"key": "rv", "type": "remove_background_video", "label": "Remove Video Background", "x": 350, "y": 0,
                 "output": True},
            ],
            [("video", "video", "rv", "video")],
            [("video", "video"), ("rv", "model"), ("rv", "temporal_smoothing"), ("rv", "background_color")],
            "A video's background",
        ),
    }


def main() -> None:
    for name, workflow in guided_examples().items():
        (WORKFLOWS / name).write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")
    for path in sorted(WORKFLOWS.glob("*.json")):
        path.write_text(json.dumps(sync(json.loads(path.read_text())), indent=2, ensure_ascii=False) + "\n")
        print(path)


if __name__ == "__main__":
    main()
