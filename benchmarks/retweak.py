"""Re-tweak: a 4096x4096 alpha-matting call, then reruns that change only mask_grow, inside a headless InvokeAI.

    python -m benchmarks.retweak [--size 4096] [--grows 8,-8] [--pictures 3] [--model u2netp]

first   the node on a 4096x4096 composite (tests.harness.scenes.composite) with alpha_matting=True, in a
        server warmed by one matting call on a smaller composite (benchmarks.headless.warm_matting:
        session loaded, numba kernels compiled), so the first call's time is this picture's work and
        not start-up's.
rerun   the same image and inputs but mask_grow (one rerun per --grows value, in that order): the
        pack's mask cache holds the model's mask and the matte, so the rerun should start after them.
Each of --pictures pictures (the composite, one pixel apart) gets a first call and its reruns, back
to back; the figure is the median of the reruns' ratios to their own first call.
Node times from InvokeAI's graph stats; the input is in InvokeAI's image cache for all calls (it was
just uploaded), as it is for a person changing a field and invoking again.
Then a fresh server with the pack's mask cache turned off runs the first picture's reruns' inputs
from scratch, and each of those reruns' mask and cutout is compared with it (max and mean |difference|, in levels).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.headless import node, output_image, run_graph, start, unique, warm_matting
from benchmarks.machine import header
from benchmarks.targets import TARGETS, line
from remove_background_node.mask_cache import BUDGET_ENV
from tests.harness.scenes import composite
from tests.harness.server import Server


def outputs(server: Server, item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A finished node graph -> (its mask as HxW uint8, its cutout as HxWx4 uint8)."""
    mask = np.asarray(server.image(output_image(server, item, "rb", "mask")).convert("L"))
    cutout = np.asarray(server.image(output_image(server, item, "rb")).convert("RGBA"))
    return mask, cutout


def cached_run(pictures: list[Image.Image], model: str, grows: list[int]) -> list[dict[str, Any]]:
    """Pictures, model and reruns' grows -> per picture, in one server: the first call's seconds and each rerun's
    (grow, seconds); the first picture's reruns also keep their (mask, cutout) for the comparison."""
    out = []
    with tempfile.TemporaryDirectory(prefix="rb-retweak-") as tmp:
        server = start(Path(tmp) / "root", (model,))
        try:
            warm_matting(server, model)
            for p, picture in enumerate(pictures):
                name = server.upload(picture, f"composite-{p}.png")
                _, stats = run_graph(server, {"rb": node(name, model, alpha_matting=True)})
                result: dict[str, Any] = {"first": stats["remove_background"], "reruns": [], "outputs": {}}
                for grow in grows:
                    item, stats = run_graph(server, {"rb": node(name, model, alpha_matting=True, mask_grow=grow)})
                    result["reruns"].append((grow, stats["remove_background"]))
                    if p == 0:
                        result["outputs"][grow] = outputs(server, item)
                out.append(result)
        finally:
            server.stop()
    return out


def fresh_run(picture: Image.Image, model: str, grows: list[int]) -> dict[int, tuple[float, np.ndarray, np.ndarray]]:
    """The picture, model and grows -> {grow: (seconds, mask, cutout)} from a server whose mask cache is off."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="rb-retweak-fresh-") as tmp:
        server = start(Path(tmp) / "root", (model,), env={BUDGET_ENV: "0"})
        try:
            warm_matting(server, model)  # as the first server was
            name = server.upload(picture, "composite.png")
            for grow in grows:
                item, stats = run_graph(server, {"rb": node(name, model, alpha_matting=True, mask_grow=grow)})
                results[grow] = (stats["remove_background"], *outputs(server, item))
        finally:
            server.stop()
    return results


def difference(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """Two uint8 arrays of one shape -> (max, mean) absolute difference in levels."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(d.max()), float(d.mean())


def main(argv: list[str] | None = None) -> None:
    """Command line -> prints the first calls, the reruns, their ratios and their agreement with a fresh server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TARGETS["retweak_speed"].side)
    parser.add_argument("--grows", default="8,-8", help="mask_grow of each rerun, comma-separated (the first call: 0)")
    parser.add_argument("--pictures", type=int, default=3, help="pictures, each a first call and its reruns")
    parser.add_argument("--model", default="u2netp")
    args = parser.parse_args(argv)
    grows = [int(g) for g in args.grows.split(",")]
    started = time.monotonic()
    header("Remove Background: re-tweak after alpha matting, inside a headless InvokeAI")
    base = Image.fromarray(composite(args.size)[0])
    pictures = [unique(base, p + 1) for p in range(args.pictures)]
    mine = cached_run(pictures, args.model, grows)
    fresh = fresh_run(pictures[0], args.model, grows)
    print(f"\n## {args.size}x{args.size} composite, {args.model}, alpha_matting, node time from graph stats; "
          f"{args.pictures} pictures (one pixel apart, so each first call misses the mask cache)")
    ratios = []
    for p, result in enumerate(mine):
        reruns = ", ".join(f"mask_grow {g:+d} {s:.3f} s = {s / result['first']:.3f}x" for g, s in result["reruns"])
        ratios += [s / result["first"] for _, s in result["reruns"]]
        print(f"picture {p}: first call {result['first']:.3f} s; reruns: {reruns}")
    worst = 0
    print("picture 0's reruns against a fresh server with the mask cache off (the same inputs, from scratch):")
    for grow, (mask, cutout) in mine[0]["outputs"].items():
        fresh_seconds, fresh_mask, fresh_cutout = fresh[grow]
        m_max, m_mean = difference(mask, fresh_mask)
        c_max, c_mean = difference(cutout, fresh_cutout)
        worst = max(worst, m_max)
        print(f"    mask_grow {grow:+d}: mask max {m_max} mean {m_mean:.4f} levels; cutout max {c_max} mean {c_mean:.4f}; "
              f"from scratch {fresh_seconds:.3f} s")
    ratio = statistics.median(ratios)
    print(line("retweak_speed", ratio, f"{ratio:.3f}x (median of {len(ratios)} reruns / their first call)", side=args.size))
    print(line("retweak_equal", worst, f"{worst} levels (worst rerun)", side=args.size))
    print(f"\n# total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
