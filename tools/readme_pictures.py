"""Make the README's option pictures: one small before/after picture per option, from rembg's anime-girl-1 fixture with u2netp.

Each picture is the node's own pipeline (the code the node runs) with defaults on the left and
one option changed on the right. Cutouts are shown over a grey checkerboard so transparency
shows; masks are shown as they are. Writes .readme/option-<name>.png and prints each path.
Usage: python -m tools.readme_pictures [--width 200]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from remove_background_node import masks, pipeline
from tests.harness import fixtures, scenes, weights

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


def with_box(cutout: Image.Image, box: tuple[int, int, int, int] | None) -> Image.Image:
    """A cutout and a box -> the cutout over a checkerboard with the box drawn in red."""
    picture = shown(cutout)
    if box:
        x0, y0, x1, y1 = box
        ImageDraw.Draw(picture).rectangle((x0, y0, x1 - 1, y1 - 1), outline=(230, 0, 0), width=6)
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

    predict = weights.cpu_predictor("u2netp")
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
        "bounding_box": lambda: (
            with_box(base.cutout, masks.bounding_box(np.asarray(base.mask), visible=1)), with_box(base.cutout, base.bbox),
            "around any alpha > 0", "bounding_box (alpha >= 8)",
        ),
    }
    for name, make in pictures.items():
        before, after, left, right = make()
        path = OUT / f"option-{name}.png"
        side_by_side(before, after, left, right, args.width).save(path, optimize=True)
        print(path)
    for name, (before, after, left, right) in guided_pictures().items():
        path = OUT / f"{name}.png"
        side_by_side(before, after, left, right, 2 * args.width).save(path, optimize=True)
        print(path)
    path = OUT / "video.png"
    video_picture(predict, args.width).save(path, optimize=True)
    print(path)
    return 0


def video_picture(predict: Callable[[Image.Image], Any], width: int) -> Image.Image:
    """u2netp and a known-matte clip -> a few frames with their matte and composite, as the video node makes them
    with Skip Frames off (the model sees every frame; the picture shows the steadying alone)."""
    import tempfile

    from remove_background_node.video import temporal
    from tests.harness import clips

    with tempfile.TemporaryDirectory() as folder:
        frames = clips.read(_clip(Path(folder) / "clip.mp4", clips))
    options = pipeline.Options(background_color=(0, 255, 0, 255))
    state, rows = temporal.State(), []
    for index, frame in enumerate(frames):
        mask, matted = pipeline.subject_mask(Image.fromarray(frame), predict, options)
        composite, matte = pipeline.video_frame(frame, temporal.stabilise(frame, mask, state, 1.0), matted, options)
        if index in (6, 20, 40):
            rows.append([Image.fromarray(frame), Image.fromarray(matte), Image.fromarray(composite)])
    h = round(frames.shape[1] * width / frames.shape[2])
    out = Image.new("RGB", (3 * width + 8, len(rows) * (h + 4) + LABEL_H), "white")
    draw = ImageDraw.Draw(out)
    for i, caption in enumerate(("frame", "mask video (matte)", "video (over green)")):
        draw.text((i * (width + 4) + 2, 2), caption, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for i, picture in enumerate(row):
            out.paste(picture.convert("RGB").resize((width, h), Image.Resampling.LANCZOS), (i * (width + 4), LABEL_H + r * (h + 4)))
    return out


def _clip(path: Path, clips: Any) -> Path:
    clips.write(clips.Clip(frames=48), path)
    return path


def guided_pictures() -> dict[str, tuple[Image.Image, Image.Image, str, str]]:
    """-> the regions and Refine Cutout pictures: rembg's anime-girl-1 with a known matte in photographs, u2net."""
    matte = scenes.anime_matte()
    subject = Image.open(fixtures.ANIME)
    rgb, _, (x0, y0, x1, y1) = scenes.subject_over_photo(
        subject, matte, Image.open(fixtures.REMBG / "car-1.jpg"), (3000, 2000), (425, 300), (2300, 250)
    )
    predict = weights.cpu_predictor("u2net")
    box = (x0 - 20, y0 - 20, x1 + 20, y1 + 20)
    whole = pipeline.remove_background(Image.fromarray(rgb), predict)
    boxed = pipeline.remove_background(Image.fromarray(rgb), predict, pipeline.Options(regions=(box,)))
    photo, truth, _ = scenes.subject_over_photo(
        subject, matte, Image.open(fixtures.REMBG / "cloth-1.jpg"), (1100, 1000), (850, 601), (150, 300)
    )
    slack = scenes.hard_mask(truth, 4)
    hard = pipeline.remove_background(Image.fromarray(photo), lambda _: [Image.fromarray(slack)])
    refined = pipeline.refine_cutout(
        Image.fromarray(photo), Image.fromarray(slack), None,
        pipeline.Options(alpha_matting=True, alpha_matting_erode_size=15, refine_foreground=True),
    )
    hair = (300, 300, 750, 560)
    return {
        "regions": (with_box(whole.cutout, box), with_box(boxed.cutout, box), "whole picture (u2net)", "bounding_boxes: the red box"),
        "refine": (hard.cutout.crop(hair), refined.cutout.crop(hair), "a hard mask, 4 px too wide", "Refine Cutout, erode_size 15"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
