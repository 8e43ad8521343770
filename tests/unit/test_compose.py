"""The cutout and compositing over a colour: exact values, and memory in bands of rows."""

from __future__ import annotations

import numpy as np

from remove_background_node import compose
from tests.harness.memory import peak_extra_mb


def test_composite_transparent_colour_is_the_plain_cutout():
    rgb = np.full((4, 4, 3), 200, np.uint8)
    m = np.array([[0, 100, 255, 0]] * 4, np.uint8)
    out = np.asarray(compose.composite(rgb, m, (255, 255, 255, 0)))
    assert (out[..., 3] == m).all()
    assert (out[m == 0, :3] == 0).all() and (out[m > 0, :3] == 200).all()


def test_composite_over_opaque_white():
    rgb = np.full((1, 3, 3), [10, 20, 30], np.uint8)
    m = np.array([[0, 128, 255]], np.uint8)
    out = np.asarray(compose.composite(rgb, m, (255, 255, 255, 255))).astype(int)
    assert (out[..., 3] == 255).all()
    assert out[0, 0, :3].tolist() == [255, 255, 255]
    assert out[0, 2, :3].tolist() == [10, 20, 30]
    a = 128 / 255
    assert np.abs(out[0, 1, :3] - (np.array([10, 20, 30]) * a + 255 * (1 - a))).max() <= 1


def test_composite_over_half_transparent_colour_keeps_straight_alpha():
    rgb = np.full((1, 2, 3), [0, 0, 200], np.uint8)
    m = np.array([[0, 255]], np.uint8)
    out = np.asarray(compose.composite(rgb, m, (255, 0, 0, 128))).astype(int)
    assert out[0, 0].tolist() == [255, 0, 0, 128]  # the colour at its own opacity, not darkened
    assert out[0, 1].tolist() == [0, 0, 200, 255]



def test_composite_in_bands_equals_the_whole_picture_formula():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (700, 90, 3), dtype=np.uint8)  # more rows than one band
    m = rng.integers(0, 256, (700, 90), dtype=np.uint8)
    for color in ((255, 255, 255, 255), (30, 200, 10, 77)):
        a = m.astype(np.float32)[..., None] / 255.0
        ca = color[3] / 255.0
        out_a = a + ca * (1.0 - a)
        out_rgb = (rgb.astype(np.float32) * a + np.float32(color[:3]) * ca * (1.0 - a)) / np.maximum(out_a, 1e-6)
        expected = np.dstack([np.clip(out_rgb + 0.5, 0, 255), np.clip(out_a * 255.0 + 0.5, 0, 255)]).astype(np.uint8)
        np.testing.assert_array_equal(np.asarray(compose.composite(rgb, m, color)), expected)


def test_over_a_colour_needs_no_more_memory_than_the_plain_cutout():
    """The output picture is the same size either way; the float work stays a band of rows."""
    rgb = np.full((3000, 3000, 3), 120, np.uint8)
    m = np.zeros((3000, 3000), np.uint8)
    m[500:2500, 500:2500] = 200
    compose.composite(rgb[:8], m[:8], (0, 0, 0, 255))  # first-call allocations out of the way
    _, plain = peak_extra_mb(lambda: compose.composite(rgb, m, (0, 0, 0, 0)))
    _, over = peak_extra_mb(lambda: compose.composite(rgb, m, (0, 255, 0, 255)))
    assert over <= 1.25 * plain, (plain, over)


def test_a_video_frame_over_an_opaque_colour_is_the_pictures_within_a_level():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    alpha[:, :20], alpha[:, -20:] = 0, 255
    frame = compose.over_opaque_colour(rgb, alpha, (0, 255, 0))
    picture = np.asarray(compose.over_colour(rgb, alpha, (0, 255, 0, 255)))
    assert frame.shape == rgb.shape and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - picture[..., :3]).max() <= 1
    assert (frame[:, :20] == (0, 255, 0)).all() and (frame[:, -20:] == rgb[:, -20:]).all()
