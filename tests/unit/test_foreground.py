"""Edge colours: the old background taken out of semi-transparent pixels, tile by tile."""

from __future__ import annotations

import cv2
import numpy as np

from remove_background_node import foreground
from tests.harness.scenes import disc, edge_error, soft_composite


def test_refine_foreground_takes_the_old_background_out_of_soft_pixels():
    image, fg, alpha = soft_composite()
    before = edge_error(image, fg, alpha)
    refined = foreground.estimate(image, alpha)
    after = edge_error(refined, fg, alpha)
    assert after <= 0.4 * before, (before, after)  # far better than the 40 % the issue asks for
    soft = (alpha > 0) & (alpha < 255)
    assert (refined[~soft] == image[~soft]).all(), "opaque and transparent pixels are left alone"
    assert refined.dtype == np.uint8 and refined.shape == image.shape


def test_refine_foreground_on_a_hard_mask_changes_nothing():
    image, _, _ = soft_composite(64)
    hard = disc(64, 20)
    assert foreground.estimate(image, hard) is image


def test_refine_foreground_in_tiles_equals_the_whole_image_estimate():
    """Tiling (for memory) must not change a pixel: each tile is padded by the blurs' reach."""
    rng = np.random.default_rng(0)
    image = cv2_blur_u8(rng.integers(0, 256, (700, 1100, 3), dtype=np.uint8))
    alpha = disc(1100, 400, soft=30)[200:900, :]
    whole = foreground._blur_fusion_foreground(image, alpha)
    tiled = foreground.estimate(image, alpha)
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 10000
    assert (tiled[soft] == whole[soft]).all()


def cv2_blur_u8(image: np.ndarray) -> np.ndarray:
    """Noise -> smooth colours, so the estimate has structure to get wrong."""
    return cv2.blur(image, (15, 15))
