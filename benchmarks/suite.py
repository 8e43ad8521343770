"""The performance table: u2netp at several sizes, with and without alpha matting.

    python -m benchmarks [--sizes 512,1024,2048,4096] [--repeat 3] [--quick] [--variants plain,matting]

Every row runs in a fresh subprocess, so "cold" really is cold and rows cannot share memory.
Columns (seconds per call, median of --repeat warm calls; a cell whose first call takes over
SLOW_SECONDS is measured once):
  cold     import + load the session + first node call (read input, pipeline, save both images)
  node     warm node call: read the input PNG, pipeline.remove_background, save cutout and mask
  rembg    the same work with rembg.remove and a reused session (mask = the cutout's alpha)
  older    the older node's per-call work: new_session + rembg.remove + save cutout and mask
  floor    onnxruntime inference at the model input size + the image I/O InvokeAI's core nodes
           do for the same outputs: img_conv (read a cutout, save it RGBA) + tomask (read it,
           save its alpha as L); approximated in-process with the same PNG settings
  mem      peak extra memory of one warm node call (benchmarks.memory.METHOD)
PNG saving uses InvokeAI's default compress_level=1 everywhere. The input is rembg's own
anime-girl-1 fixture resized to the row's size, so the model sees a real subject.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import fixtures

REPO = Path(__file__).resolve().parent.parent
PNG_LEVEL = 1  # InvokeAI's default pil_compress_level
SLOW_SECONDS = 20.0
MODEL = "u2netp"

# Row variants: name -> pipeline.Options keyword arguments, and rembg.remove keyword arguments (None: rembg has no equivalent).
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "plain": ({}, {}),
    "matting": ({"alpha_matting": True}, {"alpha_matting": True}),
    "refine": ({"refine_foreground": True}, None),  # rembg 2.0.69 has no colour decontamination
}


def timed(fn: Callable[[], Any]) -> float:
    """A call -> its wall-clock seconds."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """A call and a repeat count -> median seconds (once only if the first call is slow)."""
    times = [timed(fn)]
    while len(times) < repeat and times[0] < SLOW_SECONDS:
        times.append(timed(fn))
    return statistics.median(times)


def save_png(image: Any, path: Path) -> None:
    """PIL image and path -> written PNG at InvokeAI's compression level."""
    image.save(path, "PNG", compress_level=PNG_LEVEL)


def read(path: Path) -> Any:
    """PNG path -> decoded PIL image."""
    from PIL import Image

    image = Image.open(path)
    image.load()
    return image


def worker(size: int, variant: str, repeat: int, tmp: Path) -> dict[str, Any]:
    """Row parameters and a scratch folder -> the row's figures, measured in this (fresh) process."""
    t_cold = time.perf_counter()
    from PIL import Image

    from remove_background_node import catalog, pipeline
    from remove_background_node.inference import predictor
    from remove_background_node.sessions import create_rembg_session
    from tests.harness.weights import fetch

    model_file = fetch()
    src = tmp / "input.png"
    Image.open(fixtures.ANIME).convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(src, "PNG", compress_level=PNG_LEVEL)
    node_kw, rembg_kw = VARIANTS[variant]
    options = pipeline.Options(**node_kw)

    t_cold = time.perf_counter()  # cold = from here: imports of rembg/onnxruntime happen below
    session = create_rembg_session(catalog.get(MODEL), model_file, ["CPUExecutionProvider"])
    predict = predictor(session)

    def node() -> None:
        result = pipeline.remove_background(read(src), predict, options)
        save_png(result.cutout, tmp / "node-cutout.png")
        save_png(result.mask, tmp / "node-mask.png")

    node()
    cold = time.perf_counter() - t_cold
    out: dict[str, Any] = {"size": size, "variant": variant, "cold": cold}
    out["node"] = median_time(node, repeat)

    import onnxruntime as ort
    import rembg

    home = tmp / "u2net_home"  # rembg's own home, as the older node used it
    home.mkdir(exist_ok=True)
    shutil.copy(model_file, home / f"{MODEL}.onnx")
    os.environ["U2NET_HOME"] = str(home)
    reused = rembg.new_session(MODEL, providers=["CPUExecutionProvider"])

    def with_rembg(sess: Any) -> None:
        cutout = rembg.remove(read(src), session=sess, **(rembg_kw or {}))
        save_png(cutout, tmp / "rembg-cutout.png")
        save_png(cutout.getchannel("A"), tmp / "rembg-mask.png")

    if rembg_kw is not None:
        out["rembg"] = median_time(lambda: with_rembg(reused), repeat)
        out["older"] = median_time(lambda: with_rembg(rembg.new_session(MODEL, providers=["CPUExecutionProvider"])), repeat)

    # floor: inference on a ready 320x320 tensor + the core nodes' reads and writes
    feed = reused.normalize(read(src), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (320, 320))
    inner: ort.InferenceSession = reused.inner_session
    cutout_png = tmp / "node-cutout.png"

    def floor() -> None:
        inner.run(None, feed)
        save_png(read(cutout_png).convert("RGBA"), tmp / "floor-conv.png")  # img_conv
        save_png(read(cutout_png).getchannel("A"), tmp / "floor-mask.png")  # tomask

    out["floor"] = median_time(floor, repeat)
    out["inference"] = median_time(lambda: inner.run(None, feed), repeat)

    from tests.harness.memory import peak_extra_mb

    _, out["mem_mb"] = peak_extra_mb(node)
    if rembg_kw is not None and out.get("rembg", 0) < SLOW_SECONDS * 3:
        _, out["rembg_mem_mb"] = peak_extra_mb(lambda: with_rembg(reused))
    return out


def run_row(size: int, variant: str, repeat: int) -> dict[str, Any]:
    """Row parameters -> its figures, from a fresh subprocess."""
    cmd = [sys.executable, "-m", "benchmarks.suite", "--worker", "--sizes", str(size), "--variants", variant, "--repeat", str(repeat)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark row {size} {variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    """-> one line naming the CPU, cores, RAM, and the versions that matter."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib.metadata import version

    vers = ", ".join(f"{p} {version(p)}" for p in ("onnxruntime", "rembg", "pymatting", "numpy"))
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GB RAM, no GPU used; Python {platform.python_version()}, {vers}"


def fmt(v: float | None, unit: str = "") -> str:
    """Number or None -> a short cell."""
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if v >= 100 else f"{v:.2f}{unit}" if v < 10 else f"{v:.1f}{unit}"


def table(rows: list[dict[str, Any]]) -> str:
    """Row figures -> a markdown table with the ratios."""
    head = "| size | variant | cold s | node s | rembg s | older s | floor s | node/floor | rembg/node | older/node | node MB | rembg MB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ratio = lambda a, b: f"{r[a] / r[b]:.2f}x" if r.get(a) and r.get(b) else "-"  # noqa: E731
        lines.append(
            f"| {r['size']}² | {r['variant']} | {fmt(r['cold'])} | {fmt(r['node'])} | {fmt(r.get('rembg'))} | "
            f"{fmt(r.get('older'))} | {fmt(r['floor'])} | {ratio('node', 'floor')} | {ratio('rembg', 'node')} | "
            f"{ratio('older', 'node')} | {fmt(r.get('mem_mb'))} | {fmt(r.get('rembg_mem_mb'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Remove Background performance table")
    parser.add_argument("--sizes", default="512,1024,2048,4096", help="comma-separated square sides")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--repeat", type=int, default=3, help="warm calls per cell (median)")
    parser.add_argument("--quick", action="store_true", help="sizes 512,1024 and one warm call per cell")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [512, 1024] if args.quick and args.sizes == parser.get_default("sizes") else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    variants = args.variants.split(",")
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(worker(sizes[0], variants[0], repeat, Path(tmp))))
        return
    print(f"# Remove Background benchmark, {datetime.date.today().isoformat()}")
    print(f"# {machine()}")
    print(f"# model {MODEL}; seconds per call (median of {repeat} warm calls; once if over {SLOW_SECONDS:.0f} s)")
    rows = []
    for size in sizes:
        for variant in variants:
            rows.append(run_row(size, variant, repeat))
            print(f"# done {size}² {variant}", file=sys.stderr, flush=True)
    print(table(rows))
    from tests.harness.memory import METHOD

    print(f"# memory: {METHOD}")


if __name__ == "__main__":
    main()
