"""Masks already computed for a picture, and edge colours, kept so a re-run that changes only later options skips the
model, matting and the colour estimate.

Keys name everything a mask depends on: the picture's pixels (a digest), the model file, the
device, the regions, the cloth category (the cloth model's only) and, for a matte, Smooth Mask and the
matting options; edge colours are keyed
by the picture and the alpha they were estimated from. Change any of them
and the key is new; the old entry ages out. Bounded by entries and bytes, least recently used out first.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from . import workers

BUDGET_ENV = "REMOVE_BACKGROUND_CACHE_MB"
DEFAULT_BUDGET_MB = 512
MAX_ENTRIES = 16  # a few pictures' model masks and mattes: re-tweaking works on one picture at a time


def digest(pixels: np.ndarray) -> str:
    """An image as an array -> a digest of its shape and every pixel (the picture's identity in a key)."""
    # A re-tweak hashes the whole picture before anything else: SHA-256 (in hardware on most CPUs) over one part
    # per worker thread (hashlib lets go of the GIL) takes a quarter of one BLAKE2b pass.
    data = memoryview(np.ascontiguousarray(pixels).reshape(-1).view(np.uint8))
    parts = workers.WORKERS
    bounds = [len(data) * i // parts for i in range(parts + 1)]
    h = hashlib.sha256(repr((pixels.shape, pixels.dtype.str)).encode())
    for part in workers.pool().map(lambda i: hashlib.sha256(data[bounds[i] : bounds[i + 1]]).digest(), range(parts)):
        h.update(part)
    return h.hexdigest()[:32]


def budget_bytes(env: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """Environment -> how many bytes of masks the cache may hold (REMOVE_BACKGROUND_CACHE_MB; 0 turns it off)."""
    try:
        return max(0, int(float(env.get(BUDGET_ENV, DEFAULT_BUDGET_MB)) * 2**20))
    except ValueError:
        return DEFAULT_BUDGET_MB * 2**20


class MaskCache:
    """A bounded, thread-safe map from keys to read-only uint8 arrays (masks, or the colours of a mask's soft pixels)."""

    def __init__(self, budget: int | None = None, max_entries: int = MAX_ENTRIES):
        self._budget = budget_bytes() if budget is None else budget
        self._max_entries = max_entries
        self._masks: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        """A key -> its mask (read-only), or None."""
        with self._lock:
            mask = self._masks.get(key)
            if mask is None:
                self.misses += 1
                return None
            self.hits += 1
            self._masks.move_to_end(key)
            return mask

    def put(self, key: Hashable, mask: np.ndarray) -> np.ndarray:
        """A key and a mask -> the mask as stored (a read-only copy), evicting the least recent entries past the bounds."""
        if mask.nbytes > self._budget:
            return mask
        stored = mask.copy()
        stored.flags.writeable = False
        with self._lock:
            old = self._masks.pop(key, None)
            self._bytes -= old.nbytes if old is not None else 0
            self._masks[key] = stored
            self._bytes += stored.nbytes
            while self._bytes > self._budget or len(self._masks) > self._max_entries:
                _, evicted = self._masks.popitem(last=False)
                self._bytes -= evicted.nbytes
        return stored

    def clear(self) -> None:
        """Forget every mask."""
        with self._lock:
            self._masks.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._masks)


MASKS = MaskCache()
