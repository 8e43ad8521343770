"""While a small clip streams, blocks of a frame's size come from the system and go straight back (glibc only).

Decoding, the model, steadying and both encoders allocate and free frame-sized arrays, each on its own thread. glibc
serves a block from a per-thread heap once its adaptive mmap threshold has risen past the block's size (the threshold
rises to the largest block freed, up to 32 MiB, which a server soon passes), and how much those heaps hold at their
highest depends on which thread freed what, and when, so the server's peak wandered from one clip to the next. Held at
glibc's starting threshold for the run, such blocks are mapped and unmapped, and the peak is what the frames in flight
need. Afterwards the threshold is left at the adaptive one's ceiling.

A mapped block comes with fresh pages, which the system faults in and clears each time. That price grows with the
frame while the model's cost does not, so only frames up to MAPPED_UP_TO are mapped (figures: README, Performance).
"""

from __future__ import annotations

import ctypes
import platform
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
DURING_RUN = 128 * 1024  # glibc's own starting threshold: a 640x360 grey matte (225 KiB) is above it
MAPPED_UP_TO = 1 << 20  # the largest RGB frame, in bytes, whose blocks are mapped: 640x480 (900 KiB), not 854x480
AFTER_RUN = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # the adaptive threshold's ceiling: 32 MiB on 64-bit

_lock = threading.Lock()
_runs = 0  # clips streaming now: the threshold goes back only when the last one ends


def _mallopt() -> Callable[[int, int], int] | None:
    """-> glibc's mallopt, or None where the C library is another."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


@contextmanager
def frames_mapped(frame_bytes: int) -> Iterator[None]:
    """An RGB frame's size in bytes -> within the block, allocations from DURING_RUN bytes up are mapped and unmapped
    while that is at most MAPPED_UP_TO; nothing changes off glibc."""
    global _runs
    mallopt = _mallopt()
    if mallopt is None or frame_bytes > MAPPED_UP_TO:
        yield
        return
    with _lock:
        _runs += 1
        if _runs == 1:
            mallopt(M_MMAP_THRESHOLD, DURING_RUN)
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                mallopt(M_MMAP_THRESHOLD, AFTER_RUN)
