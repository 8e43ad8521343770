"""The node against its floor inside a real headless InvokeAI, with its input in InvokeAI's image cache and evicted.

    python -m benchmarks.floor [--size 2048] [--model u2netp] [--rounds 5] [--no-breakdown]

node   the remove_background node's own time, from InvokeAI's graph stats (the table the session
       processor logs at session end), one graph of that node alone per round.
floor  what InvokeAI's core nodes spend on the same image work, plus the model's inference:
       - img_conv (mode RGBA) and tomask in one graph, reading the node's own cutout and saving an
         RGBA image and an L mask (the node saves one of each), their times from the same graph stats;
       - onnxruntime inference on exactly the tensor the node feeds the model (benchmarks.model_feed),
         in this client process with the node's session options, while the server is idle. No core
         node runs onnxruntime, so this part cannot be timed in the server.
Three ways, each round running them back to back so all see the same machine load:
  cached    a new upload (so the node's mask cache misses and the model runs); the upload left it in
            InvokeAI's image cache, as the core nodes find the cutout the node has just saved
  evicted   the same, then the input pushed out of InvokeAI's image cache (benchmarks.headless.evict)
            before the node, and the cutout pushed out before the core nodes: both decode a PNG
  repeated  the very same image every round, as this check did before: an image-cache hit and a
            mask-cache hit, so the node skips the model altogether (for comparison only)
Then, unless --no-breakdown, benchmarks.breakdown times the node's steps in process (cached and
evicted) and the difference between the ways is laid out step by step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import breakdown
from benchmarks.headless import evict, node, output_image, run_graph, start, unique
from benchmarks.machine import header
from benchmarks.model_feed import ModelRun
from benchmarks.targets import TARGETS, line
from tests.harness import fixtures
from tests.harness.weights import fetch

MODES = ("cached", "evicted", "repeated")
INFERENCE_RUNS = 5  # per round


def core_graph(image_name: str) -> dict[str, dict[str, Any]]:
    """An image -> the core nodes' graph that does the node's I/O: read it, save RGBA, save its alpha as a mask."""
    return {
        "conv": {"type": "img_conv", "image": {"image_name": image_name}, "mode": "RGBA"},
        "mask": {"type": "tomask", "image": {"image_name": image_name}},
    }


def measure(model: str, size: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Model, side, rounds -> {mode: {"node", "io", "img_conv", "tomask", "inference": seconds per round}}."""
    picture = Image.open(fixtures.ANIME).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    figures: dict[str, dict[str, list[float]]] = {m: {k: [] for k in ("node", "io", "img_conv", "tomask", "inference")} for m in MODES}
    with tempfile.TemporaryDirectory(prefix="rb-floor-") as tmp:
        server = start(Path(tmp) / "root", (model,))
        try:
            model_run = ModelRun(model, fetch(model), picture)
            serial = 0
            for _ in range(2):  # the first loads the session; the second is the first warm call
                serial += 1
                run_graph(server, {"rb": node(server.upload(unique(picture, serial), "warm.png"), model)})
            repeated = server.upload(unique(picture, 0), "repeated.png")
            run_graph(server, {"rb": node(repeated, model)})  # its mask is now in the node's cache
            for _ in range(rounds):
                for mode in MODES:
                    if mode == "repeated":
                        name = repeated
                    else:
                        serial += 1
                        name = server.upload(unique(picture, serial), f"input-{serial}.png")
                    if mode == "evicted":
                        evict(server)
                    item, stats = run_graph(server, {"rb": node(name, model)})
                    cutout = output_image(server, item, "rb")
                    if mode == "evicted":
                        evict(server)
                    _, core = run_graph(server, core_graph(cutout))
                    f = figures[mode]
                    f["node"].append(stats["remove_background"])
                    f["img_conv"].append(core["img_conv"])
                    f["tomask"].append(core["tomask"])
                    f["io"].append(core["img_conv"] + core["tomask"])
                    f["inference"].append(model_run.seconds(INFERENCE_RUNS))  # the server idle
        finally:
            server.stop()
    return figures


def report(figures: dict[str, dict[str, list[float]]], side: int) -> dict[str, dict[str, float]]:
    """measure()'s figures and the picture's side -> prints one block per mode; returns the medians per mode."""
    runs = lambda xs: ", ".join(f"{x:.3f}" for x in xs)  # noqa: E731
    medians: dict[str, dict[str, float]] = {}
    for mode, f in figures.items():
        floors = [io + inf for io, inf in zip(f["io"], f["inference"])]
        m = {k: statistics.median(v) for k, v in f.items()}
        m["floor"] = statistics.median(floors)
        medians[mode] = m
        print(f"\n### {mode}")
        print(f"node (remove_background)         {m['node']:.3f} s   [rounds: {runs(f['node'])}]")
        print(f"floor: img_conv RGBA             {m['img_conv']:.3f} s")
        print(f"floor: tomask                    {m['tomask']:.3f} s")
        print(f"floor: onnxruntime inference     {m['inference']:.3f} s   (in the client, median of {INFERENCE_RUNS} per round)")
        print(f"floor                            {m['floor']:.3f} s   [rounds: {runs(floors)}]")
        ratio = m["node"] / m["floor"]
        best = min(f["node"]) / min(floors)
        print(line("floor", ratio, f"{ratio:.2f}x (medians; best rounds {best:.2f}x)", side=side))
        print(f"node - floor                     {m['node'] - m['floor']:+.3f} s")
    return medians


def explain(medians: dict[str, dict[str, float]], steps: dict[str, dict[str, float]]) -> None:
    """Server medians per mode and the in-process breakdown -> prints what node - floor and the ways' differences are made of."""
    label = breakdown.LABEL
    print("\n## What the figures are made of (server medians beside the in-process steps)")
    for mode in ("cached", "evicted"):
        s, m = steps[mode], medians[mode]
        io = s[label["read"]] + s[label["save"]]
        own = s[breakdown.TOTAL] - io - s[label["inference"]]
        parts = "; ".join(f"{label[k]} {s[label[k]]:.3f}" for k in ("digest", "normalize", "upscale", "compose", "bbox"))
        print(f"{mode}: node - floor {m['node'] - m['floor']:+.3f} s in the server. In process: the node's reading + "
              f"saving {io:.3f} s (the floor's core-node I/O in the server: {m['io']:.3f} s); inference "
              f"{s[label['inference']]:.3f} s (the floor's: {m['inference']:.3f} s); work the floor does not do "
              f"{own:.3f} s, of which {parts}")
    c, e = medians["cached"], medians["evicted"]
    print(f"node, evicted - cached: {e['node'] - c['node']:+.3f} s in the server; in process, reading the input "
          f"{steps['evicted'][label['read']] - steps['cached'][label['read']]:+.3f} s (a PNG decode instead of a copy)")
    print(f"floor I/O, evicted - cached: {e['io'] - c['io']:+.3f} s (the core nodes decode the cutout once)")
    if "repeated" in medians:
        print(f"node, repeated - cached: {medians['repeated']['node'] - c['node']:+.3f} s (a mask-cache hit skips the "
              f"model mask, in process {steps['cached'][label['mask']]:.3f} s)")


def main(argv: list[str] | None = None) -> None:
    """Command line -> prints the floor check in all modes and, unless told not to, the step breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TARGETS["floor"].side)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process step timing")
    args = parser.parse_args(argv)
    started = time.monotonic()
    header("Remove Background: node vs floor inside a headless InvokeAI")
    figures = measure(args.model, args.size, args.rounds)
    print(f"\n## node vs floor, {args.size}x{args.size}, {args.model}, warm calls, median of {args.rounds} rounds "
          f"(graph stats); target: {TARGETS['floor'].rule()}")
    medians = report(figures, args.size)
    if not args.no_breakdown:
        steps = breakdown.measure(args.model, args.size, args.rounds)
        print(f"\n## where the node's time goes: {args.size}x{args.size}, {args.model}, in process (real "
              f"InvocationContext), median of {args.rounds} rounds")
        print(breakdown.table(steps))
        explain(medians, steps)
    print(f"\n# total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
