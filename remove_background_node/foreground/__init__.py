"""Edge colours: the subject's own colour in semi-transparent pixels, with the old background taken out.

Three stages, work and memory scaling with the soft band, not the picture:

1. ``fill``: smooth foreground and background colour fields, filled coarse to fine over a pyramid
   (a pull-push after Germer et al. 2020, "Fast Multi-Level Foreground Estimation"), the foreground
   fed only by near-opaque pixels (a model's soft pixels still carry the old background), the
   background by clear ones, and beside a textured background a little by soft ones (``backdrop``).
2. ``unmix``: each soft pixel split along the line from the background's colour to the foreground's:
   the part across the line is the subject's own detail, divided by the alpha it implies (damped
   where that is small); within a few levels of opaque the model's alpha is trusted, so interiors a
   model leaves at 250..254 keep their detail.
3. As in blur fusion's narrow pass (Forte and Pitie 2021): the unmixed colours averaged in an
   alpha-weighted box, and each soft pixel unmixed once more against that smoother foreground.

Beside a plain backdrop the stages run once more on an alpha the colours say more about, trusted at
every level (``guide``: matted over the model's band beside a saturated backdrop, raised where it
lies far below what the colours allow; bounded by the colours beside a neutral one or where matting
has no sure region to start from), and where both alphas are soft the colours move toward that
run's by how plain the backdrop is (``backdrop.measure``) and how far that alpha may be trusted
there (``guide.trust``: not across hair strands, nor where that alpha lies below what the colours
allow).

One light pass builds the picture's 8x-reduced grid; full-resolution work happens only in tiles
holding soft pixels, and a tile's result equals a whole-picture run's. Only pixels with
0 < alpha < 255 change: opaque pixels are the subject's already, transparent ones are dropped.
How much of an old background's colour it takes out is measured by ``benchmarks.edge_colours``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .. import masks, workers
from ..matting.progress import Fraction
from . import backdrop, fill, guide, unmix

P_FOREGROUND = 32.0  # foreground confidence alpha^P: only near-opaque pixels are foreground samples
# background confidence (1 - alpha)^Q: Q from backdrop.background_power (plain backdrop or textured background)
TAU = 0.02  # damping of detail divided by a small alpha: gain A / (A^2 + TAU (1 - A))
DETAIL_WIDTH = 0.05  # within about this of alpha = 1, colour along the line is detail, not a mix ...
DETAIL_POWER = 8.0  # ... with a transition this steep: share 1 / (1 + ((1 - alpha) / WIDTH)^POWER)
TRUSTED = float("inf")  # the detail width for a matted alpha (guide): it is trusted at every level, not only near opaque
GUIDE_SHARE = 0.1  # of the progress, for the guide's matting
MIN_ALPHA = 0.02  # unmixing never divides by less
BOX_PER_PIXEL = 1.0 / 50.0  # the second pass's box side as a fraction of the picture's longer side ...
BOX_MIN, BOX_MAX = 21, 91  # ... within these (odd) sides
TILE = 512  # full-resolution work happens in tiles of this side that hold soft pixels


def estimate(
    rgb: np.ndarray, alpha: np.ndarray, progress: Callable[[float], None] | None = None, tile: int = TILE,
    in_place: bool = False, guided: bool = True,
) -> np.ndarray:
    """HxWx3 uint8 image, HxW uint8 alpha, an optional progress(fraction done), which may raise to cancel, whether
    the image may be overwritten, and whether a plain backdrop's colours may guide the alpha (not when it comes from
    matting already) -> HxWx3 uint8 foreground colour, re-estimated where 0 < alpha < 255."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    alpha = np.ascontiguousarray(alpha, dtype=np.uint8)
    if not cv2.countNonZero(masks.soft(alpha)):
        return rgb
    report = Fraction(progress)
    texture, colour = backdrop.measure(rgb, alpha)
    luts = _confidences(backdrop.background_power(texture))
    use_guide = guided and texture < 1.0 and colour is not None  # a colour is known wherever texture < 1
    matted = guide.unmixing_alpha(rgb, alpha, colour, report.part(0.0, GUIDE_SHARE)) if use_guide else None
    start = 0.0 if matted is None else GUIDE_SHARE
    middle = 1.0 if matted is None else (1.0 + start) / 2
    # Every tile reads the original colours around it, so they are written back only once all are done: no
    # full-size copy when the caller's image may be overwritten (a 4096² picture's is 48 MB of fresh memory)
    patches = _patches(rgb, alpha, luts, DETAIL_WIDTH, tile, report.part(start, middle))
    if matted is not None:
        guided_patches = dict(_patches(rgb, matted, luts, TRUSTED, tile, report.part(middle, 1.0)))
        _blend_guided(patches, guided_patches, rgb, alpha, matted, colour, 1.0 - texture)
    report(1.0)
    out = rgb if in_place else rgb.copy()
    for (y0, x0), patch in patches:
        out[y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]] = patch
    return out


def _blend_guided(
    patches: list[tuple[tuple[int, int], np.ndarray]], guided: dict[tuple[int, int], np.ndarray], rgb: np.ndarray,
    alpha: np.ndarray, unmixing: np.ndarray, colour: np.ndarray, plain: float,
) -> None:
    """Tiles of colours estimated by the model's alpha, the same tiles' colours unmixed by the guide's alpha, the
    picture (not yet written to), the model's alpha, the guide's, the backdrop's colour and how plain the backdrop
    is (0..1) -> nothing; where both alphas are soft, each tile moves toward the guide's colours by guide.trust
    times that plainness."""
    h, w = alpha.shape
    for (y0, x0), patch in patches:
        if (y0, x0) not in guided:
            continue
        y1, x1 = y0 + patch.shape[0], x0 + patch.shape[1]
        both = cv2.bitwise_and(masks.soft(alpha[y0:y1, x0:x1]), masks.soft(unmixing[y0:y1, x0:x1])) > 0
        if not both.any():
            continue
        ry0, rx0, ry1, rx1 = max(0, y0 - guide.REACH), max(0, x0 - guide.REACH), min(h, y1 + guide.REACH), min(w, x1 + guide.REACH)
        trusted = guide.trust(unmixing[ry0:ry1, rx0:rx1], rgb[ry0:ry1, rx0:rx1], colour)
        weight = np.float32(plain) * trusted[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
        weight[~both] = 0.0
        patch[:] = cv2.blendLinear(guided[(y0, x0)], patch, weight, 1.0 - weight)


def _patches(
    rgb: np.ndarray, alpha: np.ndarray, luts: tuple[np.ndarray, np.ndarray], width: float, tile: int, progress: Fraction,
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Image, the alpha to unmix by, confidences, the detail width, tile side and progress -> ((y0, x0), colours) of
    each tile holding soft pixels, its soft pixels re-estimated."""
    h, w = alpha.shape
    soft = masks.soft(alpha)
    starts = [(y0, x0) for y0 in range(0, h, tile) for x0 in range(0, w, tile) if soft[y0 : y0 + tile, x0 : x0 + tile].any()]
    del soft
    if not starts:
        return []
    box = box_side(h, w)
    filled = fill.fill_grid(_grid(rgb, alpha, *luts))

    def run(start: tuple[int, int]) -> np.ndarray:
        y0, x0 = start
        return _tile(rgb, alpha, filled, luts, box, width, y0, x0, min(h, y0 + tile), min(w, x0 + tile))

    patches = []
    for done, patch in enumerate(workers.pool().map(run, starts), start=1):
        patches.append(patch)
        progress(done / len(starts))  # from the calling thread; raising leaves the workers to finish their tiles
    return list(zip(starts, patches))


def box_side(h: int, w: int) -> int:
    """A picture's height and width -> the odd side of the second pass's box (it grows with the picture, as a
    model's alpha errors do)."""
    return min(max(int(round(max(h, w) * BOX_PER_PIXEL)), BOX_MIN), BOX_MAX) | 1


def _confidences(q_background: float) -> tuple[np.ndarray, np.ndarray]:
    """The background's power Q -> (foreground, background) confidence of each alpha level 0..255, float32."""
    a = np.arange(256, dtype=np.float64) / 255.0
    return (a**P_FOREGROUND).astype(np.float32), ((1.0 - a) ** q_background).astype(np.float32)


def _grid(rgb: np.ndarray, alpha: np.ndarray, lut_f: np.ndarray, lut_b: np.ndarray) -> np.ndarray:
    """Picture -> its 2^fill.GRID_SHIFT-reduced confidence grid (H/8 x W/8 x 8 float32), one light pass in row stripes."""
    h, w = alpha.shape
    gh, gw = (h + (1 << fill.GRID_SHIFT) - 1) >> fill.GRID_SHIFT, (w + (1 << fill.GRID_SHIFT) - 1) >> fill.GRID_SHIFT
    out = np.empty((gh, gw, 8), np.float32)
    workers.in_bands(gh, lambda band: fill.block_means(rgb, alpha, lut_f, lut_b, fill.GRID_SHIFT, band.start, band.stop, out))
    return out


def _tile(
    rgb: np.ndarray, alpha: np.ndarray, filled: np.ndarray, luts: tuple[np.ndarray, np.ndarray],
    box: int, width: float, ty0: int, tx0: int, ty1: int, tx1: int,
) -> np.ndarray:
    """One tile holding soft pixels -> the tile's colours with its soft pixels re-estimated, from a region padded for
    the box and the fine levels."""
    h, w = alpha.shape
    lut_f, lut_b = luts
    half = box // 2
    cell = 1 << fill.GRID_SHIFT
    # region where first-pass colours are needed (the box's reach), then aligned and padded by a
    # grid cell for the fine levels of the fill
    ny0, nx0, ny1, nx1 = max(0, ty0 - half), max(0, tx0 - half), min(h, ty1 + half), min(w, tx1 + half)
    ay0, ax0 = max(0, (ny0 // cell - 1) * cell), max(0, (nx0 // cell - 1) * cell)
    ay1, ax1 = min(h, (-(-ny1 // cell) + 1) * cell), min(w, (-(-nx1 // cell) + 1) * cell)
    # fine levels 1 .. fill.GRID_SHIFT-1 of the region, level fill.GRID_SHIFT from the whole-picture fill
    sums = fill.region_level1(rgb, alpha, lut_f, lut_b, ay0, ax0, ay1, ax1)
    pyramid = [sums]
    for _ in range(fill.GRID_SHIFT - 2):
        pyramid.append(fill.pull(pyramid[-1]))
    g0y, g0x = max(0, ay0 // cell - 1), max(0, ax0 // cell - 1)
    g1y, g1x = min(filled.shape[0], -(-ay1 // cell) + 1), min(filled.shape[1], -(-ax1 // cell) + 1)
    coarse = np.ascontiguousarray(filled[g0y:g1y, g0x:g1x])
    cy0, cx0 = g0y, g0x
    for level in range(fill.GRID_SHIFT - 1, 0, -1):
        level_sums = pyramid[level - 1]
        fy0, fx0 = ay0 >> level, ax0 >> level
        fine = np.empty(level_sums.shape[:2] + (6,), np.float32)
        fill.push(
            coarse, cy0, cx0, (h + (2 << level) - 1) >> (level + 1), (w + (2 << level) - 1) >> (level + 1),
            level_sums, fy0, fx0, np.float32(fill.K_FILL), fine,
        )
        coarse, cy0, cx0 = fine, fy0, fx0
    l1h, l1w = (h + 1) >> 1, (w + 1) >> 1
    rh, rw = ny1 - ny0, nx1 - nx0
    num = np.empty((rh, rw, 3), np.float32)
    den = np.empty((rh, rw), np.float32)
    bg = np.zeros((rh, rw, 3), np.float32)
    unmix.first_pass(
        rgb, alpha, ny0, nx0, lut_f, lut_b, coarse, cy0, cx0, l1h, l1w,
        np.float32(fill.K_FILL), np.float32(TAU), np.float32(width), np.float32(DETAIL_POWER), np.float32(MIN_ALPHA),
        num, den, bg,
    )
    # the box reaches past the picture's edge by reflection, as blur fusion's does; the region is
    # padded by the box's half side wherever the picture goes on, so tiles agree with a whole-picture run
    out = rgb[ty0:ty1, tx0:tx1].copy()
    num_box = cv2.blur(num, (box, box))
    den_box = cv2.blur(den, (box, box))
    unmix.second_pass(
        rgb, alpha, ty0, tx0, ty1, tx1, ny0, nx0, num_box, den_box, bg,
        np.float32(TAU), np.float32(width), np.float32(DETAIL_POWER), np.float32(MIN_ALPHA), out,
    )
    return out
