"""While a small clip streams, a frame-sized block gets a mapping of its own; for large frames and after the run, not;
and trim hands back the pages smaller blocks freed inside a heap.

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

from remove_background_node import heap

REPO = Path(__file__).resolve().parents[2]

COMMON = f"""
import ctypes, json, sys, threading
sys.path.insert(0, {str(REPO)!r})
import numpy as np
from remove_background_node import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = MallInfo2

def mapped(size: int) -> bool:
    before = mallinfo2().hblkhd  # bytes in mapped blocks, every thread's
    block = np.ones(size, np.uint8)
    return mallinfo2().hblkhd - before >= size

def mapped_in_new_thread(size: int) -> bool:  # glibc gives a new thread a heap of its own
    out = []
    thread = threading.Thread(target=lambda: out.append(mapped(size)))
    thread.start()
    thread.join()
    return out[0]
"""

PROBE = COMMON + """
SIZE = 640 * 360  # a 640x360 grey matte
probes = [0]

def in_new_thread() -> bool:
    probes[0] += 1
    return mapped_in_new_thread(SIZE * (1 + probes[0]) // 2)

np.ones(4 << 20, np.uint8)  # made and dropped, a mapped block freed: glibc's threshold rises to 4 MiB
report = {"before": in_new_thread()}

def clip(width: int, height: int) -> list:
    with heap.frames_mapped(width * height * 3):
        return [in_new_thread() for _ in range(4)]  # as the stages of a clip of that size would allocate

report["during"] = clip(640, 360)
report["large"] = clip(1280, 720)
report["after"] = in_new_thread()
print(json.dumps(report))
"""

# Each block larger than any a thread's heap served before by more than glibc's top pad (128 KiB), so that no heap
# has the room already and the threshold decides.
MATTING_PROBE = COMMON + """
def in_new_thread(kib: int) -> bool:
    return mapped_in_new_thread(kib * 1024)

np.ones(16 << 20, np.uint8)  # the threshold rises past every block below, as a server's soon does
report = []
with heap.blocks_mapped(heap.MATTING_FROM):  # a solve: its blocks of a megabyte and more, not smaller ones
    report.append([in_new_thread(2048), in_new_thread(256)])
    with heap.frames_mapped(640 * 360 * 3):  # a small clip at the same time: its smaller size holds while both are open
        report.append([in_new_thread(3072), in_new_thread(512)])
    report.append([in_new_thread(4096), in_new_thread(640)])
report.append([in_new_thread(5120), in_new_thread(896)])
print(json.dumps(report))
"""

TRIM_PROBE = COMMON + """
def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

blocks = [np.ones(8192, np.uint8) for _ in range(25_000)]  # 200 MB in blocks far below any mmap threshold: heap
pin = np.ones(8192, np.uint8)  # above them, so the heap's top stays in use and glibc alone keeps their pages
del blocks
before = rss_mb()
heap.trim()
print(json.dumps({"kept": before, "handed_back": before - rss_mb()}))
"""


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc's mallopt only")
def test_a_frame_sized_block_is_mapped_while_a_small_clip_streams_and_only_then():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"before": False, "during": [True] * 4, "large": [False] * 4, "after": False}


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc's mallopt only")
def test_alpha_mattings_big_blocks_are_mapped_while_it_solves_and_the_smallest_window_wins():
    out = subprocess.run([sys.executable, "-c", MATTING_PROBE], capture_output=True, text=True, check=True).stdout
    # [a block of MiBs, one under a MiB] in: the matting window; it and a small clip's; the matting's again; neither
    assert json.loads(out.strip().splitlines()[-1]) == [[True, False], [True, True], [True, False], [False, False]]


def test_a_solve_runs_inside_the_matting_window_and_closes_it():
    import numpy as np

    from remove_background_node import matting

    yy, xx = np.mgrid[:96, :128]
    tri = np.where((yy - 48) ** 2 + (xx - 64) ** 2 < 30**2, 255, 0).astype(np.uint8)
    tri[(np.abs(np.hypot(yy - 48, xx - 64) - 30) < 4)] = matting.UNKNOWN
    rgb = np.dstack([tri, 255 - tri, np.full_like(tri, 90)])
    seen: list[dict[int, int]] = []
    matting.solve(rgb, tri, checkpoint=lambda fraction: seen.append(dict(heap._open)))
    assert any(heap.MATTING_FROM in open_now for open_now in seen[1:-1]), seen
    assert not heap._open, "closed afterwards"


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc only")
def test_trim_hands_back_the_pages_small_blocks_freed_inside_a_heap():
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["handed_back"] > 150, report  # of the 200 MB freed below the pin
