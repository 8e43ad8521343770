"""The colours of an alpha's soft pixels, taken out as a list and put back: the edge colours a re-tweak reuses."""

from __future__ import annotations

import cv2
import numpy as np

from .. import masks, workers
from ..kernels import kernel, readonly, writable


def take(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 picture and HxW uint8 alpha -> Nx3 uint8 colours of its soft pixels (0 < alpha < 255), row by row."""
    return rgb[masks.soft(alpha) > 0]


def put(rgb: np.ndarray, alpha: np.ndarray, colours: np.ndarray) -> None:
    """HxWx3 uint8 picture (changed in place), HxW uint8 alpha and Nx3 uint8 colours from take() with that alpha ->
    nothing; each soft pixel has its colour back."""
    # A kernel over bands of rows, not numpy's boolean assignment (4x the time, and a re-tweak waits for it): each
    # band starts at the colours of the soft pixels in the bands above it.
    soft = masks.soft(alpha)
    starts, total = {}, 0
    for band in workers.bands(alpha.shape[0]):
        starts[band.start], total = total, total + cv2.countNonZero(soft[band])
    if total != len(colours):
        raise ValueError(f"{len(colours)} colours for {total} soft pixels")
    colours = np.ascontiguousarray(colours)
    workers.in_bands(alpha.shape[0], lambda band: _put(rgb[band], alpha[band], colours, starts[band.start]))


@kernel(f"void({writable('uint8', 3)}, {readonly('uint8', 2)}, {readonly('uint8', 2)}, int64)")
def _put(rgb: np.ndarray, alpha: np.ndarray, colours: np.ndarray, start: int) -> None:
    """A band's HxWx3 picture and HxW alpha, all the colours and the index of the band's first -> the band's soft
    pixels hold their colours, in row order from that index."""
    k = start
    for y in range(alpha.shape[0]):
        for x in range(alpha.shape[1]):
            a = alpha[y, x]
            if a != 0 and a != 255:
                rgb[y, x, 0] = colours[k, 0]
                rgb[y, x, 1] = colours[k, 1]
                rgb[y, x, 2] = colours[k, 2]
                k += 1
