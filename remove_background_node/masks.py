"""Small pure functions on masks: HxW uint8 arrays where 255 is the subject and 0 the background."""

from __future__ import annotations

import os
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
    import cv2  # one multithreaded pass instead of numpy's full-size boolean and product arrays

    rgba = cv2.cvtColor(cv2.copyTo(np.ascontiguousarray(rgb), mask), cv2.COLOR_RGB2RGBA)
    rgba[..., 3] = mask
    return Image.fromarray(rgba)  # uint8 HxWx4: mode RGBA


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Mask -> (x_min, y_min, x_max, y_max) of its non-zero pixels, max exclusive; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


# Compositing controls, applied in this order by the pipeline: threshold -> grow -> feather ->
# invert -> (limit to the input's alpha) -> refine foreground -> composite.
# cv2 is InvokeAI's own opencv-contrib-python; it is imported inside each function so that
# importing the pack stays cheap.

# Above this radius a soft mask is grown in several elliptical steps: one big elliptical kernel
# costs O(radius^2) per pixel, a chain of small ones O(radius), and the Minkowski sum of discs
# is a disc, so the chain stays round.
_ELLIPSE_STEP = 8


def threshold(mask: np.ndarray, level: int) -> np.ndarray:
    """Mask and a level 0..255 -> hard 0/255 mask (255 where mask >= level); level 0 returns the mask unchanged."""
    if level <= 0:
        return mask
    return np.where(mask >= level, 255, 0).astype(np.uint8)


def is_hard(mask: np.ndarray) -> bool:
    """Mask -> whether it holds only 0 and 255."""
    return bool(np.isin(mask, (0, 255)).all()) if mask.size else True


def _ellipse(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _dilate_soft(mask: np.ndarray, radius: int) -> np.ndarray:
    """Soft mask and radius > 0 -> grey dilation (max over a disc), in steps of at most _ELLIPSE_STEP px."""
    import cv2

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
    import cv2

    if not mask.any():
        return mask.copy()
    # distanceTransform measures to the nearest zero pixel, so the subject is the zero set;
    # its cost does not depend on the radius.
    distance = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(distance <= radius, 255, 0).astype(np.uint8)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Mask and pixels (+ grows the subject, - shrinks it) -> mask dilated or eroded by a disc of that radius.

    Hard masks use an exact distance transform; soft masks keep their soft edge through grey
    morphology. Shrinking is growing the background, so the image border never eats the subject.
    """
    if pixels == 0:
        return mask
    radius = abs(pixels)
    dilate = _dilate_hard if is_hard(mask) else _dilate_soft
    if pixels > 0:
        return dilate(mask, radius)
    return 255 - dilate(255 - mask, radius)


def feather_kernel_size(pixels: float) -> int:
    """Feather width in pixels -> odd stack-blur kernel size whose blur has sigma ~= pixels / 2."""
    # A stack blur of radius R is a tent filter with variance ~= R(R+2)/6; solving for sigma = pixels/2.
    sigma = pixels / 2.0
    radius = int(np.ceil(-1.0 + np.sqrt(1.0 + 6.0 * sigma * sigma)))
    return 2 * max(radius, 1) + 1


def feather(mask: np.ndarray, pixels: float) -> np.ndarray:
    """Mask and width in pixels -> mask whose edges fade over about ``pixels`` on each side; 0 returns it unchanged."""
    import cv2

    if pixels <= 0:
        return mask
    k = feather_kernel_size(pixels)
    # stackBlur approximates a Gaussian at a cost that does not grow with its size (a true
    # Gaussian of sigma 128 takes ~15 s on a 4096x4096 mask here, stackBlur well under 1 s).
    # In float: on uint8 it truncates, and a solid 255 interior could come out as 254.
    blurred = cv2.stackBlur(mask.astype(np.float32), (k, k))
    return np.clip(blurred + 0.5, 0, 255).astype(np.uint8)


def invert(mask: np.ndarray) -> np.ndarray:
    """Mask -> its complement: the background becomes the subject."""
    return 255 - mask


# Blur fusion's two passes use boxes of these sizes; a pixel's result depends on pixels up to
# _REACH away, so tiles padded by _REACH give exactly the whole-image result.
_FUSION_WIDE, _FUSION_NARROW = 91, 7
_REACH = _FUSION_WIDE // 2 + _FUSION_NARROW // 2 + 1
_TILE = 512
_WORKERS = min(4, os.cpu_count() or 1)  # tiles worked on at once; more than a few only adds float temporaries


def refine_foreground(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image and HxW alpha -> HxWx3 uint8 foreground colour with the old background taken out of soft pixels.

    Blur-fusion foreground estimation (Forte and Pitié, "Approximate Fast Foreground Colour
    Estimation", ICIP 2021; also BiRefNet's ``refine_foreground``): two box-blur passes, so it
    costs about as much as a few blurs, not a matting solve. Only pixels with 0 < alpha < 255
    change: opaque pixels are already pure foreground, transparent ones are dropped later.
    """
    soft = (mask > 0) & (mask < 255)
    if not soft.any():
        return rgb
    from concurrent.futures import ThreadPoolExecutor

    out = rgb.copy()
    h, w = mask.shape

    def tile(y0: int, x0: int) -> None:
        y1, x1 = min(y0 + _TILE, h), min(x0 + _TILE, w)
        tile_soft = soft[y0:y1, x0:x1]
        if not tile_soft.any():
            return
        py0, px0 = max(0, y0 - _REACH), max(0, x0 - _REACH)
        py1, px1 = min(h, y1 + _REACH), min(w, x1 + _REACH)
        fg = _estimate_foreground(rgb[py0:py1, px0:px1], mask[py0:py1, px0:px1])
        inner = fg[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        out[y0:y1, x0:x1][tile_soft] = inner[tile_soft]  # tiles do not overlap: no two threads write one pixel

    # Tiles: only those holding soft pixels are worked on, and the float temporaries stay
    # small (whole-image float copies of a 4K picture are ~200 MB each). OpenCV and numpy
    # release the GIL, so tiles run side by side; each tile's result does not depend on the others.
    starts = [(y0, x0) for y0 in range(0, h, _TILE) for x0 in range(0, w, _TILE)]
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        list(pool.map(lambda start: tile(*start), starts))
    return out


def _estimate_foreground(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image and HxW alpha -> HxWx3 uint8 blur-fusion foreground estimate everywhere."""
    image = rgb.astype(np.float32) / 255.0
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    # A wide pass finds the colours nearby, a narrow pass sharpens them (the paper's recipe).
    fg, bg = _blur_fusion(image, image, image, alpha, _FUSION_WIDE)
    fg, _ = _blur_fusion(image, fg, bg, alpha, _FUSION_NARROW)
    return np.clip(fg * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _blur_fusion(
    image: np.ndarray, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One blur-fusion pass: image, current F and B estimates, alpha (HxWx1), box size -> (F, blurred B)."""
    import cv2

    k = (size, size)
    blurred_alpha = cv2.blur(alpha[..., 0], k)[..., None]  # cv2 drops a trailing axis of 1, so blur HxW
    blurred_fg = cv2.blur(fg * alpha, k) / (blurred_alpha + 1e-5)
    blurred_bg = cv2.blur(bg * (1.0 - alpha), k) / ((1.0 - blurred_alpha) + 1e-5)
    # Correct the smooth foreground guess by what the compositing equation leaves unexplained.
    fg = blurred_fg + alpha * (image - alpha * blurred_fg - (1.0 - alpha) * blurred_bg)
    return np.clip(fg, 0.0, 1.0), blurred_bg


def composite(rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int, int]) -> Image.Image:
    """HxWx3 foreground, HxW alpha and an RGBA colour -> RGBA of the subject over that colour ("over" operator).

    Colour alpha 0 gives the plain cutout (straight alpha, RGB zeroed where alpha is 0); alpha
    255 gives an opaque image; in between, the background stays partly transparent.
    """
    if color[3] == 0:
        return cutout(rgb, mask)
    a = mask.astype(np.float32)[..., None] / 255.0
    ca = color[3] / 255.0
    c = np.asarray(color[:3], dtype=np.float32)
    out_a = a + ca * (1.0 - a)
    # Straight (not premultiplied) colour: divide the premultiplied sum by the new alpha.
    out_rgb = (rgb.astype(np.float32) * a + c * ca * (1.0 - a)) / np.maximum(out_a, 1e-6)
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = np.clip(out_rgb + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(out_a[..., 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgba)  # uint8 HxWx4: mode RGBA
