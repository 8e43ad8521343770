"""The closed-form matting Laplacian (Levin et al. 2008) over the unknown band only, as a sparse system."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from .. import masks
from ..kernels import kernel, readonly

EPSILON = 1e-7  # pymatting's cf_laplacian default, which rembg uses


def band_system(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, n: int) -> tuple[Any, np.ndarray]:
    """Image, trimap, its unknown pixels and their count -> (L_UU as CSR, right-hand side -L_UK alpha_K)."""
    index = np.full(tri.shape, -1, dtype=np.int32)
    index[unknown] = np.arange(n, dtype=np.int32)
    if n == 0:
        return scipy.sparse.csr_matrix((0, 0)), np.zeros(0)
    box = bbox(unknown)
    indptr, indices, values, rhs = _laplacian_band(rgb, tri, index, box, n, EPSILON)
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(n, n))
    return matrix, rhs


def bbox(where: np.ndarray) -> np.ndarray | None:
    """HxW bool map -> masks.extent of its True pixels as an int64 array for the kernels, or None."""
    box = masks.extent(where)
    return None if box is None else np.array(box, dtype=np.int64)


@kernel(f"Tuple((i8[::1], i4[::1], f8[::1], f8[::1]))({readonly('u1', 3)}, {readonly('u1', 2)}, {readonly('i4', 2)}, {readonly('i8', 1)}, i8, f8)")
def _laplacian_band(
    rgb: np.ndarray, tri: np.ndarray, index: np.ndarray, box: np.ndarray, n: int, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
