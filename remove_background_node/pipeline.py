"""PIL image in -> (cutout, mask, bounding box) out. Knows nothing of InvokeAI.

The order of operations is ``STEPS`` below, and only there: the README's list is generated from
it (tools/readme_sync.py) and the node's fields point to it. Each step is skipped at its default.
The caller hands in the model's ``predict`` and a ``step`` callback that reports progress (and may
raise to cancel) before each step. Given a ``MaskCache`` and a key naming the model (file, device,
options), the model's mask, the matte and the edge colours estimated from it are kept, so a re-run
that changes only the options after them starts from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from . import compose, foreground, inference, masks, matting, scratch
from .foreground import soft_colours
from .image_modes import pixels, split_rgb_alpha
from .inference import Box, Predict
from .mask_cache import MaskCache, digest
from .video import keyframes

Step = Callable[..., None]  # (message, fraction done in 0..1 or None); may raise to cancel
Warn = Callable[[str], None]  # something the user should know about this run (the host logs it and shows it)

# (the options a step reads, what it does), in the order the pipeline applies them
STEPS: tuple[tuple[str, str], ...] = (
    ("model", "the model's mask (several masks, such as the cloth model's \"all\", are united); with "
              "bounding_boxes, the model's mask inside the boxes and background outside"),
    ("post_process_mask", "smooths the mask and makes it hard"),
    ("alpha_matting", "re-solves the soft edge between the two thresholds"),
    ("skip_frames", f"video only: the model sees {keyframes.EVERY}; a frame between gets the masks (matted, if "
                    "alpha_matting is on) of the two on either side carried along with the subject, or its own where "
                    "they disagree"),
    ("temporal_smoothing", "video only: steadies the mask with the frames before it, carried along with the subject"),
    ("refine_foreground", "re-estimates the colour of the mask's soft pixels, before the mask controls below change "
                          "its edge (alpha matting does too); with invert, the background's colours"),
    ("mask_threshold", "makes the mask hard at that level"),
    ("mask_grow", "grows (+) or shrinks (-) the subject by that many pixels"),
    ("mask_feather", "fades the edge over that many pixels"),
    ("invert", "keeps the background instead of the subject"),
    ("the input's own alpha", "the result is never more opaque than the input was"),
    ("background_color", "puts the result over the colour (alpha 0: a plain cutout)"),
)

_log = logging.getLogger(__name__)  # outside InvokeAI; the node passes InvokeAI's logger through ``warn``

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
    regions: tuple[Box, ...] | None = None  # bounding boxes to look in; None: the whole picture


@dataclass(frozen=True)
class Result:
    cutout: Image.Image  # RGBA, straight alpha (RGB zeroed where alpha is 0), over background_color if its a > 0
    mask: Image.Image  # L, 255 = kept (the subject, or the background when inverted)
    bbox: tuple[int, int, int, int] | None  # around the visible pixels (masks.bounding_box), max exclusive


def _no_step(message: str, fraction: float | None = None) -> None:
    return None


def remove_background(
    image: Image.Image,
    predict: Predict,
    options: Options = Options(),
    step: Step = _no_step,
    warn: Warn = _log.warning,
    model_key: Hashable | None = None,
    cache: MaskCache | None = None,
) -> Result:
    """Any-mode PIL image, a model's predict, options, progress and warning callbacks, and optionally a key naming
    the model with a cache for its results -> cutout, mask and bounding box."""
    rgb_image, own_alpha = split_rgb_alpha(image)
    with _own_pixels(rgb_image) as rgb:
        picture = digest(rgb) if cache is not None else None  # once: the model's, the matte's and the colours' keys
        mask, matted = subject_mask(rgb_image, predict, options, step, warn, model_key, cache, rgb, picture)
        return finish(rgb, mask, own_alpha, options, matted, step, cache, picture, warn)


def subject_mask(
    rgb_image: Image.Image,
    predict: Predict,
    options: Options = Options(),
    step: Step = _no_step,
    warn: Warn = _log.warning,
    model_key: Hashable | None = None,
    cache: MaskCache | None = None,
    rgb: np.ndarray | None = None,
    picture: str | None = None,
    one_of_many: bool = False,
) -> tuple[np.ndarray, bool]:
    """An RGB PIL image, a model's predict, options, callbacks, optionally a model key with a cache, the image as an
    array and its digest if the caller has them, and whether it is one frame of a video (where a frame without the
    subject is no one's mistake, so not warned of) -> (the mask of the first STEPS: the model's, post-processed,
    matted; whether matting ran)."""
    rgb = pixels(rgb_image) if rgb is None else rgb
    keyed = cache is not None and model_key is not None
    key = ("model", picture or digest(rgb), model_key, options.regions) if keyed else None

    mask = cache.get(key) if keyed else None
    if mask is None:
        step("Finding the subject")
        mask = inference.predict_mask(predict, rgb_image, options.regions)
        if keyed:
            mask = cache.put(key, mask)
    seen = None if one_of_many else int(mask.max(initial=0)) >= masks.VISIBLE  # whether the model found anything
    if seen is not None:
        _say_if_nothing_found(seen, rgb_image.size, options, warn)

    matte_key = key + ("matte", options.post_process_mask, _matting_options(options)) if keyed else None
    matte = cache.get(matte_key) if keyed and (options.post_process_mask or options.alpha_matting) else None
    matted = matte is not None and options.alpha_matting
    if matte is not None:
        mask = matte
    elif options.post_process_mask or options.alpha_matting:
        if options.post_process_mask:
            step("Post-processing the mask")
            mask = masks.post_process(mask)
        if options.alpha_matting:
            tri = matting.trimap(mask, *_matting_options(options))
            mask, matted = _matte(rgb, tri, mask, _matting_options(options), step, warn)
        if keyed and (matted or not options.alpha_matting):
            mask = cache.put(matte_key, mask)
    if seen and options.post_process_mask and not options.invert and int(mask.max(initial=0)) < masks.VISIBLE:
        warn("Smooth Mask (post_process_mask) removed all the model found, a subject too small or too faint to "
             "survive it, so nothing was kept. Turn Smooth Mask off.")
    return mask, matted


def _say_if_nothing_found(seen: bool, size: tuple[int, int], options: Options, warn: Warn) -> None:
    """Whether the model's mask has a visible pixel, the picture's (width, height), options and the warning callback
    -> nothing; warns when the boxes or the model leave no subject (inverted, that keeps the whole picture, and the
    words say so)."""
    outcome = "so the whole picture is background and, inverted, all of it was kept" if options.invert else "so nothing was kept"
    if options.regions == ():  # a detector that found nothing: its empty collection, on a cached rerun too
        warn(f"No bounding boxes were given (the collection is empty), {outcome}. Disconnect bounding_boxes "
             "to cut out the whole picture, or check what found the boxes.")
    elif options.regions is not None and not inference.unite(options.regions, size):
        warn(f"No bounding box covers any of the image (each lies outside it or has no area), {outcome}: "
             "everything outside the boxes is background. Check the boxes' coordinates.")
    elif not options.invert and not seen:
        where = "this picture" if options.regions is None else "the bounding boxes"
        advice = "connect bounding_boxes around the subject" if options.regions is None else "widen the boxes around the subject"
        warn(f"The model found no subject in {where} (its mask has no pixel at least {masks.VISIBLE} of 255), "
             f"so nothing was kept. Try another model, or {advice}.")


def refine_cutout(
    image: Image.Image,
    mask_image: Image.Image,
    trimap_image: Image.Image | None = None,
    options: Options = Options(alpha_matting=True),
    step: Step = _no_step,
    warn: Warn = _log.warning,
    cache: MaskCache | None = None,
) -> Result:
    """Any-mode PIL image, a mask from anywhere (white = subject), an optional trimap (255 sure subject, 0 sure
    background, anything else unknown; it replaces the band built from the mask), the matting and compositing
    options, callbacks and a cache -> cutout, mask and bounding box, by alpha matting on that mask."""
    rgb_image, own_alpha = split_rgb_alpha(image)
    with _own_pixels(rgb_image) as rgb:
        mask = _fit(masks.to_array(mask_image), rgb_image.size, "mask", warn)
        given = None if trimap_image is None else _fit(masks.to_array(trimap_image), rgb_image.size, "trimap", warn)
        key = picture = None
        if cache is not None:
            picture = digest(rgb)
            key = ("refine", picture, digest(mask), None if given is None else digest(given), _matting_options(options))
            cached = cache.get(key)
            if cached is not None:
                return finish(rgb, cached, own_alpha, options, True, step, cache, picture, warn)
        if given is not None:
            tri = np.where(given == 255, 255, np.where(given == 0, 0, matting.UNKNOWN)).astype(np.uint8)
        else:
            tri = matting.trimap_keeping_narrow_parts(mask, *_matting_options(options))
        alpha, matted = _matte(rgb, tri, mask, _matting_options(options), step, warn, given is not None)
        if key is not None and matted:
            alpha = cache.put(key, alpha)
        return finish(rgb, alpha, own_alpha, options, matted, step, cache, picture, warn)


@contextmanager
def _own_pixels(rgb_image: Image.Image) -> Iterator[np.ndarray]:
    """An RGB PIL image -> a copy of its pixels for the with-block, in the working array kept between calls."""
    with scratch.picture_array((rgb_image.height, rgb_image.width, 3)) as lent:
        yield pixels(rgb_image, out=lent)


def _matting_options(options: Options) -> tuple[int, int, int]:
    """Options -> (foreground threshold, background threshold, erode size): what a trimap is built from."""
    return (
        options.alpha_matting_foreground_threshold,
        options.alpha_matting_background_threshold,
        options.alpha_matting_erode_size,
    )


def _matte(
    rgb: np.ndarray, tri: np.ndarray, mask: np.ndarray, settings: tuple[int, int, int], step: Step, warn: Warn,
    given: bool = False,
) -> tuple[np.ndarray, bool]:
    """Image, trimap, the mask it came from, the trimap's settings (_matting_options), callbacks -> (alpha, whether
    matting ran);
    without both sure regions the mask is kept as it is and the user is told why."""
    step("Alpha matting")
    if not matting.has_both_regions(tri):
        warn(matting.skipped_because(tri, settings, given, mask))
        return mask, False
    return matting.solve(rgb, tri, checkpoint=lambda done: step("Alpha matting", done)), True


def _fit(mask: np.ndarray, size: tuple[int, int], what: str, warn: Warn) -> np.ndarray:
    """A mask, the image's (width, height), the input's name -> the mask at the image's size (resized, with a word)."""
    if mask.shape[::-1] == size:
        return mask
    warn(f"The {what} is {mask.shape[1]}x{mask.shape[0]} but the image is {size[0]}x{size[1]}: it was resized to fit.")
    return cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST if what == "trimap" else cv2.INTER_LINEAR)


def adjusts(options: Options) -> bool:
    """Options -> whether any mask control (threshold, grow, feather, invert) is set."""
    return bool(options.mask_threshold or options.mask_grow or options.mask_feather or options.invert)


def adjust(mask: np.ndarray, options: Options) -> np.ndarray:
    """A mask and options -> the mask after the mask controls, in the order of STEPS."""
    mask = masks.threshold(mask, options.mask_threshold)
    mask = masks.grow(mask, options.mask_grow)
    mask = masks.feather(mask, options.mask_feather)
    return masks.invert(mask) if options.invert else mask


def colours_need_estimating(options: Options, matted: bool) -> bool:
    """Options and whether matting ran -> whether the soft pixels' colours are re-estimated (STEPS: refine_foreground).

    Matting's soft edge mixes in the old background's colour, so it gets the subject's own colour too; not
    when inverted (the kept side is then the background, whose colours are its own)."""
    return options.refine_foreground or (matted and not options.invert)


def video_frame(rgb: np.ndarray, mask: np.ndarray, matted: bool, options: Options) -> tuple[np.ndarray, np.ndarray]:
    """A video frame (HxWx3 uint8), its steadied mask, whether matting made it and the options -> (the frame over
    the background colour, opaque: a video has no alpha; the final matte) by the same steps as a picture's."""
    colours = rgb
    if colours_need_estimating(options, matted):
        colours = foreground.estimate(rgb, _kept(mask, None, options.invert), guided=not matted)
    final = adjust(mask, options) if adjusts(options) else mask
    return compose.over_opaque_colour(colours, final, options.background_color[:3]), final


def finish(
    rgb: np.ndarray, mask: np.ndarray, own_alpha: np.ndarray | None, options: Options, matted: bool, step: Step,
    cache: MaskCache | None = None, picture: str | None = None, warn: Warn | None = None,
) -> Result:
    """Image (the pipeline's own array: soft pixels' colours are re-estimated in it), the model's (or matting's)
    mask, the input's own alpha, options, whether matting ran, progress, optionally a cache for the edge
    colours with the image's digest, and a warning callback for a result that keeps nothing -> the result: edge
    colours, mask controls, the input's alpha and compositing, in the order of STEPS."""
    if colours_need_estimating(options, matted):
        step("Refining edge colours")
        rgb = _edge_colours(rgb, _kept(mask, own_alpha, options.invert), not matted, step, cache, picture)

    before = mask
    if adjusts(options):
        step("Adjusting the mask")
        mask = adjust(mask, options)

    # After invert: transparent input pixels have no colour to show, whichever side is kept.
    mask = masks.limit_to_alpha(mask, own_alpha)
    bbox = masks.bounding_box(mask)
    if bbox is None and warn is not None:
        reason = _nothing_kept(before, own_alpha, options)
        if reason:
            warn(reason)

    step("Composing the cutout")
    return Result(
        cutout=compose.composite(rgb, mask, options.background_color),
        mask=Image.fromarray(mask),  # uint8 HxW: mode L
        bbox=bbox,
    )


def _nothing_kept(mask: np.ndarray, own_alpha: np.ndarray | None, options: Options) -> str | None:
    """The mask before the mask controls, the input's own alpha and options, for a result with nothing visible kept
    -> why, for a person, when the input's transparency or the mask controls emptied it; else None."""
    if own_alpha is not None and int(own_alpha.max(initial=0)) < masks.VISIBLE:
        return "Nothing was kept: the input picture is fully transparent."
    highest = int(mask.max(initial=0))
    if highest < masks.VISIBLE or not adjusts(options):
        return None  # the mask was empty before the controls: subject_mask or matting has said why
    if options.mask_threshold > highest:
        return (f"Nothing was kept: mask_threshold {options.mask_threshold} is above the mask's highest level "
                f"({highest}). Lower it.")
    return ("Nothing was kept: the mask controls (mask_threshold, mask_grow, invert) left no pixel at least "
            f"{masks.VISIBLE} of 255 opaque. Lower mask_threshold, or raise mask_grow.")


def _kept(mask: np.ndarray, own_alpha: np.ndarray | None, invert: bool) -> np.ndarray:
    """The model's (or matting's) mask, the input's own alpha and invert -> the alpha of the side kept, whose soft
    pixels get their colours re-estimated."""
    return masks.limit_to_alpha(masks.invert(mask) if invert else mask, own_alpha)


def _edge_colours(
    rgb: np.ndarray, kept: np.ndarray, guided: bool, step: Step, cache: MaskCache | None, picture: str | None
) -> np.ndarray:
    """The pipeline's image, the kept side's alpha, whether a plain backdrop may guide it, progress, a cache and the
    image's digest (None: worked out here) -> the image with the alpha's soft pixels re-estimated in place, taken
    from the cache when this picture and alpha were estimated before (a re-tweak of the mask controls or the
    background colour)."""

    def progress(done: float) -> None:
        step("Refining edge colours", done)

    if cache is None:
        return foreground.estimate(rgb, kept, progress, in_place=True, guided=guided)
    key = ("colours", picture or digest(rgb), digest(kept), guided)
    colours = cache.get(key)
    if colours is not None:
        soft_colours.put(rgb, kept, colours)
        return rgb
    rgb = foreground.estimate(rgb, kept, progress, in_place=True, guided=guided)
    cache.put(key, soft_colours.take(rgb, kept))  # the soft pixels are the only ones foreground.estimate changes
    return rgb
