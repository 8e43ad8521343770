"""The node's default outputs for rembg's fixtures stay exactly what they were (tests/harness/pinned.py), and the
nodes' field defaults are the pipeline.Options() defaults those outputs are pinned with."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from invokeai.invocation_api import BaseInvocation, ColorField, ImageField, WithBoard, WithMetadata
from remove_background_node import RefineCutoutInvocation, RemoveBackgroundInvocation, catalog, pipeline
from remove_background_node.invocations import common
from tests.harness import fixtures, pinned, weights


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("photo", fixtures.PHOTOS, ids=lambda p: p.stem)
def test_default_cutout_and_mask_are_pinned_byte_for_byte(photo):
    files = pinned.paths(photo)
    model_mask = Image.open(files["model-mask"])
    result = pipeline.remove_background(Image.open(photo), lambda _: [model_mask])
    assert result.cutout.mode == "RGBA" and result.mask.mode == "L"
    np.testing.assert_array_equal(np.asarray(result.cutout), pixels(files["cutout"]))
    np.testing.assert_array_equal(np.asarray(result.mask), pixels(files["mask"]))


@pytest.fixture(scope="module")
def u2net_predict():
    return weights.cpu_predictor("u2net")


@pytest.mark.parametrize("photo", fixtures.PHOTOS, ids=lambda p: p.stem)
def test_the_real_u2net_still_gives_the_pinned_model_mask(photo, u2net_predict):
    """Up to onnxruntime's kernels: identical on the machine that recorded it, within a level elsewhere."""
    (mask,) = u2net_predict(Image.open(photo).convert("RGB"))
    recorded = pixels(pinned.paths(photo)["model-mask"]).astype(np.int16)
    diff = np.abs(np.asarray(mask, dtype=np.int16) - recorded)
    assert diff.mean() <= 0.1 and (diff <= 1).mean() >= 0.999, (diff.mean(), diff.max())


# The nodes' fields that become pipeline.Options, by name: node field -> Options field (invoke() and common.mask_options).
REMOVE_BACKGROUND_OPTIONS = {
    "alpha_matting": "alpha_matting",
    "alpha_matting_foreground_threshold": "alpha_matting_foreground_threshold",
    "alpha_matting_background_threshold": "alpha_matting_background_threshold",
    "alpha_matting_erode_size": "alpha_matting_erode_size",
    "post_process_mask": "post_process_mask",
    "mask_threshold": "mask_threshold",
    "mask_grow": "mask_grow",
    "mask_feather": "mask_feather",
    "invert": "invert",
    "background_color": "background_color",
    "refine_foreground": "refine_foreground",
    "bounding_boxes": "regions",
}
REFINE_CUTOUT_OPTIONS = {  # Refine Cutout always mattes (alpha_matting=True); these fields set the rest
    "foreground_threshold": "alpha_matting_foreground_threshold",
    "background_threshold": "alpha_matting_background_threshold",
    "erode_size": "alpha_matting_erode_size",
    "refine_foreground": "refine_foreground",
    "background_color": "background_color",
}
BASE_FIELDS = {*BaseInvocation.model_fields, *WithMetadata.model_fields, *WithBoard.model_fields, "type"}


def as_option(value):
    """A node field's value -> the value Options holds for it (a ColorField as its RGBA tuple)."""
    return value.tuple() if isinstance(value, ColorField) else value


def test_remove_background_nodes_defaults_are_the_pinned_options():
    """A Remove Background node left at its defaults runs the pipeline's default Options(), the ones pinned above."""
    node = RemoveBackgroundInvocation(id="rb", image=ImageField(image_name="any.png"))
    defaults = pipeline.Options()
    assert set(REMOVE_BACKGROUND_OPTIONS.values()) == {f.name for f in dataclasses.fields(pipeline.Options)}
    assert set(type(node).model_fields) == BASE_FIELDS | {"image", "model", "cloth_category", "device"} | set(REMOVE_BACKGROUND_OPTIONS), (
        "a new field: map it to its Options field above, or name it as one that is not an option"
    )
    for field, option in REMOVE_BACKGROUND_OPTIONS.items():
        assert as_option(getattr(node, field)) == getattr(defaults, option), (field, option)
    assert dataclasses.replace(defaults, **common.mask_options(node)) == defaults
    assert node.model == catalog.DEFAULT_MODEL == "u2net", "the pinned model masks are u2net's"


def test_refine_cutouts_defaults_are_the_pipelines():
    node = RefineCutoutInvocation(id="rc", image=ImageField(image_name="any.png"), mask=ImageField(image_name="mask.png"))
    defaults = pipeline.Options()
    assert set(type(node).model_fields) == BASE_FIELDS | {"image", "mask", "trimap"} | set(REFINE_CUTOUT_OPTIONS), (
        "a new field: map it to its Options field above, or name it as one that is not an option"
    )
    for field, option in REFINE_CUTOUT_OPTIONS.items():
        assert as_option(getattr(node, field)) == getattr(defaults, option), (field, option)
