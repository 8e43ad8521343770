"""The soft pixels' colours, taken out and put back (the edge colours a re-tweak reuses)."""

from __future__ import annotations

import numpy as np
import pytest

from remove_background_node.foreground import soft_colours
from remove_background_node import workers


@pytest.mark.parametrize("height", [1, 7, 8 * workers.WORKERS + 3, 301])
def test_put_gives_each_soft_pixel_its_own_colour_back_and_leaves_the_rest(height):
    rng = np.random.default_rng(height)
    alpha = rng.choice(np.array([0, 1, 128, 254, 255], np.uint8), size=(height, 53))
    estimated = rng.integers(0, 256, (height, 53, 3), dtype=np.uint8)
    colours = soft_colours.take(estimated, alpha)
    soft = (alpha > 0) & (alpha < 255)
    assert colours.shape == (int(soft.sum()), 3)

    picture = rng.integers(0, 256, (height, 53, 3), dtype=np.uint8)
    expected = picture.copy()
    expected[soft] = estimated[soft]
    soft_colours.put(picture, alpha, colours)
    np.testing.assert_array_equal(picture, expected)


def test_put_refuses_colours_taken_with_another_alpha():
    alpha = np.array([[0, 128, 255, 7]], np.uint8)
    picture = np.zeros((1, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="3 colours for 2 soft pixels"):
        soft_colours.put(picture, alpha, np.zeros((3, 3), np.uint8))
    assert not picture.any()
