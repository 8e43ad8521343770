"""The node's default outputs for rembg's fixtures stay exactly what they were (tests/harness/pinned.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog, pipeline
from remove_background_node.inference import predictor
from remove_background_node.sessions import create_rembg_session
from tests.harness import fixtures, pinned


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
def u2net_predict(u2net_file):
    return predictor(create_rembg_session(catalog.get("u2net"), u2net_file, ["CPUExecutionProvider"]))


@pytest.mark.parametrize("photo", fixtures.PHOTOS, ids=lambda p: p.stem)
def test_the_real_u2net_still_gives_the_pinned_model_mask(photo, u2net_predict):
    """Up to onnxruntime's kernels: identical on the machine that recorded it, within a level elsewhere."""
    (mask,) = u2net_predict(Image.open(photo).convert("RGB"))
    recorded = pixels(pinned.paths(photo)["model-mask"]).astype(np.int16)
    diff = np.abs(np.asarray(mask, dtype=np.int16) - recorded)
    assert diff.mean() <= 0.1 and (diff <= 1).mean() >= 0.999, (diff.mean(), diff.max())
