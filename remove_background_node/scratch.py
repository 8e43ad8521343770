"""One picture-sized working array kept between node calls, so a re-run writes into memory already paged in.

Freed arrays this large go back to the OS; on a VM, paging fresh memory in again can cost up to
about 10 ms a MB (a 4096² RGB copy of the picture is 48 MB; .readme/performance-log.md: re-tweaks).
One array of at most KEEP_UP_TO bytes is kept; larger pictures, and a second call while the kept
array is in use, get a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

KEEP_UP_TO = 64 * 2**20  # a 4096x4096 RGB picture is 48 MiB; 12000x12000 (412 MiB) is never kept

_lock = threading.Lock()
_kept: np.ndarray | None = None  # flat uint8, free to lend


@contextmanager
def picture_array(shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """A shape -> an uninitialised writable uint8 array of it, lent for the with-block (nothing may keep it after)."""
    global _kept
    size = int(np.prod(shape))
    with _lock:
        lent, _kept = (_kept, None) if _kept is not None and _kept.size >= size else (None, _kept)
    flat = lent if lent is not None else np.empty(size, np.uint8)
    try:
        yield flat[:size].reshape(shape)
    finally:
        if flat.size <= KEEP_UP_TO:
            with _lock:
                if _kept is None or _kept.size < flat.size:
                    _kept = flat
