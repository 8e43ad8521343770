"""Every mode InvokeAI can store becomes 8-bit RGB plus the input's own alpha."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node.image_modes import split_rgb_alpha


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((3, 1), 1)
    img.info["transparency"] = 0
    return img


@pytest.mark.parametrize(
    "image, alpha_expected",
    [
        (Image.new("RGB", (3, 2), (10, 20, 30)), None),
        (Image.new("RGBA", (3, 2), (10, 20, 30, 77)), 77),
        (Image.new("L", (3, 2), 99), None),
        (Image.new("LA", (3, 2), (99, 5)), 5),
        (Image.new("1", (3, 2), 1), None),
        (Image.new("CMYK", (3, 2), (0, 0, 0, 0)), None),
        (Image.new("I;16", (3, 2), 65535), None),
        (Image.new("I", (3, 2), 70000), None),
        (Image.new("F", (3, 2), 0.5), None),
    ],
)
def test_modes(image, alpha_expected):
    rgb, alpha = split_rgb_alpha(image)
    assert rgb.mode == "RGB" and rgb.size == image.size
    if alpha_expected is None:
        assert alpha is None
    else:
        assert alpha.dtype == np.uint8 and (alpha == alpha_expected).all()


def test_sixteen_bit_grey_is_scaled_not_clipped():
    img = Image.new("I;16", (3, 1))
    img.putdata([0, 32768, 65535])
    rgb, _ = split_rgb_alpha(img)
    assert [p[0] for p in rgb.getdata()] == [0, 128, 255]


def test_palette_transparency_becomes_alpha():
    rgb, alpha = split_rgb_alpha(_palette_with_transparency())
    assert alpha is not None and alpha[1, 3] == 255 and alpha[0, 0] == 0
    assert rgb.getpixel((3, 1)) == (0, 0, 255)
