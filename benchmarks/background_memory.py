"""Peak memory of an opaque background_color against the plain cutout, 12000x12000, inside a headless InvokeAI.

    python -m benchmarks.background_memory [--size 12000] [--model u2netp] [--color 255,255,255,255]

Each way runs in its own fresh server (so neither inherits the other's heap): rembg's anime-girl-1
fixture is uploaded at 1024x1024 and InvokeAI's own img_resize node makes the size x size picture
inside the server (an upload that large would outlast the harness's HTTP timeout); one node call on a
512x512 picture with the same options loads the session; then the measured call. Peak extra memory
is the server process's (tests.harness.memory.peak_extra_mb on its pid: peak reset, VmHWM after
the call minus VmRSS just before). The input is in InvokeAI's image cache for both (img_resize just
saved it); the node's time from the graph stats is shown for information.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.headless import node, output_image, pid, run_graph, start
from benchmarks.machine import header
from benchmarks.targets import TARGETS, line
from tests.harness import fixtures
from tests.harness.memory import METHOD, peak_extra_mb, rss_mb

SETTLE_SECONDS = 1.0  # after the last upload: the server's thumbnailing and logging finish before the baseline


def background(color: tuple[int, int, int, int] | None) -> dict[str, Any]:
    """An RGBA colour or None -> the node fields for it (None: the plain cutout, the field at its default)."""
    if color is None:
        return {}
    return {"background_color": dict(zip("rgba", color))}


def measure(size: int, model: str, color: tuple[int, int, int, int] | None) -> dict[str, float]:
    """Side, model and background colour (None: plain) -> the call's peak extra MB, RSS before it and node seconds."""
    fields = background(color)
    source = Image.open(fixtures.ANIME).convert("RGB").resize((1024, 1024), Image.Resampling.BICUBIC)
    with tempfile.TemporaryDirectory(prefix="rb-bgmem-") as tmp:
        server = start(Path(tmp) / "root", (model,))
        try:
            small = server.upload(source.resize((512, 512), Image.Resampling.BICUBIC), "warm.png")
            run_graph(server, {"rb": node(small, model, **fields)})
            name = server.upload(source, "source.png")
            item, _ = run_graph(server, {"big": {"type": "img_resize", "image": {"image_name": name},
                                                 "width": size, "height": size, "resample_mode": "bicubic"}})
            big = output_image(server, item, "big")
            time.sleep(SETTLE_SECONDS)
            before = rss_mb(pid(server))
            (item, stats), peak = peak_extra_mb(lambda: run_graph(server, {"rb": node(big, model, **fields)}), pid=pid(server))
        finally:
            server.stop()
    return {"peak_mb": peak, "rss_before_mb": before, "seconds": stats["remove_background"]}


def main(argv: list[str] | None = None) -> None:
    """Command line -> prints both ways' peak extra memory and their ratio against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TARGETS["background_memory"].side)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--color", default="255,255,255,255", help="the opaque background colour, r,g,b,a")
    args = parser.parse_args(argv)
    color = tuple(int(c) for c in args.color.split(","))
    started = time.monotonic()
    header("Remove Background: memory of an opaque background colour, inside a headless InvokeAI")
    plain = measure(args.size, args.model, None)
    coloured = measure(args.size, args.model, color)  # type: ignore[arg-type]
    print(f"\n## {args.size}x{args.size} (anime-girl-1 resized by img_resize), {args.model}, one call each, fresh server each")
    print(f"{'':34}{'peak extra MB':>14}{'RSS before MB':>15}{'node s':>9}")
    for name, r in (("plain cutout", plain), (f"background_color {args.color}", coloured)):
        print(f"{name:34}{r['peak_mb']:14.0f}{r['rss_before_mb']:15.0f}{r['seconds']:9.2f}")
    print(line("background_memory", coloured["peak_mb"] / plain["peak_mb"], side=args.size))
    print(f"# memory: {METHOD}")
    print(f"\n# total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
