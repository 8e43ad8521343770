"""Edge colours: the subject's own colour in semi-transparent pixels, with the old background taken out.

Blur-fusion foreground estimation (Forte and Pitié, "Approximate Fast Foreground Colour
Estimation", ICIP 2021; also BiRefNet's ``refine_foreground``): two box-blur passes, so it costs
about as much as a few blurs, not a matting solve. Only pixels with 0 < alpha < 255 change: opaque
pixels are already pure foreground, transparent ones are dropped by the cutout.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from . import workers

# Blur fusion's two passes use boxes of these sizes; a pixel's result depends on pixels up to
# _REACH away, so tiles padded by _REACH give exactly the whole-image result.
_FUSION_WIDE, _FUSION_NARROW = 91, 7
_REACH = _FUSION_WIDE // 2 + _FUSION_NARROW // 2 + 1
_TILE = 512


def estimate(rgb: np.ndarray, alpha: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """HxWx3 uint8 image, HxW uint8 alpha and an optional progress(fraction done), which may raise to cancel
    -> HxWx3 uint8 foreground colour, re-estimated where 0 < alpha < 255."""
    soft = (alpha > 0) & (alpha < 255)
    if not soft.any():
        return rgb
    out = rgb.copy()
    h, w = alpha.shape

    def tile(start: tuple[int, int]) -> None:
        y0, x0 = start
        y1, x1 = min(y0 + _TILE, h), min(x0 + _TILE, w)
        tile_soft = soft[y0:y1, x0:x1]
        py0, px0 = max(0, y0 - _REACH), max(0, x0 - _REACH)
        py1, px1 = min(h, y1 + _REACH), min(w, x1 + _REACH)
        fg = _blur_fusion_foreground(rgb[py0:py1, px0:px1], alpha[py0:py1, px0:px1])
        inner = fg[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        out[y0:y1, x0:x1][tile_soft] = inner[tile_soft]  # tiles do not overlap: no two threads write one pixel

    # Only tiles holding soft pixels are worked on, and the float temporaries stay tile-sized
    # (whole-image float copies of a 4K picture are ~200 MB each). OpenCV and numpy release the
    # GIL, so tiles run side by side; each tile's result does not depend on the others.
    starts = [(y0, x0) for y0 in range(0, h, _TILE) for x0 in range(0, w, _TILE)
              if soft[y0 : y0 + _TILE, x0 : x0 + _TILE].any()]
    for done, _ in enumerate(workers.pool().map(tile, starts), start=1):
        if progress is not None:
            progress(done / len(starts))  # from the calling thread; raising leaves the workers to finish their tiles
    return out


def _blur_fusion_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image and HxW alpha -> HxWx3 uint8 blur-fusion foreground estimate everywhere."""
    image = rgb.astype(np.float32) / 255.0
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    # A wide pass finds the colours nearby, a narrow pass sharpens them (the paper's recipe).
    fg, bg = _blur_fusion(image, image, image, a, _FUSION_WIDE)
    fg, _ = _blur_fusion(image, fg, bg, a, _FUSION_NARROW)
    return np.clip(fg * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _blur_fusion(
    image: np.ndarray, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One blur-fusion pass: image, current F and B estimates, alpha (HxWx1), box size -> (F, blurred B)."""
    k = (size, size)
    blurred_alpha = cv2.blur(alpha[..., 0], k)[..., None]  # cv2 drops a trailing axis of 1, so blur HxW
    blurred_fg = cv2.blur(fg * alpha, k) / (blurred_alpha + 1e-5)
    blurred_bg = cv2.blur(bg * (1.0 - alpha), k) / ((1.0 - blurred_alpha) + 1e-5)
    # Correct the smooth foreground guess by what the compositing equation leaves unexplained.
    fg = blurred_fg + alpha * (image - alpha * blurred_fg - (1.0 - alpha) * blurred_bg)
    return np.clip(fg, 0.0, 1.0), blurred_bg
