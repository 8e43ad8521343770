"""PIL image in -> (cutout, mask, bounding box) out. Knows nothing of InvokeAI.

Order of operations: model mask -> post-processing -> alpha matting -> the input's own alpha
-> cutout. The caller hands in the model's ``predict`` and a ``step`` callback that reports
progress (and may raise to cancel) before each step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import masks, matting
from .image_modes import split_rgb_alpha

Predict = Callable[[Image.Image], Sequence[Image.Image]]
Step = Callable[[str], None]

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


@dataclass(frozen=True)
class Result:
    cutout: Image.Image  # RGBA, straight alpha, RGB zeroed where alpha is 0
    mask: Image.Image  # L, 255 = subject
    bbox: tuple[int, int, int, int] | None  # around alpha > 0, max exclusive


def _no_step(_: str) -> None:
    return None


def remove_background(
    image: Image.Image, predict: Predict, options: Options = Options(), step: Step = _no_step
) -> Result:
    """Any-mode PIL image, a model's predict and options -> cutout, mask and bounding box."""
    rgb_image, own_alpha = split_rgb_alpha(image)

    step("Finding the subject")
    predicted = [masks.to_array(m) for m in predict(rgb_image)]
    mask = masks.sanitize(masks.union(predicted))

    if options.post_process_mask:
        step("Post-processing the mask")
        mask = masks.post_process(mask)

    rgb = np.asarray(rgb_image)
    if options.alpha_matting:
        step("Alpha matting")
        tri = matting.trimap(
            mask,
            options.alpha_matting_foreground_threshold,
            options.alpha_matting_background_threshold,
            options.alpha_matting_erode_size,
        )
        if matting.has_both_regions(tri):
            mask, rgb = matting.solve(rgb, tri)

    mask = masks.limit_to_alpha(mask, own_alpha)
    step("Composing the cutout")
    return Result(
        cutout=masks.cutout(rgb, mask),
        mask=Image.fromarray(mask, mode="L"),
        bbox=masks.bounding_box(mask),
    )
