"""The baseline for edge-colour timing: refine_foreground as the pack shipped it when issue 12 set the 2x bound.

Blur fusion (Forte and Pitie, "Approximate Fast Foreground Colour Estimation", ICIP 2021): two box-blur passes,
tiled over the soft band on the pack's worker threads; the pack's own code before foreground/ replaced it
(commit 6d679f9), kept here only to be timed beside the estimator that replaced it.
"""

from __future__ import annotations

import cv2
import numpy as np

from remove_background_node import workers

WIDE, NARROW = 91, 7  # the two passes' box sides
REACH = WIDE // 2 + NARROW // 2 + 1  # a pixel's result depends on pixels this far away: the tiles' padding
TILE = 512


def estimate(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image and HxW uint8 alpha -> HxWx3 uint8 foreground colour, blur fusion where 0 < alpha < 255."""
    soft = (alpha > 0) & (alpha < 255)
    out = rgb.copy()
    h, w = alpha.shape

    def tile(start: tuple[int, int]) -> None:
        y0, x0 = start
        y1, x1 = min(y0 + TILE, h), min(x0 + TILE, w)
        py0, px0, py1, px1 = max(0, y0 - REACH), max(0, x0 - REACH), min(h, y1 + REACH), min(w, x1 + REACH)
        fg = _foreground(rgb[py0:py1, px0:px1], alpha[py0:py1, px0:px1])[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        inside = soft[y0:y1, x0:x1]
        out[y0:y1, x0:x1][inside] = fg[inside]

    starts = [(y0, x0) for y0 in range(0, h, TILE) for x0 in range(0, w, TILE) if soft[y0 : y0 + TILE, x0 : x0 + TILE].any()]
    list(workers.pool().map(tile, starts))
    return out


def _foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 and HxW alpha -> HxWx3 uint8 blur-fusion foreground: a wide pass, then a narrow one."""
    image = rgb.astype(np.float32) / 255.0
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    fg, bg = _pass(image, image, image, a, WIDE)
    fg, _ = _pass(image, fg, bg, a, NARROW)
    return np.clip(fg * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _pass(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, a: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Image, the F and B estimates, alpha (HxWx1), box side -> (F corrected by the compositing equation, blurred B)."""
    box = (side, side)
    blurred_a = cv2.blur(a[..., 0], box)[..., None]
    blurred_fg = cv2.blur(fg * a, box) / (blurred_a + 1e-5)
    blurred_bg = cv2.blur(bg * (1.0 - a), box) / ((1.0 - blurred_a) + 1e-5)
    return np.clip(blurred_fg + a * (image - a * blurred_fg - (1.0 - a) * blurred_bg), 0.0, 1.0), blurred_bg
