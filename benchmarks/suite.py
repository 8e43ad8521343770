"""The performance table: u2net (the default model) and u2netp at several sizes, plain, with alpha matting, refined.

    python -m benchmarks [--models u2netp,u2net] [--sizes 512,1024,2048,4096] [--repeat 3] [--quick]
                         [--variants plain,matting,refine]

Every row runs in a fresh subprocess, so "cold" really is cold and rows cannot share memory.
Columns (seconds per call, median of --repeat warm calls; a cell whose first call takes over
SLOW_SECONDS is measured once):
  cold     rembg's import + load the session + first node call (read input, pipeline, save both images)
  node     warm node call: read the input PNG, pipeline.remove_background, save cutout and mask
  rembg    the same work with rembg.remove and a reused session (mask = the cutout's alpha)
  older    the older node's per-call work: new_session + rembg.remove + save cutout and mask
  floor    onnxruntime inference on the very tensor the node feeds the model (benchmarks.model_feed)
           + the image I/O InvokeAI's core nodes do for the same outputs: img_conv (read a cutout,
           save it RGBA) + tomask (read it, save its alpha as L); approximated in-process with the
           same PNG settings (benchmarks.floor measures it inside InvokeAI)
  mem      peak extra memory of one warm node call (tests.harness.memory.METHOD)
PNG saving uses InvokeAI's default compress_level=1 everywhere. The input is rembg's own
anime-girl-1 fixture resized to the row's size, so the model sees a real subject.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.machine import header
from benchmarks.targets import TARGETS
from tests.harness import fixtures

REPO = Path(__file__).resolve().parent.parent
PNG_LEVEL = 1  # InvokeAI's default pil_compress_level
SLOW_SECONDS = 20.0
MODELS = ("u2netp", "u2net")  # the light one, and the node's default

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


def worker(model: str, size: int, variant: str, repeat: int, tmp: Path) -> dict[str, Any]:
    """Row parameters and a scratch folder -> the row's figures, measured in this (fresh) process."""
    from PIL import Image

    from remove_background_node import catalog, pipeline
    from remove_background_node.inference import predictor
    from remove_background_node.sessions import create_rembg_session
    from tests.harness.weights import fetch, rembg_home

    model_file = fetch(model)
    src = tmp / "input.png"
    Image.open(fixtures.ANIME).convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(src, "PNG", compress_level=PNG_LEVEL)
    node_kw, rembg_kw = VARIANTS[variant]
    options = pipeline.Options(**node_kw)

    t_cold = time.perf_counter()  # cold from here: rembg is imported below (sessions.wrap), onnxruntime was with sessions
    session = create_rembg_session(catalog.get(model), model_file, ["CPUExecutionProvider"])
    predict = predictor(session)

    def node() -> None:
        result = pipeline.remove_background(read(src), predict, options)
        save_png(result.cutout, tmp / "node-cutout.png")
        save_png(result.mask, tmp / "node-mask.png")

    node()
    cold = time.perf_counter() - t_cold
    out: dict[str, Any] = {"model": model, "size": size, "variant": variant, "cold": cold}
    out["node"] = median_time(node, repeat)

    import rembg

    rembg_home(tmp / "u2net_home", model)  # rembg's own home, as the older node used it
    reused = rembg.new_session(model, providers=["CPUExecutionProvider"])

    def with_rembg(sess: Any) -> None:
        cutout = rembg.remove(read(src), session=sess, **(rembg_kw or {}))
        save_png(cutout, tmp / "rembg-cutout.png")
        save_png(cutout.getchannel("A"), tmp / "rembg-mask.png")

    if rembg_kw is not None:
        out["rembg"] = median_time(lambda: with_rembg(reused), repeat)
        out["older"] = median_time(lambda: with_rembg(rembg.new_session(model, providers=["CPUExecutionProvider"])), repeat)

    # floor: inference on the tensor the node feeds the model + the core nodes' reads and writes
    from benchmarks.model_feed import ModelRun

    model_run = ModelRun(model, model_file, read(src))
    cutout_png = tmp / "node-cutout.png"

    def floor() -> None:
        model_run.run()
        save_png(read(cutout_png).convert("RGBA"), tmp / "floor-conv.png")  # img_conv
        save_png(read(cutout_png).getchannel("A"), tmp / "floor-mask.png")  # tomask

    out["floor"] = median_time(floor, repeat)
    out["inference"] = median_time(model_run.run, repeat)

    from tests.harness.memory import peak_extra_mb

    _, out["mem_mb"] = peak_extra_mb(node)
    if rembg_kw is not None and out.get("rembg", 0) < SLOW_SECONDS * 3:
        _, out["rembg_mem_mb"] = peak_extra_mb(lambda: with_rembg(reused))
    return out


def run_row(model: str, size: int, variant: str, repeat: int) -> dict[str, Any]:
    """Row parameters -> its figures, from a fresh subprocess."""
    cmd = [sys.executable, "-m", "benchmarks.suite", "--worker", "--models", model, "--sizes", str(size),
           "--variants", variant, "--repeat", str(repeat)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark row {model} {size} {variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(v: float | None, unit: str = "") -> str:
    """Number or None -> a short cell."""
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if v >= 100 else f"{v:.2f}{unit}" if v < 10 else f"{v:.1f}{unit}"


def table(rows: list[dict[str, Any]]) -> str:
    """Row figures -> a markdown table with the ratios."""
    head = "| model | size | variant | cold s | node s | rembg s | older s | floor s | node/floor | rembg/node | older/node | node MB | rembg MB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ratio = lambda a, b: f"{r[a] / r[b]:.2f}x" if r.get(a) and r.get(b) else "-"  # noqa: E731
        lines.append(
            f"| {r['model']} | {r['size']}² | {r['variant']} | {fmt(r['cold'])} | {fmt(r['node'])} | {fmt(r.get('rembg'))} | "
            f"{fmt(r.get('older'))} | {fmt(r['floor'])} | {ratio('node', 'floor')} | {ratio('rembg', 'node')} | "
            f"{ratio('older', 'node')} | {fmt(r.get('mem_mb'))} | {fmt(r.get('rembg_mem_mb'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line -> runs every row in its own subprocess and prints the table (or, as --worker, one row's JSON)."""
    parser = argparse.ArgumentParser(description="Remove Background performance table")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--sizes", default="512,1024,2048,4096", help="comma-separated square sides")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--repeat", type=int, default=3, help="warm calls per cell (median)")
    parser.add_argument("--quick", action="store_true", help="sizes 512,1024 and one warm call per cell")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [512, 1024] if args.quick and args.sizes == parser.get_default("sizes") else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    models, variants = args.models.split(","), args.variants.split(",")
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(worker(models[0], sizes[0], variants[0], repeat, Path(tmp))))
        return
    header("Remove Background benchmark table")
    print(f"# models {', '.join(models)}; seconds per call (median of {repeat} warm calls; once if over {SLOW_SECONDS:.0f} s); "
          f"node/floor is a ratio of figures from one process; its target inside InvokeAI (benchmarks.floor) is "
          f"{TARGETS['floor'].rule()}", flush=True)
    rows = []
    for model in models:
        for size in sizes:
            for variant in variants:
                rows.append(run_row(model, size, variant, repeat))
                print(f"# done {model} {size}² {variant}", file=sys.stderr, flush=True)
    print(table(rows))
    from tests.harness.memory import METHOD

    print(f"# memory: {METHOD}")


if __name__ == "__main__":
    main()
