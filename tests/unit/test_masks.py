"""The mask controls as pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node import masks
from tests.harness.scenes import disc

def radii(mask: np.ndarray, level: int = 128, angles: int = 72) -> np.ndarray:
    """How far from the centre the mask stays >= level, along evenly spaced rays."""
    c = mask.shape[0] // 2
    out = []
    for a in np.linspace(0, 2 * np.pi, angles, endpoint=False):
        t = 0
        while True:
            y, x = int(round(c + np.sin(a) * (t + 1))), int(round(c + np.cos(a) * (t + 1)))
            if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]) or mask[y, x] < level:
                break
            t += 1
        out.append(t)
    return np.array(out)


# threshold


def test_threshold_zero_keeps_the_soft_mask():
    m = disc(64, 20, soft=6)
    assert masks.threshold(m, 0) is m


def test_threshold_makes_a_hard_mask_at_the_level():
    m = np.array([[0, 1, 127, 128, 200, 255]], dtype=np.uint8)
    assert masks.threshold(m, 128).tolist() == [[0, 0, 0, 255, 255, 255]]
    assert masks.threshold(m, 1).tolist() == [[0, 255, 255, 255, 255, 255]]
    assert masks.threshold(m, 255).tolist() == [[0, 0, 0, 0, 0, 255]]


def test_is_hard():
    assert masks.is_hard(np.array([[0, 255]], dtype=np.uint8))
    assert not masks.is_hard(np.array([[0, 254]], dtype=np.uint8))


# grow


def test_grow_zero_is_identity():
    m = disc(64, 20, soft=4)
    assert masks.grow(m, 0) is m


@pytest.mark.parametrize("r", [1, 5, 12, 40])
def test_grow_hard_point_makes_a_euclidean_disc(r):
    m = np.zeros((101, 101), np.uint8)
    m[50, 50] = 255
    out = masks.grow(m, r)
    yy, xx = np.nonzero(out)
    assert np.hypot(yy - 50, xx - 50).max() <= r  # nothing beyond the radius
    expected = disc(101, r)
    assert (out == expected).all()  # exactly the pixels within the radius


def test_shrink_hard_disc_by_ten():
    out = masks.grow(disc(201, 60), -10)
    assert masks.is_hard(out)
    assert np.abs(radii(out) - 50).max() <= 1


def test_shrink_does_not_eat_the_subject_at_the_image_border():
    m = np.full((40, 40), 255, np.uint8)
    m[:, :5] = 0
    out = masks.grow(m, -3)
    assert (out[:, 8:] == 255).all(), "the top, bottom and right borders are not background"
    assert (out[:, :8] == 0).all()
    soft = m.copy()
    soft[:, 5] = 128
    assert (masks.grow(soft, -3)[:, 9:] == 255).all()


def test_grow_empty_and_full_masks():
    assert not masks.grow(np.zeros((20, 20), np.uint8), 5).any()
    assert (masks.grow(np.full((20, 20), 255, np.uint8), -5) == 255).all()


@pytest.mark.parametrize("r", [3, 8, 20, 45])
def test_grow_soft_moves_the_edge_out_and_keeps_it_soft(r):
    m = disc(301, 80, soft=6)
    out = masks.grow(m, r)
    assert not masks.is_hard(out), "a soft edge stays soft"
    grown = radii(out)
    # steps of at most 8 px compose to a disc: round within 3 % (plus a pixel of rounding per ray)
    assert np.abs(grown - (radii(m) + r)).max() <= 2 + 0.03 * r
    soft_before = ((m > 0) & (m < 255)).sum() / radii(m).mean()
    soft_after = ((out > 0) & (out < 255)).sum() / grown.mean()
    assert soft_after == pytest.approx(soft_before, rel=0.2), "the soft band keeps its width"
    assert (out >= m).all(), "growing never removes anything"


def test_shrink_soft_mirrors_grow():
    m = disc(301, 80, soft=6)
    out = masks.grow(m, -20)
    assert np.abs(radii(out) - (radii(m) - 20)).max() <= 2
    assert (out <= m).all()
    assert not masks.is_hard(out)


@pytest.mark.parametrize("seed", range(4))
def test_grow_on_the_subjects_box_equals_growing_the_whole_mask(seed):
    rng = np.random.default_rng(seed)
    for case in range(150):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):  # blobs anywhere, the image's borders included
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            y1, x1 = min(h, y0 + int(rng.integers(1, 30))), min(w, x0 + int(rng.integers(1, 30)))
            shape = (y1 - y0, x1 - x0)
            m[y0:y1, x0:x1] = rng.integers(0, 256, shape) if case % 2 else 255 * rng.integers(0, 2, shape)
        pixels = int(rng.integers(-256, 257)) if case % 5 == 0 else int(rng.integers(-20, 21)) or 1
        expected = masks._grow_whole(m, pixels)
        assert np.array_equal(masks.grow(m, pixels), expected), (case, m.shape, pixels)


def test_grow_hard_counts_pixels_exactly_the_radius_away():
    # OpenCV's float distances put some of them a hair over the radius, depending on the mask's size
    for size in (13, 37, 64, 301, 1001):
        m = np.zeros((size, size), np.uint8)
        m[size // 2, 0] = 255
        out = masks.grow(m, 5)
        assert out[size // 2 + 3, 4] == 255 and out[size // 2 + 5, 0] == 255  # 3-4-5 and straight down
        assert out[size // 2 + 4, 4] == 0  # sqrt(32) > 5


def test_grow_handles_the_largest_radius_on_a_large_mask():
    m = disc(1024, 200, soft=4)
    out = masks.grow(m, 256)
    assert np.abs(radii(out, angles=16) - (radii(m, angles=16) + 256)).max() <= 2 + 0.03 * 256
    assert not masks.grow(m, -256).any()


# feather


def test_feather_zero_is_identity():
    m = disc(64, 20)
    assert masks.feather(m, 0) is m


@pytest.mark.parametrize("pixels", [2.0, 6.0, 20.0, 100.0])
def test_feather_width_matches_pixels(pixels):
    m = np.zeros((8, 1200), np.uint8)
    m[:, 600:] = 255
    row = masks.feather(m, pixels)[4].astype(float)
    x16, x84 = np.argmax(row >= 0.1587 * 255), np.argmax(row >= 0.8413 * 255)
    # a Gaussian's 16 %..84 % span is two sigmas; sigma is pixels / 2
    assert abs((x84 - x16) - pixels) <= max(1.0, 0.1 * pixels)
    assert abs(np.argmax(row >= 127.5) - 600) <= 1, "the edge stays where it was"
    assert row[0] == 0 and row[-1] == 255


@pytest.mark.parametrize("pixels", [1.0, 2.0, 6.0, 13.0, 50.0, 256.0])
def test_feather_boxes_add_up_to_the_wanted_blur(pixels):
    widths = masks.feather_boxes(pixels, 4000)
    assert len(widths) == masks.FEATHER_PASSES and all(w % 2 == 1 for w in widths)
    sigma = np.sqrt(sum((w * w - 1) / 12 for w in widths))
    assert abs(sigma - pixels / 2) <= 0.5


def test_feather_boxes_stay_within_half_the_mask():
    assert max(masks.feather_boxes(256.0, 64)) <= 32
    assert all(w % 2 == 1 for w in masks.feather_boxes(256.0, 64))


@pytest.mark.parametrize(("size", "pixels"), [(64, 256.0), (256, 128.0), (40, 30.0), (300, 256.0), (17, 5.0)])
def test_a_feather_wider_than_the_picture_keeps_the_subject(size, pixels):
    """Its total opacity (the mean) stays put, and the subject stays the most opaque part."""
    m = np.zeros((size, size), np.uint8)
    m[size // 4 : size // 2, size // 3 : 3 * size // 4] = 255
    m[0, 0] = 255  # and at the border: mirrored, not lost
    feathered = masks.feather(m, pixels)
    assert abs(feathered.mean() - m.mean()) <= 0.05 * m.mean(), (m.mean(), feathered.mean())
    subject = m == 255
    assert feathered[subject].mean() > feathered[~subject].mean()
    centre = (size // 4 + size // 2) // 2, (size // 3 + 3 * size // 4) // 2
    assert feathered[centre] >= np.percentile(feathered, 90)


@pytest.mark.parametrize(("height", "width", "side", "pixels"), [(37, 300, 3, 128.0), (64, 64, 2, 256.0), (256, 256, 4, 128.0)])
def test_a_wide_feather_keeps_a_small_subject_that_spreads_below_one_level(height, width, side, pixels):
    """A few subject pixels spread over the picture are a field of fractions of a level: plain rounding lost 62-100 %
    of them (all of the 4x4 square in 256x256); the total stays, and the subject's place stays the most opaque."""
    m = np.zeros((height, width), np.uint8)
    top, left = height // 2 - side // 2, width // 2 - side // 2
    m[top : top + side, left : left + side] = 255
    feathered = masks.feather(m, pixels)
    assert abs(int(feathered.sum(dtype=np.int64)) - int(m.sum(dtype=np.int64))) <= 1
    assert feathered[height // 2, width // 2] == feathered.max() > 0
    assert feathered.max() <= 2, "each pixel stays within a level of its blurred value"


# invert, bounding box


def test_invert_is_its_own_inverse():
    m = disc(64, 20, soft=4)
    assert (masks.invert(m) == 255 - m).all()
    assert (masks.invert(masks.invert(m)) == m).all()


def test_bounding_box_follows_the_grown_mask():
    m = np.zeros((100, 100), np.uint8)
    m[40:50, 30:60] = 255
    assert masks.bounding_box(m) == (30, 40, 60, 50)
    assert masks.bounding_box(masks.grow(m, 5)) == (25, 35, 65, 55)
    assert masks.bounding_box(np.zeros((5, 5), np.uint8)) is None


def test_the_bounding_box_leaves_out_what_no_one_can_see():
    m = np.zeros((100, 200), np.uint8)
    m[40:60, 80:120] = 255
    m[0, 0] = masks.VISIBLE - 1  # a faint speck far away
    m[99, 199] = 3
    assert masks.bounding_box(m) == (80, 40, 120, 60)
    m[10, 10] = masks.VISIBLE  # faint but visible counts
    assert masks.bounding_box(m) == (10, 10, 120, 60)
    assert masks.bounding_box(np.full((4, 4), masks.VISIBLE - 1, np.uint8)) is None


@pytest.mark.parametrize(("height", "width", "pixels"), [(64, 300, 256.0), (300, 40, 128.0), (48, 640, 64.0)])
@pytest.mark.parametrize("place", ["middle", "along an edge"])
def test_a_wide_feather_keeps_the_subject_of_a_long_picture(height, width, pixels, place):
    """Pictures much longer one way than the other, the subject in the middle or lying along the border."""
    m = np.zeros((height, width), np.uint8)
    if place == "middle":
        m[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 255
    else:
        m[: max(2, height // 5), :] = 255  # a band along the top edge, the whole width
    feathered = masks.feather(m, pixels)
    assert abs(feathered.mean() - m.mean()) <= 0.05 * m.mean(), (m.mean(), feathered.mean())
    subject = m == 255
    assert feathered[subject].mean() > feathered[~subject].mean()


def test_a_mask_painted_on_a_transparent_layer_is_its_strokes_over_black():
    """A canvas layer: white and grey strokes on transparent pixels that hide white; unpainted is background."""
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = 255  # transparent pixels whose hidden colour is white
    rgba[1, 1] = (255, 255, 255, 255)  # an opaque white stroke: subject
    rgba[2, 2] = (128, 128, 128, 255)  # grey: unknown in a trimap
    rgba[3, 3] = (255, 255, 255, 128)  # a stroke's soft edge
    array = masks.to_array(Image.fromarray(rgba, "RGBA"))
    assert array[1, 1] == 255 and array[2, 2] == 128 and array[3, 3] == 128 and array[0, 0] == 0
    assert (masks.to_array(Image.fromarray(rgba[..., :3], "RGB"))[0] == 255).all(), "no alpha: the colour itself"


def test_a_sixteen_bit_mask_or_trimap_keeps_its_levels():
    """InvokeAI stores a 16-bit grey upload as I;16: its levels are scaled to 8 bits, not clipped to 255."""
    levels = np.array([[0, 10, 64, 128, 200, 255]], np.uint8)
    wide = Image.fromarray(levels.astype(np.uint16) * 257)  # 0..65535, mode I;16
    assert wide.mode == "I;16"
    assert (masks.to_array(wide) == levels).all()
    assert (masks.to_array(wide.convert("I")) == levels).all()
