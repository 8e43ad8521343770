"""PIL image in -> (cutout, mask, bounding box) out. Knows nothing of InvokeAI.

Order of operations, each step skipped at its default:

1. model mask: the model's prediction (several masks, e.g. u2net_cloth_seg's "all", are united);
2. post-processing (``post_process_mask``), then alpha matting (``alpha_matting``);
3. threshold (``mask_threshold``): a hard 0/255 mask at that level;
4. grow (``mask_grow``): dilate (+) or erode (-) by a disc of that radius;
5. feather (``mask_feather``): blur the edge over about that many pixels each side;
6. invert (``invert``): keep the background instead of the subject;
7. the input's own alpha: the mask is never more opaque than the input was;
8. composite: ``refine_foreground`` re-estimates the colour of semi-transparent pixels from this
   final alpha, then the subject goes over ``background_color`` (a = 0: a plain cutout).

The returned mask is the final alpha of step 7 (white = kept), and the bounding box is taken
around its non-zero pixels, so both describe what the cutout shows whatever the background.
The caller hands in the model's ``predict`` and a ``step`` callback that reports progress (and
may raise to cancel) before each step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import masks, matting
from .image_modes import split_rgb_alpha

Predict = Callable[[Image.Image], Sequence[Image.Image]]
Step = Callable[..., None]  # (message, fraction done in 0..1 or None); may raise to cancel

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
    bbox: tuple[int, int, int, int] | None  # around alpha > 0, max exclusive


def _no_step(message: str, fraction: float | None = None) -> None:
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

    original_rgb = rgb = np.asarray(rgb_image)
    if options.alpha_matting:
        step("Alpha matting")
        tri = matting.trimap(
            mask,
            options.alpha_matting_foreground_threshold,
            options.alpha_matting_background_threshold,
            options.alpha_matting_erode_size,
        )
        if matting.has_both_regions(tri):
            mask, rgb = matting.solve(rgb, tri, checkpoint=lambda done: step("Alpha matting", done))

    if options.mask_threshold or options.mask_grow or options.mask_feather or options.invert:
        step("Adjusting the mask")
        mask = masks.threshold(mask, options.mask_threshold)
        mask = masks.grow(mask, options.mask_grow)
        mask = masks.feather(mask, options.mask_feather)
        if options.invert:
            mask = masks.invert(mask)
            rgb = original_rgb  # matting's colours are the subject's, extrapolated into the background

    # After invert: transparent input pixels have no colour to show, whichever side is kept.
    mask = masks.limit_to_alpha(mask, own_alpha)

    if options.refine_foreground:
        step("Refining edge colours")
        # From the original pixels, not matting's estimate: blur fusion needs the observed
        # composite, and the alpha may have changed since matting (grow, feather, invert).
        rgb = masks.refine_foreground(original_rgb, mask)

    step("Composing the cutout")
    return Result(
        cutout=masks.composite(rgb, mask, options.background_color),
        mask=Image.fromarray(mask),  # uint8 HxW: mode L
        bbox=masks.bounding_box(mask),
    )
