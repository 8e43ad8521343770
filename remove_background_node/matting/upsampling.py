"""Coarse to fine: a band solved at reduced size carried to full size by the closed-form model's local linear colour model."""

from __future__ import annotations

import cv2
import numpy as np

from ..kernels import kernel, readonly
from .laplacian import bbox

# what _bilinear_sources returns: for each full-size position, two reduced positions and a weight
Sources = tuple[np.ndarray, np.ndarray, np.ndarray]
SOURCES = f"Tuple(({readonly('i8', 1)}, {readonly('i8', 1)}, {readonly('f8', 1)}))"  # its numba signature


def upsample_linear_model(
    rgb: np.ndarray, unknown: np.ndarray, small_rgb: np.ndarray, small_alpha: np.ndarray, radius: int, eps: float
) -> np.ndarray:
    """Full-size uint8 image and unknown map, the reduced uint8 image and float32 alpha, window radius, regulariser
    -> float64 alpha at the full-size unknown pixels (in their order).

    A guided filter: in every (2r+1)^2 window of the reduced picture, alpha ~ a . colour + b (the
    closed-form model's own local linear fit); a and b are averaged over the windows, upsampled
    bilinearly (as cv2.INTER_LINEAR) and applied to the full-size colours. Only the windows the
    unknown pixels reach are fitted: the band is a small part of the picture, and whole-picture
    float planes at 4096x4096 cost more memory traffic than the arithmetic.
    """
    box = bbox(unknown)
    if box is None:
        return np.zeros(0)
    (height, width), (small_h, small_w) = unknown.shape, small_alpha.shape
    rows, cols = _bilinear_sources(height, small_h), _bilinear_sources(width, small_w)
    reached = _reached_sources(unknown, box, rows, cols, small_h, small_w)
    side = 2 * radius + 1
    fitted = cv2.dilate(reached.view(np.uint8), np.ones((side, side), np.uint8)).view(bool)  # their windows
    window_rows, window_cols = _reflected_windows(small_h, radius), _reflected_windows(small_w, radius)
    a, b = _fit_windows(small_rgb, small_alpha, fitted, window_rows, window_cols, eps)
    mean_a, mean_b = _average_windows(a, b, reached, window_rows, window_cols)
    return _apply_model(rgb, unknown, box, rows, cols, int(np.count_nonzero(unknown)), mean_a, mean_b)


def _bilinear_sources(size: int, small: int) -> Sources:
    """Full and reduced length of one axis -> for each full-size position, the two reduced positions bilinear
    upsampling reads and the weight of the second (cv2.INTER_LINEAR's sampling, clamped at the ends)."""
    f = (np.arange(size) + 0.5) * (small / size) - 0.5
    first = np.floor(f)
    i0 = np.clip(first, 0, small - 1).astype(np.int64)
    i1 = np.clip(first + 1, 0, small - 1).astype(np.int64)
    return i0, i1, f - first


def _reflected_windows(size: int, radius: int) -> np.ndarray:
    """Axis length and window radius -> size x (2r+1) int64 positions of each window, reflected at the
    ends as cv2.BORDER_REFLECT does (and clamped, for axes shorter than the radius)."""
    at = np.arange(size)[:, None] + np.arange(-radius, radius + 1)[None, :]
    at = np.where(at < 0, -at - 1, at)
    at = np.where(at >= size, 2 * size - at - 1, at)
    return np.clip(at, 0, size - 1).astype(np.int64)


@kernel(f"b1[:, ::1]({readonly('b1', 2)}, {readonly('i8', 1)}, {SOURCES}, {SOURCES}, i8, i8)")
def _reached_sources(
    unknown: np.ndarray, box: np.ndarray, rows: Sources, cols: Sources, small_h: int, small_w: int
) -> np.ndarray:
    """Full-size unknown map, its bbox, the bilinear sources of its rows and columns (``_bilinear_sources``) and
    the reduced size -> bool map of the reduced pixels that bilinear upsampling reads for some unknown pixel."""
    out = np.zeros((small_h, small_w), dtype=np.bool_)
    for y in range(box[0], box[1]):
        y0, y1 = rows[0][y], rows[1][y]
        for x in range(box[2], box[3]):
            if not unknown[y, x]:
                continue
            x0, x1 = cols[0][x], cols[1][x]
            out[y0, x0] = True
            out[y0, x1] = True
            out[y1, x0] = True
            out[y1, x1] = True
    return out


@kernel(f"Tuple((f4[:, :, ::1], f4[:, ::1]))({readonly('u1', 3)}, {readonly('f4', 2)}, {readonly('b1', 2)}, {readonly('i8', 2)}, {readonly('i8', 2)}, f8)")
def _fit_windows(
    rgb: np.ndarray, alpha: np.ndarray, where: np.ndarray, window_rows: np.ndarray, window_cols: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 image, float32 alpha, bool map, each row's and column's window positions (``_reflected_windows``),
    epsilon -> (a HxWx3, b HxW) float32: the linear fit alpha ~ a . colour + b of the window centred on each
    pixel of the map (zero elsewhere).

    The 3x3 solve is by cofactors in float64: the colour covariance is nearly singular where colour
    is flat (eps keeps it invertible)."""
    height, width = alpha.shape
    a = np.zeros((height, width, 3), dtype=np.float32)
    b = np.zeros((height, width), dtype=np.float32)
    count = window_rows.shape[1] * window_cols.shape[1]
    for y in range(height):
        for x in range(width):
            if not where[y, x]:
                continue
            m0 = m1 = m2 = ma = 0.0
            s00 = s01 = s02 = s11 = s12 = s22 = 0.0
            v0 = v1 = v2 = 0.0
            for yy in window_rows[y]:
                for xx in window_cols[x]:
                    i0 = rgb[yy, xx, 0] / 255.0
                    i1 = rgb[yy, xx, 1] / 255.0
                    i2 = rgb[yy, xx, 2] / 255.0
                    al = np.float64(alpha[yy, xx])
                    m0 += i0
                    m1 += i1
                    m2 += i2
                    ma += al
                    s00 += i0 * i0
                    s01 += i0 * i1
                    s02 += i0 * i2
                    s11 += i1 * i1
                    s12 += i1 * i2
                    s22 += i2 * i2
                    v0 += i0 * al
                    v1 += i1 * al
                    v2 += i2 * al
            m0 /= count
            m1 /= count
            m2 /= count
            ma /= count
            a00 = s00 / count - m0 * m0 + eps
            a01 = s01 / count - m0 * m1
            a02 = s02 / count - m0 * m2
            a11 = s11 / count - m1 * m1 + eps
            a12 = s12 / count - m1 * m2
            a22 = s22 / count - m2 * m2 + eps
            v0 = v0 / count - m0 * ma
            v1 = v1 / count - m1 * ma
            v2 = v2 / count - m2 * ma
            c00 = a11 * a22 - a12 * a12
            c01 = a02 * a12 - a01 * a22
            c02 = a01 * a12 - a02 * a11
            c11 = a00 * a22 - a02 * a02
            c12 = a01 * a02 - a00 * a12
            c22 = a00 * a11 - a01 * a01
            inv_det = 1.0 / (a00 * c00 + a01 * c01 + a02 * c02)
            r0 = (c00 * v0 + c01 * v1 + c02 * v2) * inv_det
            r1 = (c01 * v0 + c11 * v1 + c12 * v2) * inv_det
            r2 = (c02 * v0 + c12 * v1 + c22 * v2) * inv_det
            a[y, x, 0] = r0
            a[y, x, 1] = r1
            a[y, x, 2] = r2
            b[y, x] = ma - r0 * m0 - r1 * m1 - r2 * m2
    return a, b


@kernel(f"Tuple((f4[:, :, ::1], f4[:, ::1]))({readonly('f4', 3)}, {readonly('f4', 2)}, {readonly('b1', 2)}, {readonly('i8', 2)}, {readonly('i8', 2)})")
def _average_windows(
    a: np.ndarray, b: np.ndarray, where: np.ndarray, window_rows: np.ndarray, window_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """a HxWx3, b HxW, bool map, each row's and column's window positions -> their means over the window centred
    on each pixel of the map (zero elsewhere): every window that holds a pixel votes for its alpha."""
    height, width = b.shape
    mean_a = np.zeros((height, width, 3), dtype=np.float32)
    mean_b = np.zeros((height, width), dtype=np.float32)
    count = window_rows.shape[1] * window_cols.shape[1]
    for y in range(height):
        for x in range(width):
            if not where[y, x]:
                continue
            t0 = t1 = t2 = tb = 0.0
            for yy in window_rows[y]:
                for xx in window_cols[x]:
                    t0 += a[yy, xx, 0]
                    t1 += a[yy, xx, 1]
                    t2 += a[yy, xx, 2]
                    tb += b[yy, xx]
            mean_a[y, x, 0] = t0 / count
            mean_a[y, x, 1] = t1 / count
            mean_a[y, x, 2] = t2 / count
            mean_b[y, x] = tb / count
    return mean_a, mean_b


@kernel(f"f8[::1]({readonly('u1', 3)}, {readonly('b1', 2)}, {readonly('i8', 1)}, {SOURCES}, {SOURCES}, i8, {readonly('f4', 3)}, {readonly('f4', 2)})")
def _apply_model(
    rgb: np.ndarray, unknown: np.ndarray, box: np.ndarray, rows: Sources, cols: Sources, n: int, mean_a: np.ndarray,
    mean_b: np.ndarray,
) -> np.ndarray:
    """Full-size uint8 image, unknown map, its bbox, the bilinear sources of its rows and columns, the count of
    unknowns and the reduced-size model (a HxWx3, b HxW) -> float64 alpha a . colour + b at each unknown pixel
    (row-major order), a and b sampled bilinearly."""
    out = np.empty(n, dtype=np.float64)
    k = 0
    for y in range(box[0], box[1]):
        y0, y1, ty = rows[0][y], rows[1][y], rows[2][y]
        for x in range(box[2], box[3]):
            if not unknown[y, x]:
                continue
            x0, x1, tx = cols[0][x], cols[1][x], cols[2][x]
            w00 = (1.0 - ty) * (1.0 - tx)
            w01 = (1.0 - ty) * tx
            w10 = ty * (1.0 - tx)
            w11 = ty * tx
            value = w00 * mean_b[y0, x0] + w01 * mean_b[y0, x1] + w10 * mean_b[y1, x0] + w11 * mean_b[y1, x1]
            for ch in range(3):
                coeff = (
                    w00 * mean_a[y0, x0, ch] + w01 * mean_a[y0, x1, ch] + w10 * mean_a[y1, x0, ch] + w11 * mean_a[y1, x1, ch]
                )
                value += coeff * (rgb[y, x, ch] / 255.0)
            out[k] = value
            k += 1
    return out
