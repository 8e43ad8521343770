"""The alpha a soft edge's colours may be unmixed by beside a plain backdrop, and where it may be trusted.

A model's soft alpha leans with the backdrop's colour (over white u2net leaves an edge too opaque,
over magenta or green too clear), and where the subject's colour at its edge differs from its
inside (a photo's own edge pixels, dark hair ends), unmixing along the line to the inside's colour
takes out too little or too much. Beside a plain backdrop the colours themselves say how much of it
a pixel holds: the pack's own closed-form matting over the model's band, from a trimap whose sure
subject is where the model is near-certain and an erosion that grows with the picture as a model's
edge errors do, solved on the picture reduced to about SIDE pixels (finer solves measured no better
for colour, and cost more). Where the matted alpha lies far below the least alpha the colours allow
(below), matting failed there (a soft subject it could not tell from the backdrop, with no sure
subject near), and the alpha used lies ABOVE_LEAST of the way from that least alpha to opaque.

Beside a neutral backdrop (white, grey, black, a pastel) that fails: a shadow on the subject and a
mix with the backdrop lie along the same line of colours, and the matted alpha follows the subject's
shading. There the colours give a bound instead: the least alpha at which the pixel's subject colour
stays inside the RGB cube. A model's alpha over such a backdrop runs too opaque (u2net's mean over
the measured band of rembg's four test pictures: 1.24-1.48x the true alpha over white and grey,
1.04-1.57x over black) and the bound too clear, so the alpha used lies TOWARD_MODEL of the way from
the bound to the model's. Where the model is right, that costs some of the gain (.readme/performance-log.md:
edge colours).

Dividing by such an alpha is only as good as that alpha. It is trusted where it changes smoothly,
as across a model's blurred edge; across hair strands it changes from pixel to pixel, a small error
in it is a large one in the colour, and unmixing along the line to the inside's colour measured
better there. It is trusted less where it, or an alpha beside it, lies below the least the colours
allow, since it would unmix to colours outside the RGB cube. Near clear it is trusted less (dividing
by it magnifies its error), and less still beside a neutral backdrop, where a bounded alpha there is
mostly the bound's guess. The mask the user gets stays the model's (or matting's).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from .. import matting
from ..matting.progress import Fraction

SIDE = 512  # the band is solved on the picture reduced to about this longer side
TRIMAP_SIDE = 2048  # the trimap is made on the model's alpha reduced to at most this longer side
# sure subject from 250, not rembg's default 240: over a light backdrop a model's edge runs too opaque, its mixed
# pixels reach 240..249, and a sure subject there pins them at opaque; sure background from rembg's default 10
FOREGROUND, BACKGROUND = 250, 10
# the erosion as a share of the longer side (21 pixels at 850): a model's alpha runs wrong further from the edge
# than rembg's default 10 reaches, and sure regions there pin matting to that error
ERODE_PER_PIXEL = 1.0 / 40.0
# trust falls off as exp(-(roughness / ROUGH)^4) with the alpha's local roughness: its mean departure from
# itself blurred by SIGMA pixels, over WINDOW x WINDOW pixels (a model's blurred edge and a sharp one: about 5-12,
# keeping 0.88 and more; hair: 45, keeping none) ...
ROUGH, SIGMA, WINDOW = 20.0, 1.0, 15
# ... with how far, in levels, the alpha lies below the least the colours allow, at its lowest over
# SHORT_WINDOW x SHORT_WINDOW pixels ...
SHORT, SHORT_WINDOW = 30.0, 5
# ... and with its level: none below the first, full from the second (dividing by less magnifies the alpha's error);
# lower beside a saturated backdrop, where a matted alpha that passes the colours' bound measured right further down,
# than beside a neutral one, where a bounded alpha near clear is mostly the bound's guess; linear in the neutral share
NEUTRAL_LEVELS, SATURATED_LEVELS = (0.15 * 255, 0.35 * 255), (0.05 * 255, 0.2 * 255)
REACH = WINDOW // 2 + 4 * math.ceil(SIGMA)  # pixels around a region its trust depends on (OpenCV cuts the Gaussian at 4 sigma)
# the backdrop's chroma (its highest level less its lowest): up to NEUTRAL the bounded alpha alone, from SATURATED the
# matted alpha alone, a linear mix between
NEUTRAL, SATURATED = 128.0, 192.0
TOWARD_MODEL = 0.45  # the bounded alpha's place between the least alpha the colours allow (0) and the model's (1)
# where matting's alpha lies more than SHORT levels below the least the colours allow, the alpha used lies this share
# of the way from that least alpha to opaque: where u2net's alpha lay below that bound over magenta and green, the true
# alpha's median place was 0.05-0.31 on rembg's four test pictures and six sample photos (a subject colour on the RGB
# cube's face, such as white over green, has its true alpha at the bound itself, and this overshoots it)
ABOVE_LEAST = 0.2
ROWS = 256  # the bounded alpha is made this many rows at a time, on their soft pixels only


def unmixing_alpha(
    rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray, progress: Fraction | None = None,
) -> np.ndarray:
    """HxWx3 uint8 image beside a plain backdrop, HxW uint8 model alpha, the backdrop's colour (backdrop.measure)
    and optional progress -> HxW uint8 alpha to unmix the soft edge's colours by: matted beside a saturated
    backdrop (raised where it lies far below what the colours allow), bounded beside a neutral one (white, grey,
    black, pastels), a mix between; bounded too where the model's alpha leaves matting no sure subject or no sure
    background."""
    share = neutral_share(colour)
    matted = matted_alpha(rgb, alpha, progress) if share < 1.0 else None
    if progress is not None:
        progress(1.0)
    if matted is None:
        return bounded_alpha(rgb, alpha, colour)
    _raise_failed(matted, rgb, alpha, colour)
    if share == 0.0:
        return matted
    return cv2.addWeighted(bounded_alpha(rgb, alpha, colour), share, matted, 1.0 - share, 0.0)


def neutral_share(colour: np.ndarray) -> float:
    """A backdrop's colour (3 levels) -> 0..1, how far the bounded alpha is used over the matted one: 1 where the
    backdrop is neutral, 0 where it is saturated."""
    chroma = float(np.max(colour) - np.min(colour))
    return min(max((SATURATED - chroma) / (SATURATED - NEUTRAL), 0.0), 1.0)


def bounded_alpha(rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image, HxW uint8 model alpha and the backdrop's colour -> HxW uint8 alpha: on the model's soft
    pixels TOWARD_MODEL of the way from the least alpha the pixel's colour allows (a subject colour inside the RGB
    cube) up to the model's, the least itself where the model's is below it; elsewhere the model's."""
    out = alpha.copy()
    for rows, soft, least in _soft_rows(rgb, alpha, colour):
        model = alpha[rows][soft].astype(np.float32) / 255.0
        mixed = least + TOWARD_MODEL * np.maximum(model - least, 0.0)
        out[rows][soft] = np.clip(255.0 * mixed + 0.5, 1, 254).astype(np.uint8)
    return out


def _raise_failed(matted: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """HxW uint8 matted alpha (changed in place), HxWx3 uint8 image, HxW uint8 model alpha and the backdrop's colour
    -> nothing; on the model's soft pixels, a matted alpha more than SHORT levels below the least the colours allow
    becomes ABOVE_LEAST of the way from that least alpha to opaque."""
    for rows, soft, least in _soft_rows(rgb, alpha, colour):
        values = matted[rows][soft]
        failed = values.astype(np.float32) < 255.0 * least - SHORT
        raised = least[failed] + ABOVE_LEAST * (1.0 - least[failed])
        values[failed] = np.clip(255.0 * raised + 0.5, 1, 254).astype(np.uint8)
        matted[rows][soft] = values


def _soft_rows(
    rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray,
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Image, model alpha and the backdrop's colour -> for each ROWS rows holding soft pixels: (those rows, their
    soft map, the least alpha each soft pixel's colour allows, in the soft map's order)."""
    for y0 in range(0, alpha.shape[0], ROWS):
        rows = slice(y0, y0 + ROWS)
        soft = (alpha[rows] > 0) & (alpha[rows] < 255)
        if soft.any():
            yield rows, soft, least_alpha(rgb[rows][soft], colour)


def least_alpha(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """HxWx3 or Nx3 uint8 colours and the backdrop's colour (3 levels) -> HxW or N float32 0..1, the least alpha at
    which each pixel's subject colour stays inside the RGB cube."""
    image = rgb if rgb.ndim == 3 else np.ascontiguousarray(rgb).reshape(-1, 1, 3)
    # per channel, looked up: how far the level lies from the backdrop's, as a share of the room between the
    # backdrop and the cube's face it lies toward; the pixel's bound is the largest of its three
    red, green, blue = cv2.split(cv2.LUT(image, _least_table(colour)))
    return cv2.max(cv2.max(red, green), blue).reshape(rgb.shape[:-1])


def _least_table(colour: np.ndarray) -> np.ndarray:
    """The backdrop's colour (3 levels) -> 1x256x3 float32 table of least_alpha's per-channel bound at each level."""
    c = colour.astype(np.float32)
    levels = np.arange(256, dtype=np.float32)[:, None]
    below, above = (c - levels) / np.maximum(c, 1.0), (levels - c) / np.maximum(255.0 - c, 1.0)
    return np.where(levels < c, below, above).astype(np.float32).reshape(1, 256, 3)


def matted_alpha(rgb: np.ndarray, alpha: np.ndarray, progress: Fraction | None = None) -> np.ndarray | None:
    """HxWx3 uint8 image, HxW uint8 model alpha and optional progress -> HxW uint8 alpha from closed-form matting
    over the alpha's soft band, or None when the alpha leaves no sure subject or no sure background."""
    height, width = alpha.shape
    longer = max(height, width)
    # a large picture's trimap is made reduced (at 12000² its erosion at full size took 4 s) and scaled back
    shrink = math.ceil(longer / TRIMAP_SIDE)
    small = alpha if shrink == 1 else cv2.resize(alpha, (max(1, width // shrink), max(1, height // shrink)), interpolation=cv2.INTER_AREA)
    tri = matting.trimap(small, FOREGROUND, BACKGROUND, max(1, round(max(small.shape) * ERODE_PER_PIXEL)))
    if not matting.has_both_regions(tri):
        return None
    if shrink > 1:
        tri = cv2.resize(tri, (width, height), interpolation=cv2.INTER_NEAREST)
    return matting.solve_alpha(rgb, tri, progress, factor=max(1, math.ceil(longer / SIDE)))


def trust(unmixing: np.ndarray, rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """HxW uint8 unmixing alpha and the HxWx3 uint8 picture (a region of them, REACH pixels wider on every side the
    picture goes on) and the backdrop's colour -> HxW float32 0..1: how far colours unmixed by that alpha are to be
    trusted over those unmixed along the line to the inside's colour."""
    a = unmixing.astype(np.float32)
    rough = cv2.blur(cv2.absdiff(a, cv2.GaussianBlur(a, (0, 0), SIGMA)), (WINDOW, WINDOW))
    short = np.maximum(255.0 * least_alpha(rgb, colour) - a, 0.0)
    consistent = cv2.erode(np.exp(-np.square(short / SHORT)), np.ones((SHORT_WINDOW, SHORT_WINDOW), np.uint8))
    neutral = neutral_share(colour)
    low, high = (n * neutral + s * (1.0 - neutral) for n, s in zip(NEUTRAL_LEVELS, SATURATED_LEVELS))
    level = np.clip((a - low) / (high - low), 0.0, 1.0)
    return level * np.exp(-np.square(np.square(rough / ROUGH))) * consistent
