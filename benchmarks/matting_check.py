"""Alpha matting check: our band solver against rembg's full-resolution matting on a known alpha.

    python -m benchmarks.matting_check [--size 4096] [--erode 10]

Each method runs in its own subprocess (so one's memory cannot hide the other's) on the same
synthetic composite (benchmarks.synthetic: a hairy, soft-edged disc over a texture), with a
model-like mask (the truth seen at 320x320, upscaled). Prints time, peak extra memory and the
alpha error (mean absolute difference from the true alpha, 0..1) of each, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def run_method(method: str, size: int, erode: int) -> dict[str, float]:
    """Method name ('ours' or 'rembg'), side, erode size -> time, memory and error, measured in this process."""
    from PIL import Image

    from benchmarks.memory import peak_extra_mb
    from benchmarks.synthetic import composite, model_like_mask

    rgb, truth = composite(size)
    mask = model_like_mask(truth)
    if method == "ours":
        from remove_background_node import matting

        def call() -> np.ndarray:
            tri = matting.trimap(mask, 240, 10, erode)
            alpha, fg = matting.solve(rgb, tri)
            return alpha

        warm = edge_crop(size)  # compiles numba kernels outside the measurement
        matting.solve(np.ascontiguousarray(rgb[warm]), matting.trimap(np.ascontiguousarray(mask[warm]), 240, 10, erode))
    else:
        from rembg.bg import alpha_matting_cutout

        img, m = Image.fromarray(rgb), Image.fromarray(mask)

        def call() -> np.ndarray:
            return np.asarray(alpha_matting_cutout(img, m, 240, 10, erode))[..., 3]

        warm = edge_crop(size)
        small = Image.fromarray(np.ascontiguousarray(rgb[warm]))
        alpha_matting_cutout(small, Image.fromarray(np.ascontiguousarray(mask[warm])), 240, 10, erode)
    t = time.perf_counter()
    alpha, mem = peak_extra_mb(call)
    seconds = time.perf_counter() - t
    err = float(np.abs(alpha.astype(np.float32) / 255 - truth).mean())
    return {"seconds": seconds, "peak_mb": mem, "error": err}


def edge_crop(size: int, side: int = 512) -> tuple[slice, slice]:
    """Composite side -> a crop of at most side x side across the disc's left edge (holds subject and background)."""
    if size <= side:
        return slice(0, size), slice(0, size)
    c = size // 2
    edge = int(size * 0.2)
    return slice(c - side // 2, c + side // 2), slice(max(0, edge - side // 2), max(0, edge - side // 2) + side)


def measure(method: str, size: int, erode: int) -> dict[str, float]:
    """Method, side, erode -> its figures, from a fresh subprocess."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.matting_check", "--worker", method, "--size", str(size), "--erode", str(erode)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--erode", type=int, default=10)
    parser.add_argument("--worker", choices=("ours", "rembg"))
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_method(args.worker, args.size, args.erode)))
        return
    ours = measure("ours", args.size, args.erode)
    ref = measure("rembg", args.size, args.erode)
    print(f"alpha matting, {args.size}x{args.size} composite with known alpha, erode {args.erode}")
    print(f"{'':8}{'seconds':>10}{'peak MB':>10}{'alpha MAE':>12}")
    for name, r in (("ours", ours), ("rembg", ref)):
        print(f"{name:8}{r['seconds']:10.2f}{r['peak_mb']:10.0f}{r['error']:12.5f}")
    print(
        f"speed-up {ref['seconds'] / ours['seconds']:.1f}x, memory {ours['peak_mb'] / ref['peak_mb']:.3f} of rembg's, "
        f"error {ours['error'] / ref['error']:.3f}x rembg's"
    )


if __name__ == "__main__":
    main()
