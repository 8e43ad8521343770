"""Alpha matting that scales: rembg's closed-form matting, solved only in the unknown band.

One stage a module: ``trimap`` and ``solve`` here (rembg's trimap rule, for a mask from elsewhere
with its narrow parts kept, then the band solved at full size up to FULL_UNKNOWNS unknown pixels,
else at a reduced size and carried back to full size), ``laplacian`` (the band's sparse system),
``solver`` (CG with a block incomplete-Cholesky preconditioner), ``upsampling`` (the coarse-to-fine
linear colour model). How it compares with rembg's whole-picture matting is measured by
``benchmarks.matting_check`` (README, Performance).

``solve`` calls an optional ``checkpoint(fraction)`` from the solving thread at fixed points of the
work (the band's Laplacian, each factored block, each CG iteration, the upsampling) and, while
blocks are factored, every ``solver.WAIT_SECONDS`` as well; whatever it raises propagates out at
once (after a block still being factored finishes), which is how a cancelled InvokeAI queue item
stops.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .. import heap
from .progress import Checkpoint, Fraction
from .solver import band_solve
from .upsampling import upsample_linear_model

UNKNOWN = 128
CG_RTOL = 1e-7  # pymatting's cg default, which rembg uses: the full-size solve is rembg's alpha
# enough for the coarse level: its error is the reduced size's, so a tighter tolerance buys CG iterations, not accuracy
COARSE_RTOL = 3e-4
FULL_UNKNOWNS = 150_000  # above this many unknown pixels (~1400x1400 pictures), solve at a reduced size
COARSE_UNKNOWNS = 600_000  # at most this many unknown pixels at the reduced size (factor 2 up to ~4800x4800)
GUIDE_EPSILON = 1e-4  # regulariser of the coarse-to-fine linear colour model

__all__ = ["UNKNOWN", "Checkpoint", "has_both_regions", "skipped_because", "solve", "trimap", "trimap_keeping_narrow_parts"]


def trimap(mask: np.ndarray, fg_threshold: int, bg_threshold: int, erode_size: int) -> np.ndarray:
    """HxW uint8 mask -> HxW uint8 trimap: 255 sure subject, 0 sure background, 128 unknown (rembg's rule)."""
    if erode_size > 0:
        kernel = np.ones((erode_size, erode_size), dtype=np.uint8)
    else:
        kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # scipy's default structure
    fg = (mask > fg_threshold).view(np.uint8)
    bg = (mask < bg_threshold).view(np.uint8)
    # scipy erodes with the border as 0 for the subject and as 1 (border_value=1) for the background
    is_fg = cv2.erode(fg, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    is_bg = cv2.erode(bg, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    out = np.full(mask.shape, UNKNOWN, dtype=np.uint8)
    out[is_fg.view(bool)] = 255
    out[is_bg.view(bool)] = 0
    return out


def trimap_keeping_narrow_parts(mask: np.ndarray, fg_threshold: int, bg_threshold: int, erode_size: int) -> np.ndarray:
    """HxW uint8 mask from elsewhere -> ``trimap``'s trimap, with a sure middle in the mask's parts narrower than the
    erode size, eroded half as far."""
    # rembg's erosion empties a strap, a finger or a gap between an arm and the body outright, and matting then
    # fills the gap with subject and the strap with background from the sure regions around them; a hard mask
    # from elsewhere is a few pixels off at most, so their middles are still sure
    tri = trimap(mask, fg_threshold, bg_threshold, erode_size)
    radius = (erode_size // 2 + 1) // 2
    if radius < 1:
        return tri
    wide_kernel = np.ones((erode_size, erode_size), dtype=np.uint8)
    narrow_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    for value, region, border in ((255, mask > fg_threshold, 0), (0, mask < bg_threshold, 1)):
        region = region.view(np.uint8)
        wide = cv2.dilate((tri == value).view(np.uint8), wide_kernel)  # the parts rembg's erosion keeps a middle of
        middle = cv2.erode(region, narrow_kernel, borderType=cv2.BORDER_CONSTANT, borderValue=border)
        tri[(middle > wide) & (tri == UNKNOWN)] = value
    return tri


def has_both_regions(tri: np.ndarray) -> bool:
    """Trimap -> whether it holds sure subject and sure background, which the solver needs."""
    return bool((tri == 255).any() and (tri == 0).any())


def skipped_because(
    tri: np.ndarray, settings: tuple[int, int, int], given: bool = False, mask: np.ndarray | None = None,
) -> str:
    """A trimap without both sure regions, the (subject threshold, background threshold, erode size) that made it,
    whether the user gave the trimap and the mask it was made from -> why matting was skipped and what to change, for
    a person (never a change that cannot help)."""
    erode_size = settings[2]
    no_subject = not (tri == 255).any()
    missing = "sure subject (255)" if no_subject else "sure background (0)"
    height, width = tri.shape
    if given:
        return (
            f"Alpha matting skipped: the {width}x{height} trimap has no {missing}, so the mask is used as it is. "
            "Paint some of the trimap white (sure subject) and some black (sure background), or leave the trimap out "
            "to use the band built from the mask."
        )
    return (
        f"Alpha matting skipped: with erode size {erode_size} the {width}x{height} mask has no {missing} left "
        f"for matting to start from, so the mask is used as it is. {_advice(no_subject, settings, mask)}."
    )


def _advice(no_subject: bool, settings: tuple[int, int, int], mask: np.ndarray | None) -> str:
    """Which sure region is missing, the trimap's settings and the mask (None: not known) -> what to change."""
    fg_threshold, bg_threshold, erode_size = settings
    if no_subject:
        threshold, limit, side = fg_threshold, 255, "subject"
        rule, move, level = "above it count as sure subject", "lower", None if mask is None else int(mask.max())
        past = level is not None and level <= fg_threshold
    else:
        threshold, limit, side = bg_threshold, 0, "background"
        rule, move, level = "below it count as sure background", "raise", None if mask is None else int(mask.min())
        past = level is not None and level >= bg_threshold
    if level == 255 - limit:  # black where a subject is wanted, white where a background is
        return (f"The mask is {'black' if no_subject else 'white'} everywhere: there is no "
                f"{'subject to refine' if no_subject else 'background to refine it against'}")
    if threshold == limit:
        return f"{move.capitalize()} the {side} threshold ({threshold}): only mask values {rule}, and none can be"
    if past:
        return (f"{move.capitalize()} the {side} threshold ({threshold}) {'below' if no_subject else 'above'} the "
                f"mask's {'highest' if no_subject else 'lowest'} level ({level}): only mask values {rule}")
    advice = f"{move} the {side} threshold ({threshold}): only mask values {rule}"
    return f"Lower the erode size, or {advice}" if erode_size > 0 else advice[0].upper() + advice[1:]


def solve(rgb: np.ndarray, tri: np.ndarray, checkpoint: Checkpoint | None = None) -> np.ndarray:
    """HxWx3 uint8 image, trimap and optional checkpoint(fraction done) -> HxW uint8 alpha from closed-form matting."""
    progress = Fraction(checkpoint)
    progress(0.0)
    alpha = solve_alpha(np.ascontiguousarray(rgb, dtype=np.uint8), np.ascontiguousarray(tri, dtype=np.uint8), progress)
    progress(1.0)
    return alpha


def solve_alpha(rgb: np.ndarray, tri: np.ndarray, progress: Fraction | None = None, factor: int | None = None) -> np.ndarray:
    """HxWx3 uint8 image, trimap, optional progress and downscale (by default coarse_factor's) -> HxW uint8 alpha
    from closed-form matting over the unknown band."""
    progress = progress or Fraction(None)
    unknown = tri == UNKNOWN
    alpha = tri.copy()
    n = int(np.count_nonzero(unknown))
    if n == 0:
        return alpha
    factor = coarse_factor(n) if factor is None else factor
    with heap.blocks_mapped(heap.MATTING_FROM):  # or a long-running server's heaps keep the solve's big blocks
        if factor == 1:
            alpha[unknown] = _to_u8(band_solve(rgb, tri, unknown, n, CG_RTOL, progress))
        else:
            alpha[unknown] = _to_u8(coarse_guess(rgb, tri, unknown, factor, progress))
    return alpha


def coarse_factor(unknowns: int) -> int:
    """Number of unknown pixels -> integer downscale for the solve: 1 (full size) up to FULL_UNKNOWNS, else
    the smallest factor >= 2 that brings the band under COARSE_UNKNOWNS (each step coarser loses hair)."""
    if unknowns <= FULL_UNKNOWNS:
        return 1
    return max(2, math.ceil(math.sqrt(unknowns / COARSE_UNKNOWNS)))


def coarse_guess(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, factor: int, progress: Fraction | None = None) -> np.ndarray:
    """Image, trimap, unknown map, downscale, progress -> float64 alpha at the unknown pixels (in their order):
    the band solved at 1/factor, carried to full size by its local linear colour model."""
    progress = progress or Fraction(None)
    height, width = tri.shape
    size = (max(1, width // factor), max(1, height // factor))
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    area = cv2.resize(tri, size, interpolation=cv2.INTER_AREA)
    # a coarse pixel is sure only when every full pixel under it is
    small_tri = np.where(area == 255, 255, np.where(area == 0, 0, UNKNOWN)).astype(np.uint8)
    small_unknown = small_tri == UNKNOWN
    small_alpha = small_tri.astype(np.float32) / 255.0
    count = int(np.count_nonzero(small_unknown))
    if count:
        solved = band_solve(small_rgb, small_tri, small_unknown, count, COARSE_RTOL, progress.part(0.0, 0.9))
        small_alpha[small_unknown] = np.clip(solved, 0.0, 1.0)
    radius = 1 if factor < 4 else 2
    guess = upsample_linear_model(rgb, unknown, small_rgb, small_alpha, radius, GUIDE_EPSILON)
    progress(1.0)
    return np.clip(guess, 0.0, 1.0, out=guess)


def _to_u8(values: np.ndarray) -> np.ndarray:
    """Float array in 0..1 -> uint8 array in 0..255, clipped and truncated as rembg does."""
    return np.clip(values * 255, 0, 255).astype(np.uint8)
