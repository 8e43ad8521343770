"""Odd inputs and bad parameters through a real headless InvokeAI: nothing breaks the workflow or the host."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def _palette_with_transparency() -> Image.Image:
    img = Image.new("RGB", (64, 48), (200, 40, 40)).quantize(4)
    img.info["transparency"] = 0  # palette entry 0 (the only colour) is transparent
    return img


def _half_transparent() -> Image.Image:
    rgba = np.zeros((80, 120, 4), np.uint8)
    rgba[..., :3] = (30, 160, 220)
    rgba[:, 40:80, :3] = (250, 250, 250)
    rgba[:, :60, 3] = 255  # the right half is fully transparent
    return Image.fromarray(rgba)


def _sixteen_bit() -> Image.Image:
    img = Image.new("I;16", (60, 40))
    img.putdata([(x * 1000) % 65536 for x in range(60 * 40)])
    return img


ODD = {
    "palette-transparency": _palette_with_transparency,
    "LA": lambda: Image.new("LA", (50, 30), (128, 200)),
    "16-bit-grey": _sixteen_bit,
    "1x1": lambda: Image.new("RGB", (1, 1), (255, 0, 0)),
    "3000x1": lambda: Image.new("RGB", (3000, 1), (0, 128, 0)),
    "all-black": lambda: Image.new("RGB", (64, 64), (0, 0, 0)),
    "half-transparent-RGBA": _half_transparent,
}


@pytest.mark.parametrize("kind", ODD)
def test_odd_but_valid_images_complete(server, kind):
    source = ODD[kind]()
    name = server.upload(source)
    stored = server.image(name)  # what InvokeAI kept after the upload, in its own mode
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp"}})
    assert item["status"] == "completed", item.get("error_traceback")
    out = server.output(item, "rb")
    cutout, mask = server.image(out["image"]["image_name"]), server.image(out["mask"]["image_name"])
    assert cutout.mode == "RGBA" and mask.mode == "L"
    assert cutout.size == mask.size == source.size == (out["width"], out["height"])
    alpha = np.asarray(cutout.getchannel("A"))
    assert np.array_equal(alpha, np.asarray(mask))
    if stored.mode in {"RGBA", "LA", "PA"} or "transparency" in stored.info:
        own_alpha = np.asarray(stored.convert("RGBA").getchannel("A"))
        assert (alpha[own_alpha == 0] == 0).all(), "what was transparent stays transparent"
    if kind == "half-transparent-RGBA":
        assert (alpha[:, 60:] == 0).all() and not np.asarray(cutout)[:, 60:, :3].any()


@pytest.mark.parametrize(
    "field, value",
    [
        ("model", "sam"),
        ("alpha_matting_foreground_threshold", 300),
        ("alpha_matting_background_threshold", -1),
        ("alpha_matting_erode_size", -1),
        ("mask_grow", 100000),
        ("mask_feather", 100000),
        ("device", "gpu"),
    ],
)
def test_bad_parameters_are_refused_at_enqueue(server, field, value):
    r = server.enqueue({"rb": {"type": "remove_background", "image": {"image_name": "x.png"}, field: value}})
    assert r.status_code == 422, r.text[:500]
    assert field in r.text


def test_missing_image_fails_cleanly_and_the_next_run_succeeds(server):
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": "no-such-image.png"}, "model": "u2netp"}})
    assert item["status"] == "failed"
    assert "no-such-image.png" in (item.get("error_message") or "") + (item.get("error_traceback") or "")
    name = server.upload(Image.new("RGB", (32, 32), (10, 200, 10)))
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp"}})
    assert item["status"] == "completed", item.get("error_traceback")


@pytest.mark.parametrize(("foreground", "background"), [(0, 255), (100, 100), (10, 240)])
@pytest.mark.parametrize("node", [
    pytest.param({"type": "remove_background", "image": {"image_name": "x.png"}}, id="image"),
    pytest.param({"type": "remove_background_video", "video": {"video_name": "x.mp4"}},
                 marks=pytest.mark.invokeai("6.14.0", feature="videos"), id="video"),
])
def test_crossed_matting_thresholds_are_refused_at_enqueue_naming_both(server, node, foreground, background):
    r = server.enqueue({"rb": {**node, "alpha_matting": True, "alpha_matting_foreground_threshold": foreground,
                               "alpha_matting_background_threshold": background}})
    assert r.status_code == 422, r.text[:500]
    assert "alpha_matting_foreground_threshold" in r.text and "alpha_matting_background_threshold" in r.text


@pytest.mark.parametrize(("node", "field"), [
    ({"type": "remove_background", "model": "u2netp", "alpha_matting": True}, "alpha_matting_background_threshold"),
    ({"type": "refine_cutout"}, "background_threshold"),
], ids=["remove_background", "refine_cutout"])
def test_a_crossed_threshold_through_an_edge_fails_the_item_and_the_queue_goes_on(server, node, field):
    """A value from another node reaches the node only when the graph runs, past enqueue's check: it is refused there
    and not stored, so InvokeAI can still read its session and the next item runs. InvokeAI's own message names no
    field for a check across two; the traceback it shows beside it holds the node's, naming both."""
    name = server.upload(Image.new("RGB", (64, 48), (30, 160, 220)))
    pictures = {"image": {"image_name": name}} | ({"mask": {"image_name": name}} if node["type"] == "refine_cutout" else {})
    item = server.run({"n": {"type": "integer", "value": 250}, "rb": {**node, **pictures}}, [("n", "value", "rb", field)])
    assert item["status"] == "failed", item["status"]
    assert item["error_type"] == "NodeInputError", item["error_type"]
    assert f"{field} (250) must be below" in item["error_traceback"], item["error_traceback"]
    after = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp"}})
    assert after["status"] == "completed", after.get("error_traceback")


def test_matting_with_no_sure_region_left_says_so_in_the_log_and_on_the_node(server):
    name = server.upload(Image.new("RGB", (64, 48), (30, 160, 220)))
    with server.events() as events:
        item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp",
                                  "alpha_matting": True, "alpha_matting_erode_size": 1024}})
        assert item["status"] == "completed", item.get("error_traceback")
        shown = [m for m, _ in events.progress(item["item_id"]) if m.startswith("Alpha matting skipped")]
    assert shown and "erode size 1024" in shown[0], events.progress(item["item_id"])
    assert any("Alpha matting skipped" in line and "erode size 1024" in line for line in server.log().splitlines())


@pytest.mark.invokeai("5.10.0", feature="sizes for onnxruntime sessions in its model cache")
def test_invokeais_model_cache_counts_the_default_models_session(server):
    """The u2net session lives in InvokeAI's model cache, so its RAM budget sees it."""
    name = server.upload(Image.new("RGB", (64, 48), (200, 40, 40)))
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}}})  # the default, u2net
    assert item["status"] == "completed", item.get("error_traceback")
    stats = server.http.get(server.url + "/api/v2/models/stats", timeout=30).json()
    sizes = {key: size for key, size in stats["loaded_model_sizes"].items() if "u2net.onnx" in key}
    assert sizes and max(sizes.values()) >= 150e6, stats
