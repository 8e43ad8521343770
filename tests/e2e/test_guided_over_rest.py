"""Guided cut-outs through a real headless InvokeAI: a literal box as GroundingDINO would give it, an uploaded
mask as Segment Anything would give it (the DINO and SAM weights cannot be downloaded here), and a re-run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.harness import fixtures, scenes


@pytest.fixture(scope="module")
def anime_matte() -> np.ndarray:
    return scenes.anime_matte()


def error(server, name: str, truth: np.ndarray) -> float:
    return scenes.alpha_error(server.image(name).convert("L"), truth)


def test_a_box_around_a_small_subject_in_a_large_photograph(server, anime_matte):
    rgb, truth, (x0, y0, x1, y1) = scenes.subject_over_photo(
        Image.open(fixtures.ANIME), anime_matte, Image.open(fixtures.REMBG / "cloth-1.jpg"), (3000, 2000), (425, 300), (300, 1500)
    )
    name = server.upload(Image.fromarray(rgb))
    box = {"x_min": x0 - 20, "y_min": y0 - 20, "x_max": x1 + 20, "y_max": y1 + 20, "score": 0.9}
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "bounding_boxes": [box]}})
    assert item["status"] == "completed", item.get("error_traceback")
    out = server.output(item, "rb")
    assert error(server, out["mask"]["image_name"], truth) <= 2.0
    b = out["bounding_box"]
    assert x0 - 20 <= b["x_min"] and b["x_max"] <= x1 + 20 and y0 - 20 <= b["y_min"] and b["y_max"] <= y1 + 20


@pytest.fixture(scope="module")
def photo_scene(anime_matte):
    return scenes.subject_over_photo(
        Image.open(fixtures.ANIME), anime_matte, Image.open(fixtures.REMBG / "cloth-1.jpg"), (1100, 1000), (850, 601), (150, 300)
    )


def refine(server, rgb: np.ndarray, mask: np.ndarray, trimap: np.ndarray | None = None, **fields) -> dict:
    node = {"type": "refine_cutout", "image": {"image_name": server.upload(Image.fromarray(rgb))},
            "mask": {"image_name": server.upload(Image.fromarray(mask), "mask.png")}, **fields}
    if trimap is not None:
        node["trimap"] = {"image_name": server.upload(Image.fromarray(trimap), "trimap.png")}
    item = server.run({"rc": node})
    assert item["status"] == "completed", item.get("error_traceback")
    return server.output(item, "rc")


def test_refine_cutout_halves_the_error_of_a_hard_mask_with_slack(server, photo_scene):
    rgb, truth, _ = photo_scene
    slack = scenes.hard_mask(truth, 4)
    out = refine(server, rgb, slack, erode_size=15)
    own = scenes.alpha_error(slack, truth)
    assert error(server, out["mask"]["image_name"], truth) <= 0.5 * own
    cutout = server.image(out["image"]["image_name"])
    assert cutout.mode == "RGBA" and cutout.size == (out["width"], out["height"]) == (1100, 1000)


def test_refine_cutout_from_a_trimap(server, photo_scene):
    rgb, truth, _ = photo_scene
    tri = np.full(truth.shape, 128, np.uint8)
    tri[cv2.erode((truth == 255).view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 255
    tri[cv2.erode((truth == 0).view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
    out = refine(server, rgb, np.where(truth >= 128, 255, 0).astype(np.uint8), tri)
    assert error(server, out["mask"]["image_name"], truth) <= 1.0


def test_refine_cutout_refuses_crossed_thresholds(server):
    r = server.enqueue({"rc": {"type": "refine_cutout", "image": {"image_name": "x.png"}, "mask": {"image_name": "m.png"},
                               "foreground_threshold": 20, "background_threshold": 30}})
    assert r.status_code == 422 and "foreground_threshold" in r.text and "background_threshold" in r.text


def test_a_rerun_with_only_the_grow_changed_skips_the_model_and_matting(server):
    rgb, _ = scenes.composite(2048)
    name = server.upload(Image.fromarray(rgb))
    node = {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp", "alpha_matting": True}
    with server.events() as events:
        first = server.run({"rb": node})
        again = server.run({"rb": {**node, "mask_grow": 8}})
        assert first["status"] == again["status"] == "completed", again.get("error_traceback")
        messages = [m for m, _ in events.progress(again["item_id"])]
    assert "Finding the subject" not in messages and "Alpha matting" not in messages, messages
    assert "Finding the subject" in [m for m, _ in events.progress(first["item_id"])]
    from remove_background_node import masks

    matte = np.asarray(server.image(server.output(first, "rb")["mask"]["image_name"]))
    grown = np.asarray(server.image(server.output(again, "rb")["mask"]["image_name"]))
    np.testing.assert_array_equal(grown, masks.grow(matte, 8))
