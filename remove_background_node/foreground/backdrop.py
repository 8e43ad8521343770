"""How plain the old background is beside the soft edge, and so which pixels are samples of it.

A soft pixel's colour is a mix of the subject's and the background's. Beside a textured background
its own colour is still the best local sample of that texture, so pixels count as background samples
by (1 - alpha)^Q_TEXTURED, soft ones a little. Beside a plain backdrop (a studio sweep, a flat
colour) the clear pixels around already give the backdrop's colour exactly, and counting soft pixels
only pulls the background's estimate toward the subject, leaving some backdrop in the edge; there
only clear pixels count, by (1 - alpha)^Q_PLAIN, and the colours themselves say how much backdrop a
pixel holds (``guide``). Between the two, Q and the guide's share follow the spread of the clear
pixels' colours (measured on the picture reduced by SHIFT, which averages sensor noise away).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from .. import masks

Q_TEXTURED = 4.0
Q_PLAIN = 64.0
PLAIN, TEXTURED = 1.0, 2.0  # levels of local spread: up to PLAIN a plain backdrop, from TEXTURED on a textured one
SHIFT = 2  # the spread is measured on the picture reduced 4x ...
REACH = 8  # ... over clear pixels within this many reduced pixels of the soft edge
MIN_SAMPLES = 16  # fewer such pixels than this: nothing to tell by, so textured (the cautious choice)


class Backdrop(NamedTuple):
    texture: float  # 0 a plain backdrop, 1 a textured background (or none to tell by), linear in the spread between
    colour: np.ndarray | None  # the clear pixels' median colour (3 float32 levels); None when too few to tell by


def measure(rgb: np.ndarray, alpha: np.ndarray) -> Backdrop:
    """HxWx3 uint8 image and HxW uint8 alpha -> how textured the background beside the soft edge is, and its colour,
    from one sampling of the clear pixels near the edge."""
    found = _edge_samples(rgb, alpha)
    if found is None:
        return Backdrop(1.0, None)
    small, samples = found
    spread = _spread(small, samples)
    texture = min(max((spread - PLAIN) / (TEXTURED - PLAIN), 0.0), 1.0)
    return Backdrop(texture, np.median(small[samples > 0], axis=0).astype(np.float32))


def background_power(texture: float) -> float:
    """Texture (0 plain .. 1 textured) -> Q of the background confidence (1 - alpha)^Q, log-blended."""
    return math.exp((1.0 - texture) * math.log(Q_PLAIN) + texture * math.log(Q_TEXTURED))


def _spread(small: np.ndarray, samples: np.ndarray) -> float:
    """A reduced picture and a mask of clear samples in it -> the median local colour spread (standard deviation
    over 3x3 reduced pixels, in levels) over the samples."""
    spread = np.zeros(small.shape[:2], np.float32)
    for channel in cv2.split(small):
        c = channel.astype(np.float32)
        mean = cv2.blur(c, (3, 3))
        square = cv2.blur(cv2.multiply(c, c), (3, 3))
        spread += np.sqrt(np.maximum(cv2.subtract(square, cv2.multiply(mean, mean)), 0.0))
    return float(np.median(spread[samples > 0])) / small.shape[2]


def _edge_samples(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """HxWx3 uint8 image and HxW uint8 alpha -> (the picture reduced by SHIFT around the clear pixels near the soft
    edge, a mask of those pixels in it), or None when there are fewer than MIN_SAMPLES."""
    f = 1 << SHIFT
    h, w = alpha.shape
    a = cv2.resize(alpha, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    # whole 3x3 windows of clear pixels, so the subject's own colours do not count as texture
    clear = cv2.erode(cv2.inRange(a, 0, 0), np.ones((3, 3), np.uint8))
    near = cv2.dilate(masks.soft(a), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * REACH + 1, 2 * REACH + 1)))
    samples = cv2.bitwise_and(clear, near)
    if cv2.countNonZero(samples) < MIN_SAMPLES:
        return None
    # only the colours around the samples are reduced, a channel at a time (a 12000² picture: 36 MB a plane)
    x, y, bw, bh = cv2.boundingRect(samples)
    x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(a.shape[1], x + bw + 1), min(a.shape[0], y + bh + 1)
    region = rgb[y0 * f : y1 * f, x0 * f : x1 * f]
    return cv2.resize(region, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA), samples[y0:y1, x0:x1]
