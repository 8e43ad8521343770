"""The cutout: foreground colour and final alpha -> RGBA, plain or over a colour, straight into the output."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from . import workers
from .kernels import kernel, readonly


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> Image.Image:
    """HxWx3 RGB and HxW alpha -> RGBA with straight alpha, RGB zeroed where alpha is 0."""
    # One pass into the one array InvokeAI keeps, no full-size temporaries: on a VM, memory the process has not
    # touched lately can cost ~10 ms/MB to fault in, and a re-tweak's time is mostly that and the PNG save.
    rgb, alpha = np.ascontiguousarray(rgb), np.ascontiguousarray(alpha)
    rgba = np.empty(alpha.shape + (4,), np.uint8)
    workers.in_bands(alpha.shape[0], lambda band: _cutout(rgb[band], alpha[band], rgba[band]))
    return Image.fromarray(rgba)  # uint8 HxWx4: mode RGBA


@kernel(f"void({readonly('uint8', 3)}, {readonly('uint8', 2)}, uint8[:, :, ::1])")
def _cutout(rgb: np.ndarray, alpha: np.ndarray, out: np.ndarray) -> None:
    """HxWx3 RGB, HxW alpha, HxWx4 out -> out holds RGBA, RGB zeroed where alpha is 0."""
    for y in range(alpha.shape[0]):
        for x in range(alpha.shape[1]):
            a = alpha[y, x]
            if a:
                out[y, x, 0] = rgb[y, x, 0]
                out[y, x, 1] = rgb[y, x, 1]
                out[y, x, 2] = rgb[y, x, 2]
            else:
                out[y, x, 0] = 0
                out[y, x, 1] = 0
                out[y, x, 2] = 0
            out[y, x, 3] = a


def over_colour(rgb: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int, int]) -> Image.Image:
    """HxWx3 foreground, HxW alpha and an RGBA colour with alpha > 0 -> RGBA of the subject over it ("over" operator).

    Alpha 255 gives an opaque picture; in between, the background stays partly transparent.
    Straight (not premultiplied) colour: the premultiplied sum is divided by the new alpha.
    """
    rgb, alpha = np.ascontiguousarray(rgb), np.ascontiguousarray(alpha)
    out = np.empty(alpha.shape + (4,), np.uint8)  # the only full-size array: the arithmetic is per pixel, in float32
    ca = np.float32(color[3] / 255.0)
    c = np.asarray(color[:3], dtype=np.float32)
    c_ca = c * ca
    workers.in_bands(alpha.shape[0], lambda band: _over_colour(rgb[band], alpha[band], c_ca, ca, out[band]))
    return Image.fromarray(out)  # uint8 HxWx4: mode RGBA


@kernel(f"void({readonly('uint8', 3)}, {readonly('uint8', 2)}, {readonly('float32', 1)}, float32, uint8[:, :, ::1])")
def _over_colour(rgb: np.ndarray, alpha: np.ndarray, c_ca: np.ndarray, ca: np.float32, out: np.ndarray) -> None:
    """HxWx3 RGB, HxW alpha, the colour times its alpha (3 float32), its alpha (0..1) and HxWx4 out -> out holds the
    subject over the colour, rounded to the nearest level."""
    half, top, tiny, scale = np.float32(0.5), np.float32(255.0), np.float32(1e-6), np.float32(1.0)
    for y in range(alpha.shape[0]):
        for x in range(alpha.shape[1]):
            a = np.float32(alpha[y, x]) / top
            rest = scale - a
            out_a = a + ca * rest
            divisor = max(out_a, tiny)
            for k in range(3):
                value = (np.float32(rgb[y, x, k]) * a + c_ca[k] * rest) / divisor + half
                out[y, x, k] = np.uint8(min(max(value, np.float32(0.0)), top))
            value = out_a * top + half
            out[y, x, 3] = np.uint8(min(max(value, np.float32(0.0)), top))


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
