"""Solving the band's sparse SPD system: conjugate gradient with a block incomplete-Cholesky preconditioner."""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from .. import workers
from .laplacian import band_system
from .progress import Fraction

CG_MAXITER = 10000
# drop threshold, coarser than pymatting's 1e-4: a sparser factor is quicker to build and to apply, which
# outweighs the few CG iterations it adds; CG still runs to its tolerance, so it changes the time, not the answer
ICHOL_THRESHOLD = 5e-3
# diagonal shifts tried in turn; at this threshold the band's factor can break down without one,
# and every failed try costs a whole factorisation (and a warning printed by pymatting)
ICHOL_SHIFTS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
BLOCK_MIN_UNKNOWNS = 10_000  # below this, one block: the threads would cost more than they save
ICHOL_BLOCKS = 2  # independent diagonal blocks, factored in parallel; fixed so results do not depend on the CPU
WAIT_SECONDS = 0.25  # while blocks are factored, how often the checkpoint gets a chance to cancel

_log = logging.getLogger(__name__)


def band_solve(rgb: np.ndarray, tri: np.ndarray, unknown: np.ndarray, n: int, rtol: float, progress: Fraction) -> np.ndarray:
    """Image, trimap, unknown map, its count, tolerance, progress -> float64 alpha at the unknown pixels (in their order)."""
    matrix, rhs = band_system(rgb, tri, unknown, n)
    progress(0.1)
    if not rhs.any():  # no sure-subject neighbour: alpha 0, and CG would divide by zero
        return np.zeros(n)
    blocks = Blocks(matrix)
    del matrix  # the blocks hold all of it; keeping both would double the band's largest arrays
    # a worker per block: pymatting's ichol, its triangular solves and scipy's products release the GIL
    pool = workers.pool()
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


def block_ichol(blocks: Blocks, pool: ThreadPoolExecutor, progress: Fraction) -> Callable[[np.ndarray], np.ndarray]:
    """Blocks of a sparse SPD matrix, thread pool, progress -> preconditioner: pymatting's ichol of each diagonal block.

    Dropping the coupling between the blocks costs a few CG iterations; in return the blocks are
    factored and applied in parallel, and each factor has less fill."""
    futures = [pool.submit(_ichol_block, block) for block in blocks.diagonal]
    pending = set(futures)
    try:
        while pending:  # the checkpoint runs here, in the caller's thread, between waits
            _, pending = wait(pending, timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
            progress(1.0 - len(pending) / len(futures))
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)  # a block still being factored finishes first (a fraction of a second): nothing runs on
        raise
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

    threshold = ICHOL_THRESHOLD
    while True:
        # pymatting's default reserves 4 GB of address space per call; the fill here stays under ~40 a row
        max_nnz = 100 * block.shape[0] + 1000
        try:
            # the block is symmetric, so pymatting reads its CSR arrays as CSC (a transposed view, no copy);
            # a shift that fails is expected now and then, and pymatting prints when it tries the next one
            with _prints_to_debug_log():
                return ichol(block, discard_threshold=threshold, shifts=list(ICHOL_SHIFTS), max_nnz=max_nnz)
        except ValueError as error:
            if "max_nnz" not in str(error):
                raise
            threshold *= 10  # an unusually dense factor: drop more, never run out of memory


class _ThreadRoutedStdout:
    """Stands in for sys.stdout while factors are built: what those threads print goes to the debug log,
    what every other thread prints goes where it always went."""

    def __init__(self, original: Any):
        self.original = original
        self.quiet: set[int] = set()

    def write(self, text: str) -> int:
        if threading.get_ident() in self.quiet:
            if text.strip():
                _log.debug("pymatting: %s", text.strip())
            return len(text)
        return self.original.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_routing_lock = threading.Lock()


@contextmanager
def _prints_to_debug_log() -> Iterator[None]:
    """Within the block, what this thread prints goes to the debug log (InvokeAI's console stays clean)."""
    with _routing_lock:
        if not isinstance(sys.stdout, _ThreadRoutedStdout):
            sys.stdout = _ThreadRoutedStdout(sys.stdout)
        router = sys.stdout
        router.quiet.add(threading.get_ident())
    try:
        yield
    finally:
        with _routing_lock:
            router.quiet.discard(threading.get_ident())
            if not router.quiet and sys.stdout is router:
                sys.stdout = router.original


def pcg(matrix: Any, rhs: np.ndarray, preconditioner: Callable[[np.ndarray], np.ndarray], rtol: float, progress: Fraction) -> np.ndarray:
    """SPD matrix (or a function multiplying by it), right-hand side, preconditioner, relative tolerance, progress
    -> solution by pymatting's CG.

    Progress is the fraction of the way, in log-residual, from 1 to the tolerance."""
    from pymatting import cg

    def callback(_a: Any, _x: Any, _b: Any, norm_b: float, _r: Any, norm_r: float) -> None:
        progress(math.log(max(norm_r / norm_b, 1e-300)) / math.log(rtol))

    return cg(matrix, rhs, M=preconditioner, rtol=rtol, maxiter=CG_MAXITER, callback=callback)
