"""Alpha matting that scales: rembg's closed-form matting, solved only in the unknown band.

Method
------
rembg (``alpha_matting_cutout``) builds a trimap from the model's mask, then calls pymatting's
``estimate_alpha_cf`` and ``estimate_foreground_ml`` on the *whole* image. pymatting allocates
the matting Laplacian's 5x5 stencil for every pixel (about 400 bytes a pixel: 6.7 GB at 4096x4096),
factors the unknown block with a thresholded incomplete Cholesky (1e-4) whose fill grows faster
than the band, and runs the foreground solver over every pixel, although only the band matters.

Here the same equations are solved with work and memory proportional to the band:

1. ``trimap``: rembg's rule (thresholds, then erosion with an ``erode x erode`` square; the
   background erodes with the image border counted as background), done with OpenCV's erosion,
   which gives the same trimap as scipy's ``binary_erosion`` several times faster.
2. ``solve_alpha``: the closed-form matting Laplacian (Levin et al. 2008, 3x3 windows,
   epsilon 1e-7, as pymatting's ``cf_laplacian``) is built by a numba kernel only for windows that
   touch an unknown pixel, and only the rows of unknown pixels are kept. Known neighbours move to
   the right-hand side: ``L_UU x = -L_UK alpha_K``, exactly the reduced system pymatting solves.
   It is solved by conjugate gradient with a block-Jacobi incomplete Cholesky preconditioner:
   pymatting's ``ichol`` at a coarser drop threshold (5e-3, under a third of its default's fill) on two
   halves of the band, factored and applied in two threads (pymatting's kernels release the GIL).
   Up to ``FULL_UNKNOWNS`` unknown pixels (about a 1400x1400 picture) this runs at full size to
   rembg's tolerance, so the alpha is rembg's (within 1/255).
3. Above that, the band is solved at ``1/factor`` of the size (factor 2 up to ``COARSE_UNKNOWNS``
   coarse unknowns, about 4800x4800; area-averaged image, a coarse pixel is sure only when all of
   its fine pixels are) to a relative residual of 3e-4, and carried back to full size by the
   closed-form model's own local linear colour model ``alpha = a.I + b`` (a guided filter fitted
   on the coarse solution; its coefficients are upsampled and applied to the full-resolution
   colours), in the band only. On the two synthetic scenes of ``benchmarks.synthetic`` with a
   known alpha, factor 2 is 0.95-1.10x the exact (rembg's) error against the truth from 512x512
   to 4096x4096 (1.02x and 1.09x at 4096x4096; the old factor 4 was 1.23x), at a tenth of the
   exact solve's time; it loses most where hair is under ~2 px wide (scene "dense").
   Every full-size refinement tried from that start (Jacobi-, IC(0)- and ichol-preconditioned CG
   steps) first made the error *worse* (CG lowers the energy, not the distance to the true
   alpha), and a full-size factorisation alone costs more than the whole coarse path.
4. ``foreground``: blur fusion (Forte and Pitie 2021, ``masks.refine_foreground``) on strips of
   the image: two box-filter passes instead of pymatting's multi-level solver, which took
   6-10 s of a 4K matte; only pixels with 0 < alpha < 255 change, elsewhere it is the image.
   The price: on the synthetic scenes its colour error where 0.1 < alpha < 0.9 is about 1.5x
   that of pymatting's ``estimate_foreground_ml`` (``benchmarks.matting_check`` prints both).

``solve`` takes an optional ``checkpoint(fraction)``, called from the solving thread with the
fraction done (never decreasing), at most every ``CHECK_SECONDS`` and between pieces of work that
cannot be split (the band's Laplacian, one ichol block, the guided filter, one foreground strip;
at 4096x4096 here the longest gap was about 0.5 s). Whatever it raises propagates out at once
(the factor threads are joined first; nothing else is left behind), which is how a cancelled
InvokeAI queue item stops.

Full-size arrays are the uint8 image, trimap, alpha and foreground plus one int32 index map and
the band's float vectors; the rest is the size of the (coarse) band or of one strip.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

UNKNOWN = 128
EPSILON = 1e-7  # pymatting's cf_laplacian default, which rembg uses
CG_RTOL = 1e-7  # pymatting's cg default, which rembg uses: the full-size solve is rembg's alpha
COARSE_RTOL = 3e-4  # enough for the coarse level: against the truth, 1e-4 was no better (-0.8..+0.2 %) and ~20 % slower
CG_MAXITER = 10000
FULL_UNKNOWNS = 150_000  # above this many unknown pixels (~1400x1400 pictures), solve at a reduced size
COARSE_UNKNOWNS = 600_000  # at most this many unknown pixels at the reduced size (factor 2 up to ~4800x4800)
ICHOL_THRESHOLD = 5e-3  # drop threshold: pymatting's 1e-4 has 3.3x the fill (92 vs 28 a row at 4K); 3e-3 was ~15 % slower, same error
# diagonal shifts tried in turn; at this threshold the band's factor can break down without one,
# and every failed try costs a whole factorisation (and a warning printed by pymatting)
ICHOL_SHIFTS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
BLOCK_MIN_UNKNOWNS = 10_000  # below this, one block: the threads would cost more than they save
ICHOL_BLOCKS = 2  # independent diagonal blocks, factored in parallel; fixed so results do not depend on the CPU
GUIDE_EPSILON = 1e-4  # regulariser of the coarse-to-fine linear colour model
FG_STRIP = 1024  # rows of foreground estimated per checkpoint
FG_MARGIN = 128  # rows of context above and below a strip; blur fusion reads about 50 px away
CHECK_SECONDS = 0.25  # a checkpoint is called at most this often (and at the start and the end)

Checkpoint = Callable[[float], None]


class Progress:
    """Maps a stage's own 0..1 onto the overall 0..1 and calls the checkpoint at most every CHECK_SECONDS."""

    def __init__(self, checkpoint: Checkpoint | None, start: float = 0.0, end: float = 1.0, shared: list[float] | None = None):
        self.checkpoint, self.start, self.end = checkpoint, start, end
        # [time of the last call, highest fraction reported], shared by every part: one throttle,
        # and a fraction that never goes back (CG's residual does not fall monotonically)
        self.shared = shared if shared is not None else [-math.inf, 0.0]

    def __call__(self, fraction: float, force: bool = False) -> None:
        """Fraction of this stage done -> the checkpoint is called with the overall fraction (may raise)."""
        if self.checkpoint is None:
            return
        now = time.monotonic()
        if force or now - self.shared[0] >= CHECK_SECONDS:
            overall = self.start + (self.end - self.start) * min(1.0, max(0.0, fraction))
            self.shared[0], self.shared[1] = now, max(self.shared[1], overall)
            self.checkpoint(self.shared[1])

    def part(self, start: float, end: float) -> Progress:
        """Sub-range of this stage (its own 0..1) -> a Progress for it that shares the throttle."""
        span = self.end - self.start
        return Progress(self.checkpoint, self.start + span * start, self.start + span * end, self.shared)


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


def solve(rgb: np.ndarray, tri: np.ndarray, checkpoint: Checkpoint | None = None) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 uint8 image, trimap and optional checkpoint(fraction done) -> (HxW uint8 alpha, HxWx3 uint8 foreground)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    tri = np.ascontiguousarray(tri, dtype=np.uint8)
    progress = Progress(checkpoint)
    progress(0.0, force=True)
    alpha = solve_alpha(rgb, tri, progress.part(0.0, 0.85))
    fg = foreground(rgb, tri, alpha, progress.part(0.85, 1.0))
    progress(1.0, force=True)
    return alpha, fg


def solve_alpha(rgb: np.ndarray, tri: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """HxWx3 uint8 image, trimap, optional progress -> HxW uint8 alpha from closed-form matting over the unknown band."""
    progress = progress or Progress(None)
    unknown = tri == UNKNOWN
    alpha = tri.copy()
    n = int(np.count_nonzero(unknown))
    if n == 0:
        return alpha
    factor = coarse_factor(n)
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


def band_solve(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, n: int, rtol: float, progress: Progress) -> np.ndarray:
    """Image, trimap, unknown map, its count, tolerance, progress -> float64 alpha at the unknown pixels (in their order)."""
    from concurrent.futures import ThreadPoolExecutor

    matrix, rhs = band_system(rgb, tri, unknown, n)
    progress(0.1)
    if not rhs.any():  # no sure-subject neighbour: alpha 0, and CG would divide by zero
        return np.zeros(n)
    blocks = Blocks(matrix)
    del matrix  # the blocks hold all of it; keeping both would double the band's largest arrays
    # one worker per block: pymatting's ichol, its triangular solves and scipy's products release the GIL
    with ThreadPoolExecutor(max_workers=ICHOL_BLOCKS) as pool:
        preconditioner = block_ichol(blocks, pool, progress.part(0.1, 0.5))
        return pcg(lambda x: blocks.dot(x, pool), rhs, preconditioner, rtol, progress.part(0.5, 1.0))


class Blocks:
    """A sparse matrix cut into ICHOL_BLOCKS row ranges, each split into its diagonal block and the rest."""

    def __init__(self, matrix: Any):
        n = matrix.shape[0]
        count = ICHOL_BLOCKS if n >= BLOCK_MIN_UNKNOWNS else 1
        bounds = [int(b) for b in np.linspace(0, n, count + 1)]
        self.spans = list(zip(bounds[:-1], bounds[1:]))
        self.diagonal = [matrix[b0:b1, b0:b1] for b0, b1 in self.spans] if count > 1 else [matrix]
        # the coupling across a cut: only the few rows next to it have any
        self.left = [matrix[b0:b1, :b0] for b0, b1 in self.spans]
        self.right = [matrix[b0:b1, b1:] for b0, b1 in self.spans]

    def dot(self, x: np.ndarray, pool: ThreadPoolExecutor) -> np.ndarray:
        """Vector and thread pool -> the matrix times the vector, one block row per worker."""
        y = np.empty_like(x)

        def row(k: int) -> None:
            b0, b1 = self.spans[k]
            y[b0:b1] = self.diagonal[k] @ x[b0:b1] + self.left[k] @ x[:b0] + self.right[k] @ x[b1:]

        list(pool.map(row, range(len(self.spans))))
        return y


def block_ichol(blocks: Blocks, pool: ThreadPoolExecutor, progress: Progress) -> Callable[[np.ndarray], np.ndarray]:
    """Blocks of a sparse SPD matrix, thread pool, progress -> preconditioner: pymatting's ichol of each diagonal block.

    Dropping the coupling between the blocks costs a few CG iterations; in return the blocks are
    factored and applied in parallel, and each factor has less fill."""
    from concurrent.futures import FIRST_COMPLETED, wait

    futures = [pool.submit(_ichol_block, block) for block in blocks.diagonal]
    pending = set(futures)
    try:
        while pending:  # the checkpoint runs here, in the caller's thread, between waits
            _, pending = wait(pending, timeout=CHECK_SECONDS, return_when=FIRST_COMPLETED)
            progress(1.0 - len(pending) / len(futures))
    except BaseException:
        for future in futures:
            future.cancel()
        raise  # the caller's ``with`` joins a block still being factored (a fraction of a second)
    factors = [future.result() for future in futures]
    spans = blocks.spans

    def apply(r: np.ndarray) -> np.ndarray:
        z = np.empty_like(r)

        def one(k: int) -> None:
            b0, b1 = spans[k]
            z[b0:b1] = factors[k](r[b0:b1])

        list(pool.map(one, range(len(spans))))
        return z

    return apply


def _ichol_block(block: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Sparse SPD block -> its thresholded incomplete Cholesky factor, as a function applying its inverse."""
    from pymatting import ichol
    from pymatting.preconditioner.ichol import CholeskyDecomposition

    threshold = ICHOL_THRESHOLD
    while True:
        # pymatting's default reserves 4 GB of address space per call; the fill here stays under ~40 a row
        max_nnz = 100 * block.shape[0] + 1000
        try:
            # the block is symmetric, so pymatting reads its CSR arrays as CSC (a transposed view, no copy)
            values, rows, indptr = ichol(block, discard_threshold=threshold, shifts=list(ICHOL_SHIFTS), max_nnz=max_nnz).Ltuple
            break
        except ValueError as error:
            if "max_nnz" not in str(error):
                raise
            threshold *= 10  # an unusually dense factor: drop more, never run out of memory
    nnz = int(indptr[-1])
    # views into pymatting's reservation: its pages past nnz were never written, so they hold no memory
    return CholeskyDecomposition((values[:nnz], rows[:nnz], indptr))


def pcg(matrix: Any, rhs: np.ndarray, preconditioner: Callable[[np.ndarray], np.ndarray], rtol: float, progress: Progress) -> np.ndarray:
    """SPD matrix (or a function multiplying by it), right-hand side, preconditioner, relative tolerance, progress
    -> solution by pymatting's CG.

    Progress is the fraction of the way, in log-residual, from 1 to the tolerance."""
    from pymatting import cg

    def callback(_a: Any, _x: Any, _b: Any, norm_b: float, _r: Any, norm_r: float) -> None:
        progress(math.log(max(norm_r / norm_b, 1e-300)) / math.log(rtol))

    return cg(matrix, rhs, M=preconditioner, rtol=rtol, maxiter=CG_MAXITER, callback=callback)


def coarse_guess(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, factor: int, progress: Progress | None = None) -> np.ndarray:
    """Image, trimap, unknown map, downscale, progress -> float64 alpha at the unknown pixels (in their order):
    the band solved at 1/factor, carried to full size by its local linear colour model."""
    import cv2

    progress = progress or Progress(None)
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
    import cv2

    kernels = _upsampling()
    box = _bbox(unknown)
    if box is None:
        return np.zeros(0)
    (height, width), (small_h, small_w) = unknown.shape, small_alpha.shape
    rows, cols = _bilinear_sources(height, small_h), _bilinear_sources(width, small_w)
    reached = kernels["reached"](unknown, box, rows, cols, small_h, small_w)
    side = 2 * radius + 1
    fitted = cv2.dilate(reached.view(np.uint8), np.ones((side, side), np.uint8)).view(bool)  # their windows
    window_rows, window_cols = _reflected_windows(small_h, radius), _reflected_windows(small_w, radius)
    a, b = kernels["fit"](small_rgb, small_alpha, fitted, window_rows, window_cols, eps)
    mean_a, mean_b = kernels["average"](a, b, reached, window_rows, window_cols)
    return kernels["apply"](rgb, unknown, box, rows, cols, int(np.count_nonzero(unknown)), mean_a, mean_b)


def _bbox(where: np.ndarray) -> np.ndarray | None:
    """HxW bool map -> int64 [first row, last row + 1, first column, last column + 1] of its True pixels, or None."""
    rows = np.flatnonzero(where.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(where.any(axis=0))
    return np.array([rows[0], rows[-1] + 1, cols[0], cols[-1] + 1], dtype=np.int64)


def _bilinear_sources(size: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


@functools.cache
def _upsampling() -> dict[str, Callable[..., Any]]:
    """-> the guided upsampling's kernels compiled by numba (cached on disk; numba is imported on first use)."""
    import numba

    jit = numba.njit(cache=True, nogil=True)
    return {
        "reached": jit(_reached_sources),
        "fit": jit(_fit_windows),
        "average": jit(_average_windows),
        "apply": jit(_apply_model),
    }


def _reached_sources(unknown, box, rows, cols, small_h, small_w):  # type: ignore[no-untyped-def]
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


def _fit_windows(rgb, alpha, where, window_rows, window_cols, eps):  # type: ignore[no-untyped-def]
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


def _average_windows(a, b, where, window_rows, window_cols):  # type: ignore[no-untyped-def]
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


def _apply_model(rgb, unknown, box, rows, cols, n, mean_a, mean_b):  # type: ignore[no-untyped-def]
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


def band_system(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, n: int) -> tuple[Any, np.ndarray]:
    """Image, trimap, its unknown pixels and their count -> (L_UU as CSR, right-hand side -L_UK alpha_K)."""
    import scipy.sparse

    index = np.full(tri.shape, -1, dtype=np.int32)
    index[unknown] = np.arange(n, dtype=np.int32)
    if n == 0:
        return scipy.sparse.csr_matrix((0, 0)), np.zeros(0)
    box = _bbox(unknown)
    indptr, indices, values, rhs = _kernel()(rgb, tri, index, box, n, EPSILON)
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(n, n))
    return matrix, rhs


def foreground(rgb: np.ndarray, tri: np.ndarray, alpha: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """Image, trimap, uint8 alpha, progress -> HxWx3 uint8 foreground colour, re-estimated where 0 < alpha < 255."""
    from . import masks

    progress = progress or Progress(None)
    out = rgb.copy()
    height = tri.shape[0]
    rows = np.flatnonzero((tri == UNKNOWN).any(axis=1))
    if rows.size == 0:
        return out
    first, last = int(rows[0]), int(rows[-1]) + 1
    # strips with FG_MARGIN rows of context give the whole-image result and a checkpoint between them
    for y0 in range(first, last, FG_STRIP):
        y1 = min(last, y0 + FG_STRIP)
        c0, c1 = max(0, y0 - FG_MARGIN), min(height, y1 + FG_MARGIN)
        fg = masks.refine_foreground(rgb[c0:c1], alpha[c0:c1])
        out[y0:y1] = fg[y0 - c0 : y1 - c0]
        progress((y1 - first) / (last - first))
    return out


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
