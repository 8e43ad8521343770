"""Peak extra memory of one call: a process's peak resident set (VmHWM) above its resident set just before.

Linux lets a process's peak be reset (write "5" to /proc/<pid>/clear_refs), so each measurement
starts from the current RSS; in this process glibc is first asked to return freed heap
(malloc_trim) so memory freed by earlier calls is not silently reused. Numbers include everything
the call allocates (numpy, onnxruntime arenas, numba, PIL). Where clear_refs is unavailable, a
thread samples RSS every millisecond instead (may miss short spikes).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from remove_background_node import heap

T = TypeVar("T")


def status_mb(key: str, pid: int | str = "self") -> float:
    """A /proc/<pid>/status key such as 'VmRSS:' -> its value in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def rss_mb(pid: int | str = "self") -> float:
    """A process -> its resident memory now, in MB."""
    return status_mb("VmRSS:", pid)


def reset_peak(pid: int | str = "self") -> bool:
    """Reset a process's peak RSS to its current RSS -> whether the kernel allowed it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_extra_mb(fn: Callable[[], T], pid: int | None = None) -> tuple[T, float]:
    """A call, and the process it makes work (default: this one) -> (its result, that process's
    peak resident memory above its resident memory before the call, in MB)."""
    target: int | str = "self" if pid is None or pid == os.getpid() else pid
    if target == "self":
        heap.trim()
    base = rss_mb(target)
    if reset_peak(target):
        result = fn()
        return result, status_mb("VmHWM:", target) - base
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(target))
            done.wait(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    return result, peak[0] - base


METHOD = (
    "peak extra memory = peak RSS (VmHWM, reset through /proc/<pid>/clear_refs, after malloc_trim in "
    "process) minus RSS just before the call, inputs already in memory"
)
