"""Alpha matting that scales: rembg's closed-form matting, solved only in the unknown band.

Method
------
rembg (``alpha_matting_cutout``) builds a trimap from the model's mask, then calls pymatting's
``estimate_alpha_cf`` and ``estimate_foreground_ml`` on the *whole* image. pymatting allocates
the matting Laplacian's 5x5 stencil for every pixel (about 400 bytes a pixel: 6.7 GB at 4096x4096)
and runs the foreground solver over every pixel, although only the unknown band changes anything.

Here the same equations are solved with work and memory proportional to the band:

1. ``trimap``: rembg's rule (thresholds, then erosion with an ``erode x erode`` square; the
   background erodes with the image border counted as background), done with OpenCV's erosion,
   which gives the same trimap as scipy's ``binary_erosion`` several times faster.
2. ``solve`` / alpha: the closed-form matting Laplacian (Levin et al. 2008, 3x3 windows,
   epsilon 1e-7, as pymatting's ``cf_laplacian``) is built by a numba kernel only for windows that
   touch an unknown pixel, and only the rows of unknown pixels are kept. Known neighbours move to
   the right-hand side: ``L_UU x = -L_UK alpha_K``. That is exactly the reduced system pymatting
   solves after building the full Laplacian, so the result is the same alpha; it is solved with
   pymatting's own ichol preconditioner and conjugate gradient at rembg's tolerance.
3. ``solve`` / foreground colour: pymatting's multi-level ``estimate_foreground_ml`` runs on tiles
   (256 px core + 32 px margin) that hold unknown pixels, and only the band's pixels are written
   back; elsewhere the foreground is the image itself, which is what the solver converges to where
   alpha is 1 (and where alpha is 0 the cutout zeroes the colour anyway).

Full-size arrays are the uint8 image, trimap, alpha and foreground plus one int32 index map;
everything float is the size of the band or of one tile.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

UNKNOWN = 128
EPSILON = 1e-7  # pymatting's cf_laplacian default, which rembg uses
CG_RTOL = 1e-7  # pymatting's cg default, which rembg uses
CG_MAXITER = 10000
DIRECT_UNKNOWNS = 150_000  # above this many unknown pixels, solve coarse first (ichol cost grows faster than n)
GUIDE_EPSILON = 1e-4  # regulariser of the coarse-to-fine linear colour model
REFINE_ITERATIONS = 60  # Jacobi-CG steps at full size after the coarse solve
FG_TILE = 256
FG_MARGIN = 32


def trimap(mask: np.ndarray, fg_threshold: int, bg_threshold: int, erode_size: int) -> np.ndarray:
    """HxW uint8 mask -> HxW uint8 trimap: 255 sure subject, 0 sure background, 128 unknown (rembg's rule)."""
    import cv2  # InvokeAI ships OpenCV; imported on use to keep the pack import cheap

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


def has_both_regions(tri: np.ndarray) -> bool:
    """Trimap -> whether it holds sure subject and sure background, which the solver needs."""
    return bool((tri == 255).any() and (tri == 0).any())


def solve(rgb: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 uint8 image and trimap -> (HxW uint8 alpha, HxWx3 uint8 foreground colour)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    tri = np.ascontiguousarray(tri, dtype=np.uint8)
    alpha = solve_alpha(rgb, tri)
    return alpha, foreground(rgb, tri, alpha)


def solve_alpha(rgb: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 image and trimap -> HxW uint8 alpha from closed-form matting over the unknown band."""
    unknown = tri == UNKNOWN
    alpha = tri.copy()
    n = int(np.count_nonzero(unknown))
    if n == 0:
        return alpha
    factor = coarse_factor(n)
    if factor == 1:
        matrix, rhs = band_system(rgb, tri, unknown, n)
        alpha[unknown] = _to_u8(_cg_solve(matrix, rhs))
        return alpha
    guess = coarse_guess(rgb, tri, unknown, factor)
    matrix, rhs = band_system(rgb, tri, unknown, n)
    alpha[unknown] = _to_u8(jacobi_pcg(matrix, rhs, guess, REFINE_ITERATIONS))
    return alpha


def coarse_factor(unknowns: int) -> int:
    """Number of unknown pixels -> integer downscale that brings the exact solve under DIRECT_UNKNOWNS."""
    return max(1, math.ceil(math.sqrt(unknowns / DIRECT_UNKNOWNS)))


def coarse_guess(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, factor: int) -> np.ndarray:
    """Image, trimap, unknown map and downscale -> float64 alpha at the unknown pixels (in their order):
    the exact solve at 1/factor, carried to full size by its local linear colour model."""
    import cv2

    height, width = tri.shape
    size = (max(1, width // factor), max(1, height // factor))
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    area = cv2.resize(tri, size, interpolation=cv2.INTER_AREA)
    # a coarse pixel is sure only when every full pixel under it is
    small_tri = np.where(area == 255, 255, np.where(area == 0, 0, UNKNOWN)).astype(np.uint8)
    small_alpha = solve_alpha(small_rgb, small_tri).astype(np.float32) / 255.0
    radius = 1 if factor < 4 else 2
    a, b = linear_model(small_rgb.astype(np.float32) / 255.0, small_alpha, radius, GUIDE_EPSILON)
    guess = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)[unknown].astype(np.float64)
    for ch in range(3):  # one channel at a time: a full-size float plane, not three
        coeff = cv2.resize(np.ascontiguousarray(a[..., ch]), (width, height), interpolation=cv2.INTER_LINEAR)
        guess += coeff[unknown] * (rgb[..., ch][unknown] / 255.0)
    return np.clip(guess, 0.0, 1.0)


def linear_model(image: np.ndarray, alpha: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 float image, HxW float alpha, window radius, regulariser -> averaged (a HxWx3, b HxW) with
    alpha ~ a . I + b in every window: the closed-form model's own local linear fit (a guided filter)."""
    import cv2

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

    mean_i = box(image)
    mean_a = box(alpha)
    cov_ia = box(image * alpha[..., None]) - mean_i * mean_a[..., None]
    var = np.empty(image.shape[:2] + (3, 3), dtype=np.float32)
    for i in range(3):
        for j in range(i, 3):
            var[..., i, j] = var[..., j, i] = box(image[..., i] * image[..., j]) - mean_i[..., i] * mean_i[..., j]
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ia[..., None])[..., 0]
    b = mean_a - (a * mean_i).sum(axis=-1)
    return box(a), box(b)


def jacobi_pcg(matrix: Any, rhs: np.ndarray, x: np.ndarray, iterations: int) -> np.ndarray:
    """SPD sparse matrix, right-hand side, start vector, iteration count -> improved solution.

    Jacobi-preconditioned CG: cheap per step, and from a good start it only has to remove the
    fine detail the coarse level could not see."""
    norm_b = float(np.linalg.norm(rhs))
    if norm_b == 0.0:
        return np.zeros_like(rhs)
    inv_diag = 1.0 / matrix.diagonal()
    r = rhs - matrix @ x
    z = inv_diag * r
    p = z.copy()
    rz = float(r @ z)
    for _ in range(iterations):
        ap = matrix @ p
        step = rz / float(p @ ap)
        x += step * p
        r -= step * ap
        if np.linalg.norm(r) < CG_RTOL * norm_b:
            break
        z = inv_diag * r
        rz_next = float(r @ z)
        p *= rz_next / rz
        p += z
        rz = rz_next
    return x


def band_system(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, n: int) -> tuple[Any, np.ndarray]:
    """Image, trimap, its unknown pixels and their count -> (L_UU as CSR, right-hand side -L_UK alpha_K)."""
    import scipy.sparse

    index = np.full(tri.shape, -1, dtype=np.int32)
    index[unknown] = np.arange(n, dtype=np.int32)
    if n == 0:
        return scipy.sparse.csr_matrix((0, 0)), np.zeros(0)
    rows = np.flatnonzero(unknown.any(axis=1))
    cols = np.flatnonzero(unknown.any(axis=0))
    box = np.array([rows[0], rows[-1] + 1, cols[0], cols[-1] + 1], dtype=np.int64)
    indptr, indices, values, rhs = _kernel()(rgb, tri, index, box, n, EPSILON)
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(n, n))
    return matrix, rhs


def _cg_solve(matrix: Any, rhs: np.ndarray) -> np.ndarray:
    """Sparse SPD system -> its solution, by pymatting's ichol-preconditioned CG at rembg's tolerance."""
    from pymatting import cg, ichol

    if not rhs.any():  # no sure-subject neighbour: alpha 0, and CG would divide by zero
        return np.zeros_like(rhs)
    return cg(matrix, rhs, M=ichol(matrix), rtol=CG_RTOL, maxiter=CG_MAXITER)


def foreground(rgb: np.ndarray, tri: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Image, trimap and uint8 alpha -> HxWx3 uint8 foreground colour, re-estimated in the unknown band."""
    from pymatting import estimate_foreground_ml

    out = rgb.copy()
    height, width = tri.shape
    unknown = tri == UNKNOWN
    for y0, y1, x0, x1 in band_tiles(unknown, FG_TILE):
        # solve on the tile plus a margin so the core does not see the tile's edge
        cy0, cy1 = max(0, y0 - FG_MARGIN), min(height, y1 + FG_MARGIN)
        cx0, cx1 = max(0, x0 - FG_MARGIN), min(width, x1 + FG_MARGIN)
        image = rgb[cy0:cy1, cx0:cx1].astype(np.float32) / 255.0
        fg = estimate_foreground_ml(image, alpha[cy0:cy1, cx0:cx1].astype(np.float32) / 255.0)
        core = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
        band = unknown[y0:y1, x0:x1]
        out[y0:y1, x0:x1][band] = _to_u8(fg[core][band])
    return out


def band_tiles(unknown: np.ndarray, tile: int) -> list[tuple[int, int, int, int]]:
    """HxW bool map and tile side -> (y0, y1, x0, x1) of the grid tiles that hold a True pixel."""
    height, width = unknown.shape
    ny, nx = -(-height // tile), -(-width // tile)
    padded = np.zeros((ny * tile, nx * tile), dtype=bool)
    padded[:height, :width] = unknown
    hit = padded.reshape(ny, tile, nx, tile).any(axis=(1, 3))
    return [
        (ty * tile, min(height, (ty + 1) * tile), tx * tile, min(width, (tx + 1) * tile))
        for ty, tx in zip(*np.nonzero(hit))
    ]


@functools.cache
def _kernel() -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """-> the band Laplacian builder compiled by numba (cached on disk; numba is imported on first use)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_laplacian_band)


def _laplacian_band(rgb, tri, index, box, n, eps):  # type: ignore[no-untyped-def]
    """uint8 image, trimap, int32 unknown-index map (-1 = known), bbox of the unknowns, their count
    and epsilon -> (indptr, indices, values) of L_UU in CSR and the right-hand side -L_UK alpha_K.

    Same arithmetic as pymatting's ``_cf_laplacian`` (3x3 windows, centres off the image border),
    but only over windows that hold an unknown pixel and only for the rows of unknown pixels.
    """
    height, width = tri.shape
    stencil = np.zeros((n, 5, 5))
    c = np.zeros((3, 3, 3))
    for y in range(max(1, box[0] - 1), min(height - 1, box[1] + 1)):
        for x in range(max(1, box[2] - 1), min(width - 1, box[3] + 1)):
            touches = False
            for dy in range(3):
                for dx in range(3):
                    if index[y + dy - 1, x + dx - 1] >= 0:
                        touches = True
            if not touches:
                continue
            for ch in range(3):
                s = 0.0
                for dy in range(3):
                    for dx in range(3):
                        s += rgb[y + dy - 1, x + dx - 1, ch] / 255.0
                for dy in range(3):
                    for dx in range(3):
                        c[dy, dx, ch] = rgb[y + dy - 1, x + dx - 1, ch] / 255.0 - s / 9.0
            a00 = eps
            a01 = 0.0
            a02 = 0.0
            a11 = eps
            a12 = 0.0
            a22 = eps
            for dy in range(3):
                for dx in range(3):
                    a00 += c[dy, dx, 0] * c[dy, dx, 0]
                    a01 += c[dy, dx, 0] * c[dy, dx, 1]
                    a02 += c[dy, dx, 0] * c[dy, dx, 2]
                    a11 += c[dy, dx, 1] * c[dy, dx, 1]
                    a12 += c[dy, dx, 1] * c[dy, dx, 2]
                    a22 += c[dy, dx, 2] * c[dy, dx, 2]
            a00 /= 9.0
            a01 /= 9.0
            a02 /= 9.0
            a11 /= 9.0
            a12 /= 9.0
            a22 /= 9.0
            det = a00 * a12 * a12 + a01 * a01 * a22 + a02 * a02 * a11 - a00 * a11 * a22 - 2 * a01 * a02 * a12
            inv_det = 1.0 / det
            m00 = (a12 * a12 - a11 * a22) * inv_det
            m01 = (a01 * a22 - a02 * a12) * inv_det
            m02 = (a02 * a11 - a01 * a12) * inv_det
            m11 = (a02 * a02 - a00 * a22) * inv_det
            m12 = (a00 * a12 - a01 * a02) * inv_det
            m22 = (a01 * a01 - a00 * a11) * inv_det
            for dyi in range(3):
                for dxi in range(3):
                    row = index[y + dyi - 1, x + dxi - 1]
                    if row < 0:
                        continue  # known rows are never solved for
                    s0 = c[dyi, dxi, 0]
                    s1 = c[dyi, dxi, 1]
                    s2 = c[dyi, dxi, 2]
                    c0 = m00 * s0 + m01 * s1 + m02 * s2
                    c1 = m01 * s0 + m11 * s1 + m12 * s2
                    c2 = m02 * s0 + m12 * s1 + m22 * s2
                    for dyj in range(3):
                        for dxj in range(3):
                            temp = c0 * c[dyj, dxj, 0] + c1 * c[dyj, dxj, 1] + c2 * c[dyj, dxj, 2]
                            same = 1.0 if (dyi == dyj and dxi == dxj) else 0.0
                            stencil[row, dyj - dyi + 2, dxj - dxi + 2] += same - (1.0 + temp) / 9.0
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices = np.empty(n * 25, dtype=np.int32)
    values = np.empty(n * 25, dtype=np.float64)
    rhs = np.zeros(n, dtype=np.float64)
    k = 0
    for y in range(box[0], box[1]):
        for x in range(box[2], box[3]):
            row = index[y, x]
            if row < 0:
                continue
            for dy in range(5):
                yj = y + dy - 2
                if yj < 0 or yj >= height:
                    continue
                for dx in range(5):
                    xj = x + dx - 2
                    if xj < 0 or xj >= width:
                        continue
                    col = index[yj, xj]
                    v = stencil[row, dy, dx]
                    if col >= 0:
                        indices[k] = col
                        values[k] = v
                        k += 1
                    elif tri[yj, xj] == 255:
                        rhs[row] -= v  # a known subject neighbour has alpha 1
            indptr[row + 1] = k
    return indptr, indices[:k], values[:k], rhs


def _to_u8(values: np.ndarray) -> np.ndarray:
    """Float array in 0..1 -> uint8 array in 0..255, clipped and truncated as rembg does."""
    return np.clip(values * 255, 0, 255).astype(np.uint8)
