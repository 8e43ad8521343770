"""Some of pipeline.STEPS, on a stand-in model that returns a known mask: mask_threshold, mask_grow, mask_feather
and invert apply in that order; the defaults leave the mask alone and box it; background_color goes under an
inverted result, and the input's own alpha still limits what invert keeps; refine_foreground re-estimates colours
from the model's alpha, before the mask controls move its edge. Not checked here: bounding boxes, post_process_mask,
alpha_matting and temporal_smoothing."""

from __future__ import annotations

import numpy as np
from PIL import Image

from remove_background_node import compose, foreground, masks, pipeline
from tests.harness.scenes import disc, edge_error, soft_composite


def fixed_model(mask: np.ndarray):
    """A stand-in model whose prediction is ``mask``, to follow each step of the pipeline exactly."""
    return lambda image: [Image.fromarray(mask)]


def test_pipeline_applies_threshold_grow_feather_invert_in_that_order():
    m = disc(128, 30, soft=10)
    m[5:15, 5:15] = 100  # a faint blob that the threshold must remove before grow sees it
    rgb = Image.new("RGB", m.shape[::-1], (90, 120, 150))
    opts = pipeline.Options(mask_threshold=128, mask_grow=6, mask_feather=3.0, invert=True)
    steps: list[str] = []
    result = pipeline.remove_background(rgb, fixed_model(m), opts, steps.append)
    expected = masks.invert(masks.feather(masks.grow(masks.threshold(m, 128), 6), 3.0))
    assert (np.asarray(result.mask) == expected).all()
    assert (np.asarray(result.cutout)[..., 3] == expected).all()
    assert (np.asarray(result.mask)[5:15, 5:15] == 255).all(), "the blob was thresholded away, then inverted"
    assert "Adjusting the mask" in steps
    # a different order would give a different mask
    other = masks.feather(masks.threshold(masks.grow(m, 6), 128), 3.0)
    assert (masks.invert(other) != expected).any()


def test_pipeline_defaults_leave_the_mask_alone_and_box_it():
    m = disc(64, 20, soft=6)
    result = pipeline.remove_background(Image.new("RGB", (64, 64), "red"), fixed_model(m))
    assert (np.asarray(result.mask) == m).all()
    assert result.bbox == masks.bounding_box(m)
    out = np.asarray(result.cutout)
    assert (out[m == 0] == 0).all()


def test_pipeline_background_colour_and_the_inputs_own_alpha():
    m = np.full((16, 16), 255, np.uint8)
    m[:, :8] = 0
    rgba = Image.new("RGBA", (16, 16), (10, 20, 30, 255))
    rgba.putpixel((3, 3), (10, 20, 30, 0))  # a hole in the input, on the side that invert keeps, stays a hole
    opts = pipeline.Options(background_color=(255, 255, 255, 255), invert=True)
    result = pipeline.remove_background(rgba, fixed_model(m), opts)
    out, mask = np.asarray(result.cutout), np.asarray(result.mask)
    assert (out[..., 3] == 255).all()
    assert (out[:, 8:, :3][mask[:, 8:] == 0] == 255).all()  # white where not kept
    kept = np.ones((16, 8), bool)
    kept[3, 3] = False
    assert (out[:, :8, :3][kept] == [10, 20, 30]).all()  # the kept (inverted) side shows the image...
    assert mask[3, 3] == 0 and (out[3, 3, :3] == 255).all()  # ...but for the hole, which shows the colour
    assert result.bbox == (0, 0, 8, 16)


def test_pipeline_refine_foreground_estimates_before_the_mask_controls():
    image, fg, alpha = soft_composite()
    result = pipeline.remove_background(
        Image.fromarray(image), fixed_model(alpha), pipeline.Options(refine_foreground=True)
    )
    plain = pipeline.remove_background(Image.fromarray(image), fixed_model(alpha))
    rgb, plain_rgb = np.asarray(result.cutout)[..., :3], np.asarray(plain.cutout)[..., :3]
    assert edge_error(rgb, fg, alpha) <= 0.4 * edge_error(plain_rgb, fg, alpha)

    # With mask_grow the colours still come from the model's alpha: the soft pixels that grow makes opaque keep
    # the subject's colour, where colours estimated from the grown alpha leave them as the old background mixed them.
    for options in (pipeline.Options(mask_grow=6, refine_foreground=True),
                    pipeline.Options(mask_threshold=128, refine_foreground=True)):
        final = pipeline.adjust(alpha, options)
        result = pipeline.remove_background(Image.fromarray(image), fixed_model(alpha), options)
        assert (np.asarray(result.mask) == final).all()
        from_model = np.asarray(compose.composite(foreground.estimate(image, alpha), final, (0, 0, 0, 0)))
        from_final = np.asarray(compose.composite(foreground.estimate(image, final), final, (0, 0, 0, 0)))
        assert (from_final != from_model).any(), "the two alphas must differ in colour for this test to tell them apart"
        assert (np.asarray(result.cutout) == from_model).all()

        shown = final.astype(np.float32)[..., None] / 255.0  # how much of each colour the cutout shows
        subject = (final > 0) & (alpha > 0)

        def seen_error(cutout: np.ndarray) -> float:
            return float((shown * np.abs(cutout[..., :3].astype(np.float32) - fg))[subject].mean())

        assert seen_error(from_model) <= 0.25 * seen_error(from_final), options


def run_warned(m: np.ndarray, picture: Image.Image | None = None, **options) -> list[str]:
    """A stand-in model's mask, optionally the picture, and options -> the warnings the pipeline gave."""
    warnings: list[str] = []
    picture = picture if picture is not None else Image.new("RGB", m.shape[::-1], (90, 120, 150))
    pipeline.remove_background(picture, fixed_model(m), pipeline.Options(**options), warn=warnings.append)
    return warnings


def test_a_result_that_keeps_nothing_says_why_and_one_that_keeps_something_says_nothing():
    subject = disc(64, 20, soft=6)
    assert run_warned(subject) == [] and run_warned(subject, mask_threshold=128, mask_grow=-4) == []
    assert run_warned(np.zeros((64, 64), np.uint8), invert=True) == [], "inverted, an empty mask keeps everything"

    (found_none,) = run_warned(np.zeros((64, 64), np.uint8))
    assert "found no subject" in found_none and "another model" in found_none

    faint = (disc(64, 20, soft=6).astype(np.float32) * 107 / 255).astype(np.uint8)  # peaks at 107
    (too_high,) = run_warned(faint, mask_threshold=255)
    assert "mask_threshold 255" in too_high and "(107)" in too_high

    (shrunk,) = run_warned(subject, mask_grow=-40)
    assert "mask controls" in shrunk and "mask_grow" in shrunk

    transparent = Image.new("RGBA", (64, 64), (200, 10, 10, 0))
    (clear,) = run_warned(subject, transparent)
    assert "fully transparent" in clear


def test_smooth_mask_that_removes_all_the_model_found_says_so():
    speck = np.zeros((64, 64), np.uint8)
    speck[30:32, 30:32] = 255  # two pixels wide: the opening removes it
    (smoothed,) = run_warned(speck, post_process_mask=True)
    assert "Smooth Mask" in smoothed and "nothing was kept" in smoothed
    assert run_warned(speck) == [] and run_warned(disc(64, 20, soft=6), post_process_mask=True) == []
    assert run_warned(speck, post_process_mask=True, invert=True) == [], "inverted, all of the picture is kept"
    with_matting = run_warned(speck, post_process_mask=True, alpha_matting=True)
    assert any("Smooth Mask" in w for w in with_matting) and any("black everywhere" in w for w in with_matting), with_matting


def test_a_video_frame_without_the_subject_is_not_warned_of():
    """A clip's subject may enter late or leave: one frame with nothing found is no one's mistake."""
    empty = np.zeros((64, 64), np.uint8)
    picture = Image.new("RGB", (64, 64), (90, 120, 150))
    for one_of_many, expected in ((False, 1), (True, 0)):
        warnings: list[str] = []
        pipeline.subject_mask(picture, fixed_model(empty), pipeline.Options(post_process_mask=True), warn=warnings.append,
                              one_of_many=one_of_many)
        assert len(warnings) == expected, warnings
