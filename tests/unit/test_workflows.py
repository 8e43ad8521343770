"""The example workflows shipped in remove_background_node/workflows/ are ones InvokeAI 6.14.2 accepts.

Checked three ways: with InvokeAI's own pydantic model, exactly as its Node Manager imports a
pack's workflows; against the rules of the workflow editor's v4 schema (the editor checks nodes,
edges and the form strictly; the server does not); and by turning each workflow into a graph the
way the editor does and validating that graph with InvokeAI's own Graph model (node types,
field values, bounds and the type of every edge).
"""

from __future__ import annotations

import copy

import pytest

from tests.harness.workflows import NOT_INPUTS, WORKFLOWS, invocation_nodes, load, load_core_nodes, to_graph

FILES = sorted(WORKFLOWS.glob("*.json"))
# Fields a person picks when opening the workflow; they must be exposed in the form.
CHOSEN_BY_USER = {("main_model_loader", "model"), ("image", "image"), ("video", "video")}


@pytest.fixture(scope="module")
def registry():
    """InvokeAI's invocation registry with every core node and this pack registered, as in the server."""
    from invokeai.app.invocations.baseinvocation import InvocationRegistry

    load_core_nodes()
    return InvocationRegistry


def test_there_are_the_examples():
    names = {p.name for p in FILES}
    assert names == {
        "product_shot_on_colour.json",
        "keep_subject_new_background_sd15.json",
        "crop_to_subject.json",
        "cut_out_by_text.json",
        "segment_anything_refined_edges.json",
        "video_background.json",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_pack_nodes_are_in_step_with_their_templates(path):
    """python -m tools.workflows brings them in step; a node change without it fails here."""
    from tools import workflows

    wf = load(path)
    assert workflows.sync(copy.deepcopy(wf)) == wf
    built = workflows.guided_examples().get(path.name)
    assert built is None or workflows.sync(built) == wf


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_node_manager_imports_it(path):
    """The exact steps of InvokeAI's _import_workflows_from_pack, up to the database write."""
    from invokeai.app.services.workflow_records.workflow_records_common import WorkflowWithoutIDValidator

    data = load(path)
    assert isinstance(data, dict) and "nodes" in data and "edges" in data, "the Node Manager skips it otherwise"
    data["meta"]["category"] = "user"
    data["tags"] = f"{data['tags']}, node-pack:remove_background_node"
    data.pop("id", None)
    workflow = WorkflowWithoutIDValidator.validate_python(data)
    assert workflow.name.startswith("Remove Background")
    assert workflow.form is not None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_matches_the_editors_v4_schema(path):
    wf = load(path)
    for key in ("name", "author", "description", "version", "contact", "tags", "notes"):
        assert isinstance(wf[key], str)
    assert wf["meta"] == {"version": "4.0.0", "category": "user"}
    ids = set()
    for node in wf["nodes"]:
        assert node["type"] == "invocation" and node["id"] == node["data"]["id"]
        assert set(node["position"]) == {"x", "y"}
        data = node["data"]
        assert {"id", "version", "nodePack", "label", "notes", "type", "inputs", "isOpen", "isIntermediate", "useCache"} <= set(data)
        assert len(data["version"].split(".")) == 3
        for name, field in data["inputs"].items():
            assert field["name"] == name and isinstance(field["label"], str)
        ids.add(node["id"])
    for edge in wf["edges"]:
        assert edge["type"] == "default" and edge["source"] in ids and edge["target"] in ids
        assert edge["sourceHandle"] and edge["targetHandle"]
    # The form: a tree under its root container whose elements all hang from it.
    form = wf["form"]
    elements, root = form["elements"], form["rootElementId"]
    assert elements[root]["type"] == "container" and "parentId" not in elements[root]
    seen = set()

    def walk(eid: str) -> None:
        seen.add(eid)
        el = elements[eid]
        if el["type"] == "container":
            for child in el["data"]["children"]:
                assert elements[child]["parentId"] == eid
                walk(child)

    walk(root)
    assert seen == set(elements)
    for el in elements.values():
        if el["type"] == "node-field":
            ident = el["data"]["fieldIdentifier"]
            node = next(n for n in wf["nodes"] if n["id"] == ident["nodeId"])
            assert ident["fieldName"] in node["data"]["inputs"]
    for exposed in wf["exposedFields"]:
        node = next(n for n in wf["nodes"] if n["id"] == exposed["nodeId"])
        assert exposed["fieldName"] in node["data"]["inputs"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_nodes_match_the_installed_templates(path, registry):
    """Same node versions (or the editor asks to update them), same pack, and exactly the template's inputs."""
    for node in invocation_nodes(load(path)):
        data = node["data"]
        cls = registry.get_invocation_for_type(data["type"])
        assert cls is not None, f"no node of type {data['type']}"
        schema = cls.model_json_schema()
        assert data["version"] == schema["version"], data["type"]
        assert data["nodePack"] == schema["node_pack"]
        assert set(data["inputs"]) == set(cls.model_fields) - NOT_INPUTS, data["type"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_graph_validates_in_invokeai(path, registry):
    """Every value fits its field (bounds, enums, colours) and every edge joins compatible types."""
    from invokeai.app.services.shared.graph import Graph

    wf = load(path)
    graph = Graph.model_validate(to_graph(wf))
    graph.validate_self()

    connected = {(e["target"], e["targetHandle"]) for e in wf["edges"]}
    exposed = {(f["nodeId"], f["fieldName"]) for f in wf["exposedFields"]}
    for node in invocation_nodes(wf):
        data = node["data"]
        props = registry.get_invocation_for_type(data["type"]).model_json_schema()["properties"]
        for name, field in data["inputs"].items():
            if not props[name].get("orig_required") or (data["id"], name) in connected:
                continue
            if field.get("value") is None:
                assert (data["type"], name) in CHOSEN_BY_USER, f"{data['type']}.{name} is required and empty"
                assert (data["id"], name) in exposed, f"{data['type']}.{name} must be in the form"


def test_graph_validation_can_fail(registry):
    """The check above is real: a wrong edge or an out-of-range value is refused."""
    from invokeai.app.services.shared.graph import Graph, InvalidEdgeError
    from pydantic import ValidationError

    wf = load(WORKFLOWS / "crop_to_subject.json")
    bad_edge = copy.deepcopy(wf)
    next(e for e in bad_edge["edges"] if e["targetHandle"] == "bounding_box")["sourceHandle"] = "width"
    with pytest.raises(InvalidEdgeError, match="types do not match"):
        Graph.model_validate(to_graph(bad_edge)).validate_self()
    bad_value = copy.deepcopy(wf)
    rb = next(n for n in invocation_nodes(bad_value) if n["data"]["type"] == "remove_background")
    rb["data"]["inputs"]["mask_grow"]["value"] = 999
    with pytest.raises(ValidationError, match="mask_grow"):
        Graph.model_validate(to_graph(bad_value))


def test_examples_use_the_node_as_the_issue_describes():
    product = load(WORKFLOWS / "product_shot_on_colour.json")
    rb = next(n["data"] for n in invocation_nodes(product) if n["data"]["type"] == "remove_background")
    assert rb["inputs"]["background_color"]["value"]["a"] == 255
    assert rb["inputs"]["refine_foreground"]["value"] is True

    inpaint = load(WORKFLOWS / "keep_subject_new_background_sd15.json")
    types = {n["id"]: n["data"]["type"] for n in invocation_nodes(inpaint)}
    assert any(
        types[e["source"]] == "remove_background" and e["sourceHandle"] == "mask"
        and types[e["target"]] == "create_denoise_mask" and e["targetHandle"] == "mask"
        for e in inpaint["edges"]
    )
    assert any(types[e["target"]] == "denoise_latents" and e["targetHandle"] == "denoise_mask" for e in inpaint["edges"])

    crop = load(WORKFLOWS / "crop_to_subject.json")
    types = {n["id"]: n["data"]["type"] for n in invocation_nodes(crop)}
    assert any(
        types[e["source"]] == "remove_background" and e["sourceHandle"] == "bounding_box"
        and types[e["target"]] == "crop_image_to_bounding_box"
        for e in crop["edges"]
    )
