"""Small pure functions on masks: HxW uint8 arrays where 255 is the subject and 0 the background.

The pipeline applies them in the order written in ``pipeline.STEPS``.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .image_modes import grey, pixels

# Above this radius a soft mask is grown in several elliptical steps: one big elliptical kernel
# costs O(radius^2) per pixel, a chain of small ones O(radius), and the Minkowski sum of discs
# is a disc, so the chain stays round.
_ELLIPSE_STEP = 8
# A pixel exactly the radius away is inside the disc, but OpenCV's float distances put some such ties a hair over it,
# depending on the mask's size; the next distance a pixel can have lies at least 1/513 beyond a radius of up to 256.
_TIE = 1e-3
FEATHER_PASSES = 3  # box blurs in a row: close to a Gaussian, at a cost that does not grow with the width
VISIBLE = 8  # the bounding box counts pixels at least this opaque (3 %); fainter specks are invisible
# Rounding a feathered mask to whole levels moves its total opacity by up to half a level a pixel. A small or faint
# subject spread wide is a field of a few levels, where that is several percent of it; beyond this share, the
# rounding is redone so the total stays (``_round_keeping_total``).
ROUNDING_SHARE = 0.001


def to_array(mask: Image.Image) -> np.ndarray:
    """L (or any) mask image -> HxW uint8 array; a mask with transparency counts as painted over black."""
    if mask.mode == "L":
        return pixels(mask)
    if mask.mode in ("RGBA", "LA", "PA") or "transparency" in mask.info:
        # strokes painted on a transparent layer (the canvas): unpainted is background, whatever colour it hides
        level, alpha = (np.asarray(band, dtype=np.uint16) for band in mask.convert("LA").split())
        return ((level * alpha + 127) // 255).astype(np.uint8)
    return pixels(grey(mask))  # a 16-bit mask or trimap (InvokeAI stores I;16 as it is) keeps its soft levels


def post_process(mask: np.ndarray) -> np.ndarray:
    """Soft mask -> binary 0/255 mask: rembg's morphological open, 5x5 Gaussian blur, threshold at 127."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    blurred = cv2.GaussianBlur(opened, (5, 5), sigmaX=2, sigmaY=2, borderType=cv2.BORDER_DEFAULT)
    return np.where(blurred < 127, 0, 255).astype(np.uint8)


def threshold(mask: np.ndarray, level: int) -> np.ndarray:
    """Mask and a level 0..255 -> hard 0/255 mask (255 where mask >= level); level 0 returns the mask unchanged."""
    if level <= 0:
        return mask
    return np.where(mask >= level, 255, 0).astype(np.uint8)


def soft(mask: np.ndarray) -> np.ndarray:
    """HxW uint8 mask -> HxW uint8 map, 255 where it is neither 0 nor 255 (one OpenCV pass, no numpy temporaries)."""
    return cv2.inRange(mask, 1, 254)


def is_hard(mask: np.ndarray) -> bool:
    """Mask -> whether it holds only 0 and 255."""
    return cv2.countNonZero(soft(mask)) == 0 if mask.size else True  # numpy's isin: 13x the time at 4096²


def _ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _dilate_soft(mask: np.ndarray, radius: int) -> np.ndarray:
    """Soft mask and radius > 0 -> grey dilation (max over a disc), in steps of at most _ELLIPSE_STEP px."""
    out = mask
    left = radius
    steps = -(-radius // _ELLIPSE_STEP)
    for i in range(steps):
        r = -(-left // (steps - i))  # equal steps that sum to ``radius``
        out = cv2.dilate(out, _ellipse(r), borderType=cv2.BORDER_REPLICATE)
        left -= r
    return out


def _dilate_hard(mask: np.ndarray, radius: int) -> np.ndarray:
    """Hard 0/255 mask and radius > 0 -> 255 wherever a subject pixel is within ``radius`` (exact Euclidean disc)."""
    if not mask.any():
        return mask.copy()
    # distanceTransform measures to the nearest zero pixel, so the subject is the zero set;
    # its cost does not depend on the radius.
    distance = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(distance <= radius + _TIE, 255, 0).astype(np.uint8)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Mask and pixels (+ grows the subject, - shrinks it) -> mask dilated or eroded by a disc of that radius.

    Hard masks use an exact distance transform; soft masks keep their soft edge through grey
    morphology. Shrinking is growing the background, so the image border never eats the subject.
    """
    if pixels == 0:
        return mask
    # Only pixels within the radius of the subject can change, so the work is done on the subject's box and a margin
    # the steps cannot cross: the same result as on the whole mask, in a fraction of the time where the box is small.
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return np.zeros_like(mask)
    pad = abs(pixels) + 1
    y0, x0, y1, x1 = max(0, y - pad), max(0, x - pad), min(mask.shape[0], y + h + pad), min(mask.shape[1], x + w + pad)
    if (y0, x0, y1, x1) == (0, 0, *mask.shape):
        return _grow_whole(mask, pixels)
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = _grow_whole(np.ascontiguousarray(mask[y0:y1, x0:x1]), pixels)
    return out


def _grow_whole(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Mask and pixels (+ grows, - shrinks, not 0) -> the mask grown or shrunk, over the whole of it."""
    radius = abs(pixels)
    dilate = _dilate_hard if is_hard(mask) else _dilate_soft
    if pixels > 0:
        return dilate(mask, radius)
    return 255 - dilate(255 - mask, radius)


def feather_boxes(pixels: float, length: int) -> list[int]:
    """Feather width in pixels and the mask's length along one axis -> the odd widths of FEATHER_PASSES box
    blurs whose sum of variances gives sigma ~= pixels / 2, each at most half that length (wider would
    flatten the subject away)."""
    # a box of odd width w has variance (w^2 - 1) / 12; mix the two odd widths around the ideal
    # one so the passes add up to the wanted variance (Kovesi, "Fast almost-Gaussian filtering")
    variance, n = (pixels / 2.0) ** 2, FEATHER_PASSES
    ideal = float(np.sqrt(12.0 * variance / n + 1.0))
    lower = max(1, int(ideal) - (1 - int(ideal) % 2))
    narrow = round((12.0 * variance - n * lower * lower - 4 * n * lower - 3 * n) / (-4.0 * lower - 4.0))
    widths = [lower] * min(n, max(0, narrow)) + [lower + 2] * (n - min(n, max(0, narrow)))
    if pixels > 0 and max(widths) == 1:
        widths[-1] = 3  # the narrowest blur there is: a feather asked for is never a no-op
    cap = max(1, length // 2)
    cap -= 1 - cap % 2  # odd
    return [min(w, cap) for w in widths]


def feather(mask: np.ndarray, pixels: float) -> np.ndarray:
    """Mask and width in pixels -> mask whose edges fade over about ``pixels`` on each side; 0 returns it unchanged.

    Box blurs with mirrored borders keep the mask's total opacity (its mean) whatever the width,
    so a feather wider than the picture softens the subject instead of dissolving it.
    """
    if pixels <= 0:
        return mask
    boxes = list(zip(feather_boxes(pixels, mask.shape[1]), feather_boxes(pixels, mask.shape[0])))
    # in float: on uint8 each pass truncates, and a solid 255 interior could come out as 254
    blurred = mask.astype(np.float32)
    for size in boxes:
        if size != (1, 1):
            blurred = cv2.blur(blurred, size, borderType=cv2.BORDER_REFLECT)
    return _round_keeping_total(np.clip(blurred, 0, 255, out=blurred))


def _round_keeping_total(levels: np.ndarray) -> np.ndarray:
    """float32 levels in 0..255 -> uint8 levels, each within one level of its value, summing to the floats' sum
    (to within a level) when plain rounding would move that sum by more than ROUNDING_SHARE of it."""
    rounded = levels + np.float32(0.5)
    np.floor(rounded, out=rounded)
    total = float(levels.sum(dtype=np.float64))
    missing = int(round(total - float(rounded.sum(dtype=np.float64))))
    if abs(missing) <= ROUNDING_SHARE * total:
        return rounded.astype(np.uint8)
    # The pixels whose values lay nearest the rounding point go the other way: in effect a rounding point moved
    # for the whole mask, so a more opaque pixel never comes out less opaque than a fainter one.
    left = (levels - rounded).reshape(-1)  # in -0.5..0.5: what rounding dropped (+) or added (-)
    flat = rounded.reshape(-1)
    if missing > 0:
        flat[np.argpartition(-left, missing - 1)[:missing]] += 1
    else:
        flat[np.argpartition(left, -missing - 1)[:-missing]] -= 1
    return rounded.astype(np.uint8)


def invert(mask: np.ndarray) -> np.ndarray:
    """Mask -> its complement: the background becomes the subject."""
    return 255 - mask


def limit_to_alpha(mask: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Mask and the input's own alpha -> mask that is never more opaque than the input was."""
    return mask if alpha is None else np.minimum(mask, alpha)


def extent(where: np.ndarray) -> tuple[int, int, int, int] | None:
    """HxW map -> (first row, last row + 1, first column, last column + 1) around its non-zero pixels; None when none is."""
    rows = np.flatnonzero(where.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(where.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def bounding_box(mask: np.ndarray, visible: int = VISIBLE) -> tuple[int, int, int, int] | None:
    """Mask -> (x_min, y_min, x_max, y_max) around its pixels at least ``visible`` opaque, max exclusive; None when none is."""
    box = extent(mask >= visible)
    return None if box is None else (box[2], box[0], box[3], box[1])
