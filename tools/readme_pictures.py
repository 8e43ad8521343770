"""Make the README's option pictures: one small before/after picture per option, from rembg's anime-girl-1 fixture with u2netp.

Each picture is the node's own pipeline (the code the node runs) with defaults on the left and
one option changed on the right. Cutouts are shown over a grey checkerboard so transparency
shows; masks are shown as they are. Writes .readme/option-<name>.png and prints each path.
Usage: python -m tools.readme_pictures [--width 200]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from remove_background_node import catalog, pipeline
from remove_background_node.inference import predictor
from remove_background_node.sessions import create_rembg_session
from tests.harness import fixtures, weights

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".readme"
LABEL_H = 16


def checkerboard(size: tuple[int, int], cell: int = 8) -> Image.Image:
    """Size -> a light grey checkerboard, the usual picture of 'transparent'."""
    board = Image.new("RGB", size, (230, 230, 230))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], cell):
        for x in range((y // cell) % 2 * cell, size[0], 2 * cell):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(200, 200, 200))
    return board


def shown(image: Image.Image) -> Image.Image:
    """Cutout or mask -> RGB as a reader should see it (cutouts over a checkerboard)."""
    if image.mode == "RGBA":
        board = checkerboard(image.size)
        board.paste(image, (0, 0), image)
        return board
    return image.convert("RGB")


def side_by_side(before: Image.Image, after: Image.Image, left: str, right: str, width: int) -> Image.Image:
    """Two images and their captions -> one picture: before | after, each ``width`` px wide."""
    h = min(round(before.height * width / before.width), 2 * width)
    out = Image.new("RGB", (2 * width + 4, h + LABEL_H), "white")
    draw = ImageDraw.Draw(out)
    for i, (image, caption) in enumerate(((before, left), (after, right))):
        x = i * (width + 4)
        out.paste(shown(image).resize((width, h), Image.Resampling.LANCZOS), (x, LABEL_H))
        draw.text((x + 2, 2), caption, fill=(0, 0, 0))
    return out


def with_box(result: pipeline.Result) -> Image.Image:
    """A result -> its cutout over a checkerboard with the bounding box drawn in red."""
    picture = shown(result.cutout)
    if result.bbox:
        x0, y0, x1, y1 = result.bbox
        ImageDraw.Draw(picture).rectangle((x0, y0, x1 - 1, y1 - 1), outline=(230, 0, 0), width=4)
    return picture


def magenta_fringe(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Photo and its mask -> a cutout made elsewhere: RGB mixed with magenta at the soft edges, alpha = mask."""
    magenta = Image.new("RGB", image.size, (255, 0, 255))
    fringe = Image.composite(image.convert("RGB"), magenta, mask)
    fringe.putalpha(mask)
    return fringe


def edge_crop(result: pipeline.Result) -> tuple[int, int, int, int]:
    """A result -> a box around the top of the subject (hair), where soft edges are."""
    x0, y0, x1, y1 = result.bbox or (0, 0, *result.mask.size)
    return x0, y0, x1, y0 + (y1 - y0) * 2 // 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=200, help="width of each half, in pixels")
    args = parser.parse_args()

    session = create_rembg_session(catalog.get("u2netp"), weights.fetch("u2netp"), ["CPUExecutionProvider"])
    predict = predictor(session)
    photo = Image.open(fixtures.ANIME).convert("RGB")

    def run(image: Image.Image = photo, **options) -> pipeline.Result:
        return pipeline.remove_background(image, predict, pipeline.Options(**options))

    base = run()
    white = (255, 255, 255, 255)
    fringe_photo = magenta_fringe(photo, base.mask)
    hard = run(mask_threshold=128)
    head = edge_crop(hard)
    pictures: dict[str, Callable[[], tuple[Image.Image, Image.Image, str, str]]] = {
        "defaults": lambda: (photo, base.cutout, "input", "cutout (defaults)"),
        "mask_threshold": lambda: (base.mask, run(mask_threshold=128).mask, "mask", "mask_threshold=128"),
        "mask_grow": lambda: (run(mask_grow=-12).mask, run(mask_grow=12).mask, "mask_grow=-12", "mask_grow=12"),
        "mask_feather": lambda: (
            run(mask_threshold=128).mask, run(mask_threshold=128, mask_feather=12).mask,
            "mask_threshold=128", "+ mask_feather=12",
        ),
        "invert": lambda: (base.cutout, run(invert=True).cutout, "cutout", "invert"),
        "background_color": lambda: (base.cutout, run(background_color=white).cutout, "cutout", "background_color=white"),
        "refine_foreground": lambda: (
            run(fringe_photo, background_color=white).cutout.crop(head),
            run(fringe_photo, background_color=white, refine_foreground=True).cutout.crop(head),
            "magenta fringe, over white", "+ refine_foreground",
        ),
        "bounding_box": lambda: (with_box(base), with_box(hard), "bounding_box", "with mask_threshold=128"),
    }
    for name, make in pictures.items():
        before, after, left, right = make()
        path = OUT / f"option-{name}.png"
        side_by_side(before, after, left, right, args.width).save(path, optimize=True)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
