"""The cutout: foreground colour and final alpha -> RGBA, plain or over a colour, a band of rows at a time."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

ROWS = 64  # rows composited at once: the float temporaries stay a few MB whatever the picture's size


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> Image.Image:
    """HxWx3 RGB and HxW alpha -> RGBA with straight alpha, RGB zeroed where alpha is 0."""
    # one multithreaded OpenCV pass instead of numpy's full-size boolean and product arrays
    rgba = cv2.cvtColor(cv2.copyTo(np.ascontiguousarray(rgb), alpha), cv2.COLOR_RGB2RGBA)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba)  # uint8 HxWx4: mode RGBA


def over_colour(rgb: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int, int]) -> Image.Image:
    """HxWx3 foreground, HxW alpha and an RGBA colour with alpha > 0 -> RGBA of the subject over it ("over" operator).

    Alpha 255 gives an opaque picture; in between, the background stays partly transparent.
    Straight (not premultiplied) colour: the premultiplied sum is divided by the new alpha.
    """
    height, width = alpha.shape
    out = np.empty((height, width, 4), dtype=np.uint8)
    ca = color[3] / 255.0
    c = np.asarray(color[:3], dtype=np.float32)
    for y0 in range(0, height, ROWS):
        y1 = min(height, y0 + ROWS)
        a = alpha[y0:y1].astype(np.float32)[..., None] / 255.0
        out_a = a + ca * (1.0 - a)
        out_rgb = (rgb[y0:y1].astype(np.float32) * a + c * ca * (1.0 - a)) / np.maximum(out_a, 1e-6)
        out[y0:y1, :, :3] = np.clip(out_rgb + 0.5, 0, 255).astype(np.uint8)
        out[y0:y1, :, 3] = np.clip(out_a[..., 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out)  # uint8 HxWx4: mode RGBA


def over_opaque_colour(rgb: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """HxWx3 foreground, HxW alpha and an RGB colour -> HxWx3 uint8 of the subject over that colour (a video frame).

    Over an opaque colour the result is opaque, so no alpha is carried or divided by: one OpenCV blend, about a
    third of over_colour's time on a video frame (the same values within one level of rounding)."""
    weight = alpha.astype(np.float32) * np.float32(1 / 255)
    background = np.empty_like(rgb)
    background[:] = color
    return cv2.blendLinear(np.ascontiguousarray(rgb), background, weight, 1 - weight)


def composite(rgb: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int, int]) -> Image.Image:
    """Foreground, final alpha and the background colour -> the node's image: a cutout when the colour's alpha is 0."""
    return cutout(rgb, alpha) if color[3] == 0 else over_colour(rgb, alpha, color)
