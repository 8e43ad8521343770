"""Comparisons with rembg's expected results, shared by the invoke and e2e tests."""

from __future__ import annotations

import io

import imagehash
import numpy as np
from PIL import Image


def as_rembg_stores_it(cutout: Image.Image) -> Image.Image:
    """Our straight-alpha cutout -> the same cutout stored the way rembg's naive_cutout stores it
    (RGB multiplied by alpha), so rembg's expected file can be compared pixel for pixel in meaning."""
    rgba = cutout.convert("RGBA")
    return Image.composite(rgba.convert("RGB"), Image.new("RGBA", rgba.size, 0), rgba.getchannel("A"))


def phash_of_png(image: Image.Image) -> imagehash.ImageHash:
    """An image -> imagehash.phash of it saved as PNG and read back, as rembg's own test does."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    buf.seek(0)
    return imagehash.phash(Image.open(buf))


def alpha_mad(a: Image.Image, b: Image.Image) -> float:
    """Two RGBA images -> mean absolute difference of their alpha channels, in 0..255 units."""
    return float(np.abs(np.asarray(a.getchannel("A"), np.int16) - np.asarray(b.getchannel("A"), np.int16)).mean())


def check_matches_rembg(cutout: Image.Image, mask: Image.Image, source: Image.Image, expected: Image.Image) -> None:
    """Assert a cutout/mask pair reproduces rembg's expected result (same phash once stored as rembg stores it,
    alpha within 1/255 on average) and keeps straight colour."""
    assert cutout.mode == "RGBA" and mask.mode == "L"
    assert cutout.size == mask.size == source.size == expected.size
    assert phash_of_png(as_rembg_stores_it(cutout)) == phash_of_png(expected)
    assert alpha_mad(cutout, expected) <= 1.0
    alpha = np.asarray(cutout.getchannel("A"))
    assert np.array_equal(alpha, np.asarray(mask)), "the mask is the cutout's alpha"
    rgb = np.asarray(cutout.convert("RGB"))
    src = np.asarray(source.convert("RGB"))
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 100, "the model gives this picture soft edges"
    # straight alpha: soft edges keep the picture's own colour instead of rembg's darkened one
    assert np.array_equal(rgb[alpha > 0], src[alpha > 0])
    # nothing of the old background hides under fully transparent pixels
    assert not rgb[alpha == 0].any()
