"""Small pure functions on masks: HxW uint8 arrays where 255 is the subject and 0 the background."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


def to_array(mask: Image.Image) -> np.ndarray:
    """L (or any) mask image -> HxW uint8 array."""
    return np.asarray(mask.convert("L") if mask.mode != "L" else mask, dtype=np.uint8)


def union(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Several masks of one size -> one mask that is the pixel-wise maximum."""
    if not masks:
        raise ValueError("union() needs at least one mask")
    out = masks[0].copy()
    for m in masks[1:]:
        np.maximum(out, m, out=out)
    return out


def sanitize(mask: np.ndarray) -> np.ndarray:
    """Model mask that may hold NaN (a constant prediction divides by zero in rembg) -> uint8 mask."""
    if mask.dtype == np.uint8:
        return mask
    return np.clip(np.nan_to_num(mask, nan=0.0), 0, 255).astype(np.uint8)


def post_process(mask: np.ndarray) -> np.ndarray:
    """Soft mask -> binary 0/255 mask: rembg's morphological open, 5x5 Gaussian blur, threshold at 127."""
    import cv2  # InvokeAI ships opencv-contrib-python; imported on use to keep the pack import cheap

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    blurred = cv2.GaussianBlur(opened, (5, 5), sigmaX=2, sigmaY=2, borderType=cv2.BORDER_DEFAULT)
    return np.where(blurred < 127, 0, 255).astype(np.uint8)


def limit_to_alpha(mask: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Mask and the input's own alpha -> mask that is never more opaque than the input was."""
    return mask if alpha is None else np.minimum(mask, alpha)


def cutout(rgb: np.ndarray, mask: np.ndarray) -> Image.Image:
    """HxWx3 RGB and HxW mask -> RGBA with straight alpha, RGB zeroed where alpha is 0."""
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    np.multiply(rgb, (mask > 0)[..., None], out=rgba[..., :3], casting="unsafe")
    rgba[..., 3] = mask
    return Image.fromarray(rgba, mode="RGBA")


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Mask -> (x_min, y_min, x_max, y_max) of its non-zero pixels, max exclusive; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
