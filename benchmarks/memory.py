"""Peak extra memory of one call: the process's peak resident set (VmHWM) above its resident set just before.

Linux lets a process reset its own peak (write "5" to /proc/self/clear_refs), so each measurement
starts from the current RSS; glibc is first asked to return freed heap (malloc_trim) so memory
freed by earlier calls is not silently reused. Numbers include everything the call allocates
(numpy, onnxruntime arenas, numba, PIL). Where clear_refs is unavailable, a thread samples RSS
every millisecond instead (may miss short spikes).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _status_mb(key: str) -> float:
    """A /proc/self/status key such as 'VmRSS:' -> its value in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _trim() -> None:
    """Ask glibc to hand freed heap back to the OS (no-op where that is not glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS -> whether the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_extra_mb(fn: Callable[[], T]) -> tuple[T, float]:
    """A call -> (its result, peak resident memory above the resident memory before it, in MB)."""
    _trim()
    base = _status_mb("VmRSS:")
    if _reset_peak():
        result = fn()
        return result, _status_mb("VmHWM:") - base
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status_mb("VmRSS:"))
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    return result, peak[0] - base


METHOD = (
    "peak extra memory = peak RSS (VmHWM, reset through /proc/self/clear_refs after malloc_trim) "
    "minus RSS just before the call, inputs already in memory"
)
