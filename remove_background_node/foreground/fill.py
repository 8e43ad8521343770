"""Smooth foreground and background colour fields by coarse-to-fine filling (pull-push over a pyramid).

Every pixel is a colour sample with a confidence: alpha^P_FOREGROUND for the foreground field, so
only near-opaque pixels feed it (a model's soft pixels still carry the old background), and
(1 - alpha)^Q for the background field (Q from backdrop.py). Pulling averages samples up a pyramid of 2x2
cells; pushing comes back down, each level keeping its own colour where it has enough confidence
and taking the coarser level's elsewhere, so pixels far from any sample get the colour around them.
"""

from __future__ import annotations

import numpy as np

from ..kernels import kernel, readonly, writable

GRID_SHIFT = 3  # the whole-picture grid has one cell per 8x8 pixels
K_FILL = 2.0  # a level keeps its own colour where its mean confidence is at least 1/K, else the coarser one's

F3 = writable("float32", 3)


@kernel(f"void({readonly('u1', 3)}, {readonly('u1', 2)}, {readonly('f4', 1)}, {readonly('f4', 1)}, i8, i8, i8, {F3})")
def block_means(
    rgb: np.ndarray, alpha: np.ndarray, lut_f: np.ndarray, lut_b: np.ndarray, shift: int, row0: int, row1: int,
    out: np.ndarray,
) -> None:
    """Mean confidence-weighted colour and confidence of each 2^shift block, block rows row0..row1 (pixels outside count 0)."""
    h, w = alpha.shape
    side = 1 << shift
    inv = 1.0 / (side * side)
    gw = out.shape[1]
    for by in range(row0, row1):
        for bx in range(gw):
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
            for y in range(by * side, min(by * side + side, h)):
                for x in range(bx * side, min(bx * side + side, w)):
                    a = alpha[y, x]
                    wf = lut_f[a]
                    wb = lut_b[a]
                    r = np.float32(rgb[y, x, 0])
                    g = np.float32(rgb[y, x, 1])
                    b = np.float32(rgb[y, x, 2])
                    s0 += wf * r
                    s1 += wf * g
                    s2 += wf * b
                    s3 += wf
                    s4 += wb * r
                    s5 += wb * g
                    s6 += wb * b
                    s7 += wb
            out[by, bx, 0] = s0 * inv
            out[by, bx, 1] = s1 * inv
            out[by, bx, 2] = s2 * inv
            out[by, bx, 3] = s3 * inv
            out[by, bx, 4] = s4 * inv
            out[by, bx, 5] = s5 * inv
            out[by, bx, 6] = s6 * inv
            out[by, bx, 7] = s7 * inv



@kernel(f"{F3}({F3})")
def pull(fine: np.ndarray) -> np.ndarray:
    """Level of 8 sums -> next coarser level: 2x2 means, cells past an odd edge counting 0."""
    h, w, c = fine.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    out = np.zeros((ch, cw, c), np.float32)
    for y in range(h):
        for x in range(w):
            for k in range(c):
                out[y >> 1, x >> 1, k] += 0.25 * fine[y, x, k]
    return out


def _tap(i: int, lo: int, hi: int) -> tuple[int, int, float]:
    """Fine cell index i -> (lower coarse index, weight of the upper one) for a 2x bilinear upsample, clamped to lo..hi-1."""
    # fine cell i sits at coarse coordinate i / 2 - 0.25
    j = (i - 1) >> 1
    f = 0.25 if (i & 1) else 0.75
    j0 = min(max(j, lo), hi - 1)
    j1 = min(max(j + 1, lo), hi - 1)
    return j0, j1, f


def _bilinear(
    a: np.ndarray, ya: int, yb: int, xa: int, xb: int, w00: float, w01: float, w10: float, w11: float, k: int
) -> float:
    """Channel k of array a at four taps with their weights."""
    return w00 * a[ya, xa, k] + w01 * a[ya, xb, k] + w10 * a[yb, xa, k] + w11 * a[yb, xb, k]



@kernel(f"void({F3}, i8, i8, i8, i8, {F3}, i8, i8, f4, {F3})", helpers=(_tap,))
def push(
    coarse: np.ndarray, cy0: int, cx0: int, ch_glob: int, cw_glob: int, sums: np.ndarray, fy0: int, fx0: int,
    k_fill: float, out: np.ndarray,
) -> None:
    """Coarse filled F,B (6 channels, origin cy0,cx0 in its level) and this level's sums -> filled F,B of this level."""
    # Coarse taps are clamped to the cells the coarse array holds (and to the picture's level
    # size), so a region's outer rim differs from a whole-picture fill; callers keep a margin.
    h, w, _ = sums.shape
    chh, cww, _ = coarse.shape
    lo_y, hi_y = cy0, min(cy0 + chh, ch_glob)
    lo_x, hi_x = cx0, min(cx0 + cww, cw_glob)
    for y in range(h):
        ya, yb, fy = _tap(fy0 + y, lo_y, hi_y)
        ya -= cy0
        yb -= cy0
        for x in range(w):
            xa, xb, fx = _tap(fx0 + x, lo_x, hi_x)
            xa -= cx0
            xb -= cx0
            for part in range(2):
                o = 3 * part
                s = 4 * part
                d = sums[y, x, s + 3]
                t = min(1.0, k_fill * d)
                for k in range(3):
                    up = (1 - fy) * ((1 - fx) * coarse[ya, xa, o + k] + fx * coarse[ya, xb, o + k]) + fy * (
                        (1 - fx) * coarse[yb, xa, o + k] + fx * coarse[yb, xb, o + k]
                    )
                    own = sums[y, x, s + k] / d if d > 0 else up
                    out[y, x, o + k] = t * own + (1 - t) * up


def fill_grid(grid: np.ndarray) -> np.ndarray:
    """Confidence grid (8 sums) -> filled F,B on the grid (6 channels): pull to one cell, push back down."""
    levels = [grid]
    while levels[-1].shape[0] > 1 or levels[-1].shape[1] > 1:
        levels.append(pull(levels[-1]))
    top = levels[-1][0, 0]
    filled = np.empty((1, 1, 6), np.float32)
    for part in range(2):
        d = top[4 * part + 3]
        # nothing at all to fill from (e.g. no clear pixel): mid grey, never used at full weight
        filled[0, 0, 3 * part : 3 * part + 3] = top[4 * part : 4 * part + 3] / d if d > 0 else 127.5
    for sums in reversed(levels[:-1]):
        out = np.empty(sums.shape[:2] + (6,), np.float32)
        push(filled, 0, 0, filled.shape[0], filled.shape[1], sums, 0, 0, np.float32(K_FILL), out)
        filled = out
    return filled


def region_level1(
    rgb: np.ndarray, alpha: np.ndarray, lut_f: np.ndarray, lut_b: np.ndarray, y0: int, x0: int, y1: int, x1: int
) -> np.ndarray:
    """Aligned region -> its level-1 (2x2) confidence sums, 8 channels."""
    out = np.empty(((y1 - y0 + 1) // 2, (x1 - x0 + 1) // 2, 8), np.float32)
    block_means(
        np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(alpha[y0:y1, x0:x1]), lut_f, lut_b, 1, 0, out.shape[0], out
    )
    return out


