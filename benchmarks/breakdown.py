"""Where a Remove Background node call spends its time, step by step, in a real InvocationContext.

    python -m benchmarks.breakdown [--size 2048] [--model u2netp] [--rounds 5]

The node runs through InvokeAI's own invoke_internal with real services (tests/harness/context.py:
disk image storage with its image cache, SQLite records, the model cache). For the measurement
only, the functions named in POINTS are wrapped with timers in this process (nothing in the pack
changes); a step's time includes its sub-steps, and "(rest)" is what its sub-steps do not cover.
Two ways per round: the input still in InvokeAI's image cache (as right after an upload or an
earlier node saved it), and evicted from it (the node must decode the PNG). Every round's picture
differs in one pixel so the pack's mask cache misses and the model runs each time.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.headless import unique
from tests.harness import fixtures

MODES = ("cached", "evicted")
TOTAL = "node call (invoke_internal)"

# (key, module, attribute path, label, depth): depth 1 steps are the node's own, deeper ones lie inside the step above
POINTS: tuple[tuple[str, str, str, str, int], ...] = (
    ("read", "remove_background_node.host", "Host.load_image", "read the input (get_pil: decode if not cached, copy)", 1),
    ("locate", "remove_background_node.host", "Host.model", "find the model file, pick providers", 1),
    ("rgb", "remove_background_node.pipeline", "split_rgb_alpha", "to RGB (split off any alpha)", 1),
    ("digest", "remove_background_node.pipeline", "digest", "digest of the pixels (the mask cache's key)", 1),
    ("mask", "remove_background_node.inference", "predict_mask", "model mask (session, resize, inference, mask back)", 1),
    ("normalize", "rembg.sessions.base", "BaseSession.normalize", "rembg: resize to the model input, normalise", 2),
    ("inference", "onnxruntime", "InferenceSession.run", "onnxruntime inference", 2),
    ("upscale", "remove_background_node.inference", "upscale_mask", "mask back up to full size", 2),
    ("finish", "remove_background_node.pipeline", "finish", "mask controls, edge colours, compose", 1),
    ("compose", "remove_background_node.compose", "composite", "compose the RGBA cutout", 2),
    ("bbox", "remove_background_node.masks", "bounding_box", "bounding box", 2),
    ("save", "remove_background_node.host", "Host.save", "save cutout and mask (context.images.save)", 1),
    ("files", "invokeai.app.services.image_files.image_files_disk", "DiskImageFileStorage.save", "image files: PNG + thumbnail", 2),
    ("probe", "invokeai.app.services.image_files.image_files_disk", "_should_use_png_rle", "PNG compression probe", 3),
    ("thumbnail", "invokeai.app.services.image_files.image_files_disk", "make_thumbnail", "thumbnail", 3),
)
LABEL = {key: label for key, _, _, label, _ in POINTS}


@contextmanager
def timers(seconds: dict[str, float]) -> Iterator[None]:
    """A dict to add into -> while open, every POINTS function adds its call times to seconds[label]."""
    with ExitStack() as stack:
        for _, module, path, label, _ in POINTS:
            *owners, attr = path.split(".")
            owner: Any = importlib.import_module(module)
            for name in owners:
                owner = getattr(owner, name)
            stack.enter_context(_wrapped(owner, attr, label, seconds))
        yield


@contextmanager
def _wrapped(owner: Any, attr: str, label: str, seconds: dict[str, float]) -> Iterator[None]:
    """A module or class, an attribute and a label -> while open, calls to it add their time to seconds[label]."""
    own = attr in vars(owner)  # inherited methods are restored by deleting the override
    original: Callable[..., Any] = getattr(owner, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        """The original's arguments -> its result, its time added."""
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - t

    setattr(owner, attr, timed)
    try:
        yield
    finally:
        if own:
            setattr(owner, attr, original)
        else:
            delattr(owner, attr)


def measure(model: str, size: int, rounds: int) -> dict[str, dict[str, float]]:
    """Model, square side and rounds -> {mode: {label: median seconds per call}} with the node's total under TOTAL."""
    from invokeai.invocation_api import ImageField

    from remove_background_node import RemoveBackgroundInvocation
    from tests.harness import context
    from tests.harness.weights import place

    picture = Image.open(fixtures.ANIME).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="rb-breakdown-") as tmp:
        root = Path(tmp)
        place(root, model)
        h = context.build(root)
        files = h.services.image_files
        try:
            serial = 0
            for i in range(2 + rounds):  # two warm-up rounds: session loaded, first-call costs paid
                for mode in MODES:
                    serial += 1
                    name = h.upload(unique(picture, serial))
                    if mode == "evicted":
                        files.evict_cache_paths([files.get_path(name), files.get_path(name, thumbnail=True)])
                    seconds: dict[str, float] = defaultdict(float)
                    invocation = RemoveBackgroundInvocation(id=f"rb{serial}", image=ImageField(image_name=name), model=model)
                    with timers(seconds):
                        t = time.perf_counter()
                        h.run(invocation)
                        seconds[TOTAL] = time.perf_counter() - t
                    if i >= 2:
                        runs[mode].append(dict(seconds))
        finally:
            h.stop()
    return {mode: {label: statistics.median(r.get(label, 0.0) for r in rs) for label in [TOTAL, *labels()]}
            for mode, rs in runs.items()}


def labels() -> list[str]:
    """-> the step labels in POINTS order."""
    return [label for _, _, _, label, _ in POINTS]


def rows(result: dict[str, dict[str, float]]) -> list[tuple[str, list[float]]]:
    """measure()'s result -> (indented label, seconds per mode) rows, each parent followed by its steps and a "(rest)"."""
    modes = list(result)
    out: list[tuple[str, list[float]]] = [(TOTAL, [result[m][TOTAL] for m in modes])]

    def children(parent_index: int, depth: int) -> list[int]:
        """A POINTS index (-1: the node call) and the depth below it -> the indices of its direct steps."""
        found = []
        for j in range(parent_index + 1, len(POINTS)):
            if POINTS[j][4] < depth:
                break
            if POINTS[j][4] == depth:
                found.append(j)
        return found

    def emit(index: int, depth: int, parent: list[float]) -> None:
        """A POINTS index, the depth below it and its seconds per mode -> its steps' rows appended to out."""
        kids = children(index, depth)
        for j in kids:
            label = POINTS[j][3]
            values = [result[m][label] for m in modes]
            out.append(("  " * depth + label, values))
            emit(j, depth + 1, values)
        if kids:
            rest = [p - sum(result[m][POINTS[j][3]] for j in kids) for p, m in zip(parent, modes)]
            out.append(("  " * depth + "(rest)", rest))

    emit(-1, 1, out[0][1])
    return out


def table(result: dict[str, dict[str, float]]) -> str:
    """measure()'s result -> a printable table: seconds per mode, each step's share of the node call, and the difference."""
    modes = list(result)
    head = f"{'step':60}" + "".join(f"{m + ' s':>12}" for m in modes) + "".join(f"{m + ' %':>11}" for m in modes)
    head += f"{modes[-1] + '-' + modes[0]:>18}" if len(modes) == 2 else ""
    lines = [head]
    totals = [result[m][TOTAL] for m in modes]
    for label, values in rows(result):
        line = f"{label:60}" + "".join(f"{v:12.3f}" for v in values)
        line += "".join(f"{100 * v / t:10.1f}%" for v, t in zip(values, totals))
        line += f"{values[-1] - values[0]:+18.3f}" if len(modes) == 2 else ""
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line -> prints where a warm node call's time goes, input cached and evicted."""
    from benchmarks.machine import header

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    header("Remove Background: where a node call's time goes (in process, real InvocationContext)")
    result = measure(args.model, args.size, args.rounds)
    print(f"\n{args.size}x{args.size}, {args.model}, defaults; median of {args.rounds} rounds (each round: one call per "
          "mode, back to back; a new picture each call, so the model runs)")
    print(table(result))


if __name__ == "__main__":
    main()
