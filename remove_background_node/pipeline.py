"""PIL image in -> (cutout, mask, bounding box) out. Knows nothing of InvokeAI.

The order of operations is ``STEPS`` below, and only there: the README's list is generated from
it (tools/readme_sync.py) and the node's fields point to it. Each step is skipped at its default.
The caller hands in the model's ``predict`` and a ``step`` callback that reports progress (and may
raise to cancel) before each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import compose, foreground, masks, matting
from .image_modes import split_rgb_alpha
from .inference import Predict

Step = Callable[..., None]  # (message, fraction done in 0..1 or None); may raise to cancel

# (the options a step reads, what it does), in the order the pipeline applies them
STEPS: tuple[tuple[str, str], ...] = (
    ("model", "the model's mask (several masks, such as the cloth model's \"all\", are united)"),
    ("post_process_mask", "smooths the mask and makes it hard"),
    ("alpha_matting", "re-solves the soft edge between the two thresholds"),
    ("mask_threshold", "makes the mask hard at that level"),
    ("mask_grow", "grows (+) or shrinks (-) the subject by that many pixels"),
    ("mask_feather", "fades the edge over that many pixels"),
    ("invert", "keeps the background instead of the subject"),
    ("the input's own alpha", "the result is never more opaque than the input was"),
    ("refine_foreground", "re-estimates the colour of soft pixels from this final alpha (alpha matting does too)"),
    ("background_color", "puts the result over the colour (alpha 0: a plain cutout)"),
)

FOREGROUND_THRESHOLD = 240
BACKGROUND_THRESHOLD = 10
ERODE_SIZE = 10


@dataclass(frozen=True)
class Options:
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = FOREGROUND_THRESHOLD
    alpha_matting_background_threshold: int = BACKGROUND_THRESHOLD
    alpha_matting_erode_size: int = ERODE_SIZE
    post_process_mask: bool = False
    mask_threshold: int = 0  # 0 keeps the soft mask
    mask_grow: int = 0  # pixels; negative shrinks
    mask_feather: float = 0.0  # pixels
    invert: bool = False
    background_color: tuple[int, int, int, int] = (0, 0, 0, 0)  # RGBA; a = 0 means none
    refine_foreground: bool = False


@dataclass(frozen=True)
class Result:
    cutout: Image.Image  # RGBA, straight alpha (RGB zeroed where alpha is 0), over background_color if its a > 0
    mask: Image.Image  # L, 255 = kept (the subject, or the background when inverted)
    bbox: tuple[int, int, int, int] | None  # around the visible pixels (masks.bounding_box), max exclusive


def _no_step(message: str, fraction: float | None = None) -> None:
    return None


def remove_background(
    image: Image.Image, predict: Predict, options: Options = Options(), step: Step = _no_step
) -> Result:
    """Any-mode PIL image, a model's predict and options -> cutout, mask and bounding box."""
    rgb_image, own_alpha = split_rgb_alpha(image)

    step("Finding the subject")
    mask = masks.sanitize(masks.union([masks.to_array(m) for m in predict(rgb_image)]))

    if options.post_process_mask:
        step("Post-processing the mask")
        mask = masks.post_process(mask)

    rgb = np.asarray(rgb_image)
    matted = False
    if options.alpha_matting:
        step("Alpha matting")
        tri = matting.trimap(
            mask,
            options.alpha_matting_foreground_threshold,
            options.alpha_matting_background_threshold,
            options.alpha_matting_erode_size,
        )
        if matting.has_both_regions(tri):
            mask = matting.solve(rgb, tri, checkpoint=lambda done: step("Alpha matting", done))
            matted = True

    if options.mask_threshold or options.mask_grow or options.mask_feather or options.invert:
        step("Adjusting the mask")
        mask = masks.threshold(mask, options.mask_threshold)
        mask = masks.grow(mask, options.mask_grow)
        mask = masks.feather(mask, options.mask_feather)
        if options.invert:
            mask = masks.invert(mask)

    # After invert: transparent input pixels have no colour to show, whichever side is kept.
    mask = masks.limit_to_alpha(mask, own_alpha)

    # Matting's soft edge mixes in the old background's colour, so it gets the subject's own colour
    # too; not when inverted (the kept side is then the background, whose colours are its own).
    if options.refine_foreground or (matted and not options.invert):
        step("Refining edge colours")
        rgb = foreground.estimate(rgb, mask, lambda done: step("Refining edge colours", done))

    step("Composing the cutout")
    return Result(
        cutout=compose.composite(rgb, mask, options.background_color),
        mask=Image.fromarray(mask),  # uint8 HxW: mode L
        bbox=masks.bounding_box(mask),
    )
