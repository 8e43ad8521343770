"""The node inside a real headless invokeai-web, driven over REST the way the UI and API clients do."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog
from tests.harness import fixtures
from tests.harness.reference import check_matches_rembg

OLD_NODE_FIELDS = {
    "alpha_matting": True,
    "alpha_matting_foreground_threshold": 240,
    "alpha_matting_background_threshold": 10,
    "alpha_matting_erode_size": 10,
    "post_process_mask": True,
}


def test_node_pack_is_registered(server):
    schema = server.http.get(server.url + "/openapi.json", timeout=60).json()["components"]["schemas"]
    node = schema["RemoveBackgroundInvocation"]
    assert node["node_pack"] == "remove_background_node"
    assert node["version"].split(".")[0] == "1"
    assert node["properties"]["model"]["default"] == "u2net"
    assert {"u2net", "u2netp", "birefnet-massive", "isnet-anime"} <= set(node["properties"]["model"]["enum"])
    assert set(schema["RemoveBackgroundOutput"]["properties"]) >= {"image", "mask", "width", "height"}


@pytest.mark.parametrize("model", [None, "u2netp"], ids=["defaults-u2net", "u2netp"])
def test_reproduces_rembgs_expected_result_through_the_server(server, model):
    """The node as a user leaves it (no model chosen: u2net), and with u2netp, against rembg's expected files."""
    source = Image.open(fixtures.ANIME)
    name = server.upload(fixtures.ANIME)
    node = {"type": "remove_background", "image": {"image_name": name}}
    if model:
        node["model"] = model
    item = server.run({"rb": node})
    assert item["status"] == "completed", item.get("error_traceback")
    out = server.output(item, "rb")

    cutout, mask = server.image(out["image"]["image_name"]), server.image(out["mask"]["image_name"])
    check_matches_rembg(cutout, mask, source, Image.open(fixtures.expected(model or catalog.DEFAULT_MODEL)))
    assert (out["width"], out["height"]) == source.size
    assert server.dto(out["mask"]["image_name"])["image_category"] == "mask"
    assert server.dto(out["image"]["image_name"])["image_category"] == "general"


@pytest.mark.invokeai("5.6.0", feature="alpha in Paste Image")
def test_old_node_field_set_runs_and_chains_into_core_paste(server, rembg_fixtures):
    """A node saved by the older community node (same type, its exact fields, matting and
    post-processing on) runs unchanged; its cutout pasted over blank green stays green where alpha is 0."""
    name = server.upload(rembg_fixtures / "anime-girl-1.jpg")
    green = {"r": 0, "g": 255, "b": 0, "a": 255}
    item = server.run(
        {
            "rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp", **OLD_NODE_FIELDS},
            "bg": {"type": "blank_image", "mode": "RGB", "color": green},
            "paste": {"type": "img_paste", "crop": True},
        },
        [
            ("rb", "width", "bg", "width"),
            ("rb", "height", "bg", "height"),
            ("bg", "image", "paste", "base_image"),
            ("rb", "image", "paste", "image"),
        ],
    )
    assert item["status"] == "completed", item.get("error_traceback")
    out = server.output(item, "rb")
    alpha = np.asarray(server.image(out["image"]["image_name"]).getchannel("A"))
    pasted = np.asarray(server.image(server.output(item, "paste")["image"]["image_name"]).convert("RGB"))
    assert pasted.shape[:2] == alpha.shape
    transparent = alpha == 0
    assert transparent.mean() > 0.2, "the picture has a large background"
    assert (pasted[transparent] == [0, 255, 0]).all()
    assert (alpha == 255).mean() > 0.05, "the subject survives matting and post-processing"
