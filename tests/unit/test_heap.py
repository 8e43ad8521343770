"""While a small clip streams, a frame-sized block gets a mapping of its own; for large frames and after the run, not.

Probed in a fresh process, each block from a fresh thread (glibc gives a thread its own heap) and larger than any
before it (glibc serves a block from a heap's free space, whatever the threshold), with the adaptive threshold first
raised past the blocks' sizes, as a server's is by the time a clip arrives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from remove_background_node.video import heap

REPO = Path(__file__).resolve().parents[2]

PROBE = f"""
import ctypes, json, sys, threading
sys.path.insert(0, {str(REPO)!r})
import numpy as np
from remove_background_node.video import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = MallInfo2
SIZE = 640 * 360  # a 640x360 grey matte
probes = [0]

def mapped(size: int) -> bool:
    before = mallinfo2().hblkhd  # bytes in mapped blocks, every thread's
    block = np.ones(size, np.uint8)
    return mallinfo2().hblkhd - before >= size

def in_new_thread() -> bool:
    probes[0] += 1
    size = SIZE * (1 + probes[0]) // 2
    out = []
    thread = threading.Thread(target=lambda: out.append(mapped(size)))
    thread.start()
    thread.join()
    return out[0]

np.ones(4 << 20, np.uint8)  # made and dropped, a mapped block freed: glibc's threshold rises to 4 MiB
report = {{"before": in_new_thread()}}

def clip(width: int, height: int) -> list:
    with heap.frames_mapped(width * height * 3):
        return [in_new_thread() for _ in range(4)]  # as the stages of a clip of that size would allocate

report["during"] = clip(640, 360)
report["large"] = clip(1280, 720)
report["after"] = in_new_thread()
print(json.dumps(report))
"""


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc's mallopt only")
def test_a_frame_sized_block_is_mapped_while_a_small_clip_streams_and_only_then():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"before": False, "during": [True] * 4, "large": [False] * 4, "after": False}
