"""Alpha matting check: our band solver against rembg's full-resolution matting on a known alpha.

    python -m benchmarks.matting_check [--size 4096] [--erode 10] [--scene default|dense|all]

Each method runs in its own subprocess (so one's memory cannot hide the other's) on the same
synthetic composite (tests.harness.scenes: a hairy, soft-edged disc over a texture; scene
"dense" has other textures and hair twice as dense and thin), with a model-like mask (the truth
seen at 320x320, upscaled). Prints time, peak extra memory, the alpha error (mean absolute
difference from the true alpha, 0..1) and the foreground colour error (mean absolute difference
from the true foreground colour, 0..1, over pixels whose true alpha is between 0.1 and 0.9,
where the colour has to be unmixed) of each, and the ratios against the targets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.targets import TARGETS, line, verdict

REPO = Path(__file__).resolve().parent.parent


def run_method(method: str, size: int, erode: int, scene: str) -> dict[str, float]:
    """Method name ('ours' or 'rembg'), side, erode size, scene -> time, memory and errors, measured in this process."""
    from PIL import Image

    from tests.harness.memory import peak_extra_mb
    from tests.harness.scenes import SCENES, composite, model_like_mask, true_foreground

    rgb, truth = composite(size, **SCENES[scene])
    mask = model_like_mask(truth)
    if method == "ours":
        from remove_background_node import foreground, matting

        def call() -> np.ndarray:
            # as the pipeline does after matting: the matte, then the edge colours from it
            tri = matting.trimap(mask, 240, 10, erode)
            alpha = matting.solve(rgb, tri)
            return np.dstack([foreground.estimate(rgb, alpha), alpha])

        warm = edge_crop(size)  # compiles (or loads) numba kernels outside the measurement
        warm_rgb = np.ascontiguousarray(rgb[warm])
        warm_tri = matting.trimap(np.ascontiguousarray(mask[warm]), 240, 10, erode)
        matting.solve(warm_rgb, warm_tri)  # the full-size path
        matting.coarse_guess(warm_rgb, warm_tri, warm_tri == matting.UNKNOWN, 2)  # and the coarse one
        foreground.estimate(warm_rgb, matting.solve(warm_rgb, warm_tri))
    else:
        from rembg.bg import alpha_matting_cutout

        img, m = Image.fromarray(rgb), Image.fromarray(mask)

        def call() -> np.ndarray:
            return np.asarray(alpha_matting_cutout(img, m, 240, 10, erode))  # straight RGB + alpha

        warm = edge_crop(size)
        small = Image.fromarray(np.ascontiguousarray(rgb[warm]))
        alpha_matting_cutout(small, Image.fromarray(np.ascontiguousarray(mask[warm])), 240, 10, erode)
    t = time.perf_counter()
    rgba, mem = peak_extra_mb(call)
    seconds = time.perf_counter() - t
    err = float(np.abs(rgba[..., 3].astype(np.float32) / 255 - truth).mean())
    soft = (truth > 0.1) & (truth < 0.9)
    fg_true = true_foreground(size, SCENES[scene]["seed"])[soft]
    fg_err = float(np.abs(rgba[..., :3][soft].astype(np.float32) / 255 - fg_true).mean())
    return {"seconds": seconds, "peak_mb": mem, "error": err, "fg_error": fg_err}


def edge_crop(size: int, side: int = 512) -> tuple[slice, slice]:
    """Composite side -> a crop of at most side x side across the disc's left edge (holds subject and background)."""
    if size <= side:
        return slice(0, size), slice(0, size)
    c = size // 2
    edge = int(size * 0.2)
    return slice(c - side // 2, c + side // 2), slice(max(0, edge - side // 2), max(0, edge - side // 2) + side)


def measure(method: str, size: int, erode: int, scene: str) -> dict[str, float]:
    """Method, side, erode, scene -> its figures, from a fresh subprocess."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.matting_check", "--worker", method, "--size", str(size),
         "--erode", str(erode), "--scene", scene],
        check=True, capture_output=True, text=True, cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(size: int, erode: int, scene: str) -> bool:
    """Side, erode, scene -> prints both methods' figures and the ratios; whether all targets are met."""
    ours = measure("ours", size, erode, scene)
    ref = measure("rembg", size, erode, scene)
    print(f"alpha matting, {size}x{size} composite '{scene}' with known alpha, erode {erode}")
    print(f"{'':8}{'seconds':>10}{'peak MB':>10}{'alpha MAE':>12}{'fg MAE':>10}")
    for name, r in (("ours", ours), ("rembg", ref)):
        print(f"{name:8}{r['seconds']:10.2f}{r['peak_mb']:10.0f}{r['error']:12.5f}{r['fg_error']:10.4f}")
    speed = ref["seconds"] / ours["seconds"]
    memory = ours["peak_mb"] / ref["peak_mb"]
    error = ours["error"] / ref["error"]
    figures = {"matting_speed": speed, "matting_memory": memory, "matting_error": error}
    for key, value in figures.items():
        print(line(key, value, side=size))
    print()
    return all(verdict(key, value) == "met" for key, value in figures.items())


def main(argv: list[str] | None = None) -> None:
    """Command line -> each scene's table and targets (or, as --worker, one method's JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TARGETS["matting_speed"].side)
    parser.add_argument("--erode", type=int, default=10)
    parser.add_argument("--scene", default="default", help="a scene of tests.harness.scenes.SCENES, or 'all'")
    parser.add_argument("--worker", choices=("ours", "rembg"))
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_method(args.worker, args.size, args.erode, args.scene)))
        return
    from benchmarks.machine import header
    from tests.harness.scenes import SCENES

    header("Remove Background: alpha matting, our band solver vs rembg's, in process")
    scenes = list(SCENES) if args.scene == "all" else [args.scene]
    for scene in scenes:
        report(args.size, args.erode, scene)


if __name__ == "__main__":
    main()
