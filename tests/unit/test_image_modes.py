"""Every mode InvokeAI can store becomes 8-bit RGB plus the input's own alpha."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node.image_modes import BAND_ROWS, pixels, split_rgb_alpha


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


@pytest.mark.parametrize("mode", ["RGBa", "La"])
def test_premultiplied_alpha_is_unpremultiplied(mode):
    """PIL's premultiplied modes (a library caller's, not InvokeAI's): the colour comes back, the alpha is kept."""
    straight = Image.new("RGBA", (3, 2), (200, 200, 200, 128)) if mode == "RGBa" else Image.new("LA", (3, 2), (200, 128))
    image = straight.convert(mode)
    assert image.mode == mode
    rgb, alpha = split_rgb_alpha(image)
    assert alpha is not None and (alpha == 128).all()
    assert abs(rgb.getpixel((0, 0))[0] - 200) <= 2


def test_sixteen_bit_grey_is_scaled_not_clipped():
    img = Image.new("I;16", (3, 1))
    img.putdata([0, 32768, 65535])
    rgb, _ = split_rgb_alpha(img)
    assert [p[0] for p in rgb.getdata()] == [0, 128, 255]


def test_palette_transparency_becomes_alpha():
    rgb, alpha = split_rgb_alpha(_palette_with_transparency())
    assert alpha is not None and alpha[1, 3] == 255 and alpha[0, 0] == 0
    assert rgb.getpixel((3, 1)) == (0, 0, 255)


@pytest.mark.parametrize("mode, channels", [("RGB", 3), ("L", 1)])
def test_pixels_read_in_bands_equal_numpys_copy_and_can_be_written(mode: str, channels: int) -> None:
    rng = np.random.default_rng(7)
    shape = (2 * BAND_ROWS + 5, 37) + ((channels,) if channels > 1 else ())  # the last band is a short one
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    assert image.mode == mode
    got = pixels(image)
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, np.asarray(image))
    got[0, 0] = 0  # a new array of the pack's own, not a view of PIL's bytes
