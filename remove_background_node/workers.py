"""The pack's worker threads: one pool, started on first use and kept for the life of the process."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

WORKERS = max(2, min(4, os.cpu_count() or 1))  # matting's two factor blocks need two; more only adds temporaries
NAME = "remove-background"

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """-> the shared pool that edge-colour tiles and matting's factor blocks run on.

    Not a pool per call: InvokeAI's process already has glibc's maximum of malloc arenas (8 per
    core), so every new thread is attached to an arena other threads use, and the multi-MB
    temporaries a call frees can stay resident in whichever arena that was. Threads kept for the
    life of the process keep their arenas, so the next call reuses that memory instead of adding to it.
    """
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=NAME)
        return _pool


def bands(height: int) -> list[slice]:
    """A picture's height -> the bands of rows in_bands works on (4 per worker)."""
    rows = max(1, -(-height // (4 * WORKERS)))
    return [slice(y, min(y + rows, height)) for y in range(0, height, rows)]


def in_bands(height: int, work: Callable[[slice], None]) -> None:
    """A picture's height and work on a band of its rows -> that work done on every band (bands()), on the pool."""
    list(pool().map(work, bands(height)))
