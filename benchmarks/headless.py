"""Driving the benchmarks' headless InvokeAI: start one with real weights placed, run graphs, read node times,
push an image out of InvokeAI's image cache, and name the process whose memory is read."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.server_log import LOG_FORMAT, graph_stats
from tests.harness.scenes import composite
from tests.harness.server import Server
from tests.harness.weights import place

MATTING_WARM_SIDE = 1536  # a composite whose band is large enough for the reduced-size solve a 4096x4096 band takes
_fillers = itertools.count()


def start(root: Path, models: tuple[str, ...] = ("u2netp",), env: dict[str, str] | None = None) -> Server:
    """A fresh root and the models to place by hand -> a started headless InvokeAI with the pack (stop it after)."""
    for model in models:
        place(root, model)
    server = Server(root, env={"INVOKEAI_LOG_FORMAT": LOG_FORMAT, **(env or {})})
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def pid(server: Server) -> int:
    """A started server -> the process id of invokeai-web itself (whose memory the benchmarks read)."""
    if server._proc is None:  # noqa: SLF001 - the Popen of the console script is the server process
        raise RuntimeError("the server is not running")
    return server._proc.pid  # noqa: SLF001


def node(image_name: str, model: str = "u2netp", **fields: Any) -> dict[str, Any]:
    """An uploaded image, a model and other node inputs -> a remove_background node for Server.run."""
    return {"type": "remove_background", "image": {"image_name": image_name}, "model": model, **fields}


def run_graph(server: Server, nodes: dict[str, dict[str, Any]], edges: list = ()) -> tuple[dict[str, Any], dict[str, float]]:
    """Graph -> (finished queue item, {node type: seconds} from graph stats); raises if the graph failed."""
    item = server.run(nodes, edges)
    if item["status"] != "completed":
        raise RuntimeError(f"graph {item['status']}: {item.get('error_type')}: {item.get('error_message')}")
    return item, graph_stats(server, item["session_id"])


def warm_matting(server: Server, model: str) -> None:
    """A started server and a model -> nothing; the session is loaded and matting's numba kernels compiled
    (those of the reduced-size solve too, as after any earlier large matting), so later calls time their own work."""
    warm = server.upload(Image.fromarray(composite(MATTING_WARM_SIDE)[0]), "warm.png")
    run_graph(server, {"rb": node(warm, model, alpha_matting=True)})


def output_image(server: Server, item: dict[str, Any], node_id: str, field: str = "image") -> str:
    """A finished queue item, a node id and an image output -> that output's image name."""
    return server.output(item, node_id)[field]["image_name"]


EVICTING_UPLOADS = 32  # InvokeAI 6.14's image cache holds 10 entries; each upload adds the image and its thumbnail


def evict(server: Server) -> int:
    """Push every image saved so far out of the server's image cache -> the number of tiny images uploaded to do it.

    The cache holds the last few images saved or read, first in first out, and each save caches
    the image and its thumbnail; so many saves of tiny new images push everything older out. The
    count is generous rather than read from the cache's private size.
    """
    for _ in range(EVICTING_UPLOADS):
        server.upload(Image.new("RGB", (8, 8), (next(_fillers) % 256, 0, 0)), "filler.png")
    return EVICTING_UPLOADS


def unique(image: Image.Image, serial: int) -> Image.Image:
    """An RGB image and a serial number -> a copy whose top-left pixel differs per serial, so the node's
    mask cache (keyed by every pixel) misses and the model runs, on an otherwise identical picture."""
    out = image.copy()
    out.putpixel((0, 0), (serial % 256, (serial // 256) % 256, 77))
    return out
