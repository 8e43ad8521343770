"""Big short-lived blocks straight from the system and back, so a long-running server's heap does not keep them (glibc).

glibc serves a block from a heap (a per-thread one for most threads) once its adaptive mmap threshold has risen past
the block's size; the threshold rises to the largest mapped block freed, up to 32 MiB, which a server soon passes. A
heap keeps what is freed into it, and how much it holds at its highest depends on which thread freed what, and when:

- Alpha matting allocates and frees blocks of megabytes in the worker threads. Served from their heaps, the server's
  resident memory climbs a few MB at a time and wanders by tens of MB from one queue item to the next over a long
  run of mixed items; mapped, it stays flat (.readme/performance-log.md: a long run).
- While a small clip streams, decoding, the model, steadying and both encoders allocate and free frame-sized arrays
  and smaller maps, each on its own thread. Served from the heaps, a clip's peak depended on what the heaps already
  held: in one server, successive clips peaked at 28, 20, 20 and 17 MB above the RSS before them (which rose by 12 MB
  meanwhile), so a clip's figure said more about its place in the server's life than about its length. Mapped from
  FRAMES_FROM: 28, 26, 24 and 23 MB (the RSS before them rose by 6 MB).

Blocks under FRAMES_FROM stay in the heaps, and so do the pages they free in the middle of a heap, so a long clip's
resident memory would creep above a short one's. ``trim`` hands those pages back (a few ms even in a large process);
the video stream calls it every TRIM_EVERY frames (video/stream.py; figures: .readme/performance-log.md, Video).

Inside ``blocks_mapped(size)`` blocks from ``size`` up are mapped and unmapped (the smallest size asked for by the
windows open at once); when the last window closes the threshold is left at the adaptive one's ceiling. A mapped block
comes with fresh pages, which the system faults in and clears each time: that price grows with the block, so a video
maps only frames up to MAPPED_UP_TO (figures: .readme/performance-log.md, Video).
"""

from __future__ import annotations

import ctypes
import functools
import platform
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import ContextManager

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
# a clip's blocks from 16 KiB up: frames and mattes, and the model's, the flow's and the steadying's smaller maps,
# which served from a long-running server's heaps left its peak depending on what those heaps already held
FRAMES_FROM = 16 * 1024
MAPPED_UP_TO = 1 << 20  # the largest RGB frame, in bytes, whose blocks are mapped: 640x480 (900 KiB), not 854x480
MATTING_FROM = 1 << 20  # matting's blocks from 1 MiB up: its bands and factors, not its many small index arrays
AFTER = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # the adaptive threshold's ceiling: 32 MiB on 64-bit

_lock = threading.Lock()
_open: Counter[int] = Counter()  # the sizes asked for by the windows open now


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """-> the C library, loaded once, where it is glibc; else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _mallopt() -> Callable[[int, int], int] | None:
    """-> glibc's mallopt, or None where the C library is another."""
    return getattr(_glibc(), "mallopt", None)


def trim() -> None:
    """-> the heaps hand the pages freed inside them back to the system (glibc's malloc_trim); nothing off glibc."""
    malloc_trim = getattr(_glibc(), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


@contextmanager
def blocks_mapped(size: int) -> Iterator[None]:
    """A size in bytes -> within the block, allocations of at least that size (or a smaller one another open window
    asked for) are mapped and unmapped; nothing changes off glibc."""
    mallopt = _mallopt()
    if mallopt is None:
        yield
        return
    with _lock:
        _open[size] += 1
        mallopt(M_MMAP_THRESHOLD, min(_open))
    try:
        yield
    finally:
        with _lock:
            _open[size] -= 1
            if not _open[size]:
                del _open[size]
            mallopt(M_MMAP_THRESHOLD, min(_open) if _open else AFTER)


def frames_mapped(frame_bytes: int) -> ContextManager[None]:
    """An RGB frame's size in bytes -> a window in which a clip's frame-sized blocks are mapped, for frames of up to
    MAPPED_UP_TO bytes (larger ones are left to the heap)."""
    return blocks_mapped(FRAMES_FROM) if frame_bytes <= MAPPED_UP_TO else nullcontext()
