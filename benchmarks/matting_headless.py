"""Alpha matting at 4096x4096 inside a real headless InvokeAI, against rembg's own matting.

    python -m benchmarks.matting_headless [--size 4096] [--repeat 5]

4096x4096 composite with a known alpha (tests.harness.scenes.composite), model u2netp,
alpha_matting=True, other inputs at their defaults (thresholds 240/10, erode 10).
ours   the node in a fresh headless server, warmed first by one matting call on a smaller composite
       (benchmarks.headless.warm_matting: session loaded; the numba kernels of the reduced-size path
       that the 4096x4096 solve takes compiled, as after any earlier large matting): time from the graph stats, median
       of --repeat runs (it includes reading the PNG and saving both outputs; the first run is often
       the slowest: this VM is slow to back memory a process has not touched before); peak extra
       memory of the server process (tests.harness.memory.peak_extra_mb on the server's pid; first
       run only, while the heap is fresh); error from the node's mask output of the first run.
       Each run is a new upload of the composite with one pixel changed, so the node's mask cache
       misses and every run really mattes.
rembg  rembg.remove(composite, session=rembg.new_session("u2netp"), alpha_matting=True), end to end:
       rembg's own inference and its own full-resolution pymatting matting on its own mask, in a
       separate fresh subprocess after the server has stopped, warmed by one matting call on the
       same smaller composite. Timed and measured around remove() only (no PNG I/O, which
       favours rembg). End to end rather than alpha_matting_cutout on our mask: both sides then
       start from the same picture and the same model, each the way a user would run it.
error  mean absolute difference between the output alpha (0..1) and the true alpha, over the whole
       image; also over the soft band (0 < truth < 1) for information.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.headless import MATTING_WARM_SIDE, node, output_image, pid, run_graph, start, unique, warm_matting
from benchmarks.machine import header
from benchmarks.targets import TARGETS, line
from tests.harness.memory import peak_extra_mb
from tests.harness.scenes import composite
from tests.harness.weights import rembg_home

REPO = Path(__file__).resolve().parent.parent
MODEL = "u2netp"
SIZE = TARGETS["matting_speed"].side


def alpha_errors(alpha_u8: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """uint8 alpha and float truth -> (MAE over the image, MAE over the soft band 0 < truth < 1)."""
    diff = np.abs(alpha_u8.astype(np.float32) / 255 - truth)
    band = (truth > 0) & (truth < 1)
    return float(diff.mean()), float(diff[band].mean())


def ours(size: int, repeat: int) -> dict[str, Any]:
    """Side and number of runs -> the node's seconds (median and all), first run's peak extra MB and errors."""
    rgb, truth = composite(size)
    picture = Image.fromarray(rgb)
    with tempfile.TemporaryDirectory(prefix="rb-matting-") as tmp:
        server = start(Path(tmp) / "root", (MODEL,))
        try:
            warm_matting(server, MODEL)
            seconds, peak, mask = [], 0.0, None
            for i in range(repeat):
                name = server.upload(unique(picture, i + 1), f"composite-{size}.png")
                time.sleep(1)  # let the upload's thumbnailing settle before the memory baseline
                graph = {"rb": node(name, MODEL, alpha_matting=True)}
                if i == 0:  # a reused heap would understate the memory: only the first run is measured
                    (item, stats), peak = peak_extra_mb(lambda: run_graph(server, graph), pid=pid(server))
                    mask = np.asarray(server.image(output_image(server, item, "rb", "mask")).convert("L"))
                else:
                    stats = run_graph(server, graph)[1]
                seconds.append(stats["remove_background"])
        finally:
            server.stop()
    err, band = alpha_errors(mask, truth)
    return {"seconds": statistics.median(seconds), "all": seconds, "peak_mb": peak, "error": err, "band_error": band}


def rembg_worker(size: int) -> dict[str, Any]:
    """In a fresh process: rembg.remove with alpha matting on the composite -> seconds, peak MB, errors."""
    with tempfile.TemporaryDirectory(prefix="rb-rembg-") as home:
        rembg_home(Path(home), MODEL)
        import rembg

        session = rembg.new_session(MODEL, providers=["CPUExecutionProvider"])
        rembg.remove(Image.fromarray(composite(MATTING_WARM_SIDE)[0]), session=session, alpha_matting=True)  # numba warm, as ours
        rgb, truth = composite(size)
        image = Image.fromarray(rgb)
        del rgb
        t = time.perf_counter()
        cutout, peak = peak_extra_mb(lambda: rembg.remove(image, session=session, alpha_matting=True))
        seconds = time.perf_counter() - t
    err, band = alpha_errors(np.asarray(cutout.getchannel("A")), truth)
    return {"seconds": seconds, "peak_mb": peak, "error": err, "band_error": band}


def theirs(size: int) -> dict[str, Any]:
    """Side -> rembg_worker's figures, from a fresh subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.matting_headless", "--rembg-worker", str(size)],
        cwd=REPO, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"rembg worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(size: int, repeat: int) -> None:
    """Side and node runs -> measures both sides and prints the table and the three targets."""
    mine = ours(size, repeat)
    ref = theirs(size)
    print(f"\n## alpha matting, {size}x{size} composite with known alpha, {MODEL}, thresholds 240/10, erode 10")
    print(f"{'':28}{'seconds':>9}{'peak extra MB':>15}{'alpha MAE':>11}{'band MAE':>10}")
    for name, r in (("ours (node, headless)", mine), ("rembg.remove (subprocess)", ref)):
        print(f"{name:28}{r['seconds']:9.2f}{r['peak_mb']:15.0f}{r['error']:11.5f}{r['band_error']:10.4f}")
    print(f"(ours: median of {len(mine['all'])} runs [{', '.join(f'{x:.2f}' for x in mine['all'])}] s, memory and "
          "error from the first; rembg: one run)")
    print(line("matting_speed", ref["seconds"] / mine["seconds"], side=size))
    print(line("matting_memory", mine["peak_mb"] / ref["peak_mb"], side=size))
    print(line("matting_error", mine["error"] / ref["error"], side=size))


def main(argv: list[str] | None = None) -> None:
    """Command line -> the matting check's table and targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--repeat", type=int, default=5, help="node runs (time: median)")
    parser.add_argument("--rembg-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rembg_worker:
        print(json.dumps(rembg_worker(args.rembg_worker)))
        return
    started = time.monotonic()
    header("Remove Background: alpha matting inside a headless InvokeAI vs rembg")
    report(args.size, args.repeat)
    print(f"\n# total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
