"""Alpha matting: a trimap from the model's mask, then pymatting's closed-form solver on it."""

from __future__ import annotations

import numpy as np


def trimap(mask: np.ndarray, fg_threshold: int, bg_threshold: int, erode_size: int) -> np.ndarray:
    """HxW uint8 mask -> HxW uint8 trimap: 255 sure subject, 0 sure background, 128 unknown (rembg's rule)."""
    from scipy.ndimage import binary_erosion  # scipy is heavy to import; only matting needs it

    structure = np.ones((erode_size, erode_size), dtype=np.uint8) if erode_size > 0 else None
    is_fg = binary_erosion(mask > fg_threshold, structure=structure)
    is_bg = binary_erosion(mask < bg_threshold, structure=structure, border_value=1)
    out = np.full(mask.shape, 128, dtype=np.uint8)
    out[is_fg] = 255
    out[is_bg] = 0
    return out


def has_both_regions(tri: np.ndarray) -> bool:
    """Trimap -> whether it holds sure subject and sure background, which the solver needs."""
    return bool((tri == 255).any() and (tri == 0).any())


def solve(rgb: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 uint8 image and trimap -> (HxW uint8 alpha, HxWx3 uint8 foreground colour)."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    image = rgb / 255.0
    alpha = estimate_alpha_cf(image, tri / 255.0)
    foreground = estimate_foreground_ml(image, alpha)
    return _to_u8(alpha), _to_u8(foreground)


def _to_u8(values: np.ndarray) -> np.ndarray:
    """Float array in 0..1 -> uint8 array in 0..255, clipped and truncated as rembg does."""
    return np.clip(values * 255, 0, 255).astype(np.uint8)
