"""Guided cut-outs in the pipeline: regions, Refine Cutout on a mask or a trimap, and re-runs from the mask cache."""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from remove_background_node import foreground, inference, pipeline
from remove_background_node.mask_cache import MaskCache
from tests.harness import fixtures, scenes, weights


@pytest.fixture(scope="module")
def anime_matte() -> np.ndarray:
    return scenes.anime_matte()


@pytest.fixture(scope="module")
def subject_scene(anime_matte):
    """anime-girl-1 with a known matte over a photograph (car-1, enlarged)."""
    return scenes.subject_over_photo(
        Image.open(fixtures.ANIME), anime_matte, Image.open(fixtures.REMBG / "car-1.jpg"), (1200, 900), (850, 601), (100, 150)
    )


# regions


def test_overlapping_regions_are_united_and_clipped_to_the_image():
    boxes = [(10, 10, 50, 50), (40, 40, 90, 70), (200, 5, 260, 30), (-20, 90, 5, 140), (300, 300, 320, 320)]
    assert inference.unite(boxes, (250, 120)) == [(0, 90, 5, 120), (10, 10, 90, 70), (200, 5, 250, 30)]


def test_the_model_sees_each_region_with_a_margin_and_outside_is_background():
    image = Image.new("RGB", (400, 300), (90, 90, 90))
    seen: list[tuple[int, int]] = []

    def everything(crop: Image.Image):
        seen.append(crop.size)
        return [Image.new("L", crop.size, 200)]

    mask = inference.predict_mask(everything, image, [(100, 100, 140, 150), (120, 130, 160, 170), (300, 20, 330, 40)])
    assert sorted(seen) == sorted([(60 + 2 * 16, 70 + 2 * 16), (30 + 2 * 16, 20 + 2 * 16)]), "two united regions, two crops"
    inside = np.zeros(mask.shape, bool)  # the three boxes, not the rectangle around the two that overlap
    inside[100:150, 100:140] = inside[130:170, 120:160] = inside[20:40, 300:330] = True
    assert (mask[inside] == 200).all() and not mask[~inside].any()
    assert not mask[100:130, 140:160].any() and not mask[150:170, 100:120].any(), "the united rectangle's corners"
    assert not inference.predict_mask(everything, image, []).any(), "no region: nothing is subject"


@pytest.mark.parametrize("boxes", [((500, 10, 600, 50),), ((50, 50, 50, 90),), ((60, 40, 60, 40), (-30, -30, -1, -1))],
                         ids=["outside", "no width", "a point and one outside"])
def test_boxes_that_cover_none_of_the_image_keep_nothing_and_say_so(boxes):
    warnings: list[str] = []
    result = pipeline.remove_background(
        Image.new("RGB", (400, 300), (90, 90, 90)), lambda im: [Image.new("L", im.size, 200)],
        pipeline.Options(regions=boxes), warn=warnings.append,
    )
    assert not np.asarray(result.mask).any()
    assert len(warnings) == 1 and "covers any of the image" in warnings[0] and "no area" in warnings[0]


def test_an_empty_collection_of_boxes_keeps_nothing_and_says_no_box_was_given():
    warnings: list[str] = []
    result = pipeline.remove_background(
        Image.new("RGB", (400, 300), (90, 90, 90)), lambda im: [Image.new("L", im.size, 200)],
        pipeline.Options(regions=()), warn=warnings.append,
    )
    assert not np.asarray(result.mask).any()
    assert len(warnings) == 1 and "No bounding boxes were given" in warnings[0], warnings


def test_inverted_the_box_warnings_say_the_whole_picture_was_kept():
    for boxes, says in (((), "No bounding boxes were given"), (((500, 10, 600, 50),), "covers any of the image")):
        warnings: list[str] = []
        result = pipeline.remove_background(
            Image.new("RGB", (400, 300), (90, 90, 90)), lambda im: [Image.new("L", im.size, 200)],
            pipeline.Options(regions=boxes, invert=True), warn=warnings.append,
        )
        assert (np.asarray(result.mask) == 255).all()
        assert len(warnings) == 1 and says in warnings[0] and "all of it was kept" in warnings[0], warnings
        assert "nothing was kept" not in warnings[0]


def test_a_box_the_model_finds_no_subject_in_says_so():
    warnings: list[str] = []
    result = pipeline.remove_background(
        Image.new("RGB", (400, 300), (90, 90, 90)), lambda im: [Image.new("L", im.size, 0)],
        pipeline.Options(regions=((100, 100, 200, 200),)), warn=warnings.append,
    )
    assert not np.asarray(result.mask).any()
    assert len(warnings) == 1 and "found no subject in the bounding boxes" in warnings[0], warnings
    assert "widen the boxes" in warnings[0]


def test_boxes_that_cover_none_of_the_image_say_so_on_a_rerun_from_the_cache_too():
    cache, warnings, calls = MaskCache(budget=2**30), [], []

    def predict(im: Image.Image) -> list[Image.Image]:
        calls.append(im.size)
        return [Image.new("L", im.size, 200)]

    picture = Image.new("RGB", (400, 300), (90, 90, 90))
    for grow in (0, 4):
        pipeline.remove_background(picture, predict, pipeline.Options(regions=((500, 10, 600, 50),), mask_grow=grow),
                                   warn=warnings.append, model_key="m", cache=cache)
    assert len(warnings) == 2 and all("covers any of the image" in w for w in warnings)
    assert not calls, "no box touches the picture: the model never runs, first call or rerun"


def test_a_region_around_a_small_subject_in_a_photograph_finds_it(anime_matte):
    rgb, truth, (x0, y0, x1, y1) = scenes.subject_over_photo(
        Image.open(fixtures.ANIME), anime_matte, Image.open(fixtures.REMBG / "car-1.jpg"), (3000, 2000), (425, 300), (2300, 250)
    )
    predict = weights.cpu_predictor("u2net")
    whole = pipeline.remove_background(Image.fromarray(rgb), predict)
    boxed = pipeline.remove_background(
        Image.fromarray(rgb), predict, pipeline.Options(regions=((x0 - 20, y0 - 20, x1 + 20, y1 + 20),))
    )
    assert scenes.alpha_error(whole.mask, truth) > 20, "the photograph's own subject misleads the model"
    assert scenes.alpha_error(boxed.mask, truth) <= 2.0


# Refine Cutout


def test_refine_cutout_from_a_hard_mask_with_slack(subject_scene):
    rgb, truth, _ = subject_scene
    slack = scenes.hard_mask(truth, 4)
    options = pipeline.Options(alpha_matting=True, alpha_matting_erode_size=15)
    result = pipeline.refine_cutout(Image.fromarray(rgb), Image.fromarray(slack), None, options)
    own, refined = scenes.alpha_error(slack, truth), scenes.alpha_error(result.mask, truth)
    assert refined <= 0.5 * own, (own, refined)


def test_refine_cutout_keeps_a_gap_and_a_strap_narrower_than_the_erode_size():
    """A body and an arm 16 px apart, and an 8 px strap: with 3 px of slack and erode size 15, rembg's erosion leaves
    neither a sure middle (the gap is 10 px in the mask, the strap 14), so matting would fill the gap with subject
    and fade the strap into background."""
    truth = np.zeros((200, 200), np.uint8)
    truth[30:170, 40:90] = truth[30:170, 106:122] = truth[96:104, 122:190] = 255
    fg, bg = scenes.texture(200, 1, scenes.FG_BASE), scenes.texture(200, 2, scenes.BG_BASE)
    a = truth[..., None].astype(np.float32) / 255.0
    rgb = ((fg * a + bg * (1 - a)) * 255 + 0.5).astype(np.uint8)
    slack = scenes.hard_mask(truth, 3)
    options = pipeline.Options(alpha_matting=True, alpha_matting_erode_size=15)
    mask = np.asarray(pipeline.refine_cutout(Image.fromarray(rgb), Image.fromarray(slack), None, options).mask)
    assert mask[40:160, 96:100].max() < 64, "the gap's middle stays background"
    assert mask[99:101, 135:180].min() > 192, "the strap's middle stays subject"
    own, refined = scenes.alpha_error(slack, truth), scenes.alpha_error(mask, truth)
    assert refined <= 0.5 * own, (own, refined)


def test_refine_cutout_from_a_trimap_of_sure_regions(subject_scene):
    rgb, truth, _ = subject_scene
    tri = np.full(truth.shape, 128, np.uint8)
    tri[cv2.erode((truth == 255).view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 255
    tri[cv2.erode((truth == 0).view(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
    hard = Image.fromarray(np.where(truth >= 128, 255, 0).astype(np.uint8))
    result = pipeline.refine_cutout(Image.fromarray(rgb), hard, Image.fromarray(tri))
    assert scenes.alpha_error(result.mask, truth) <= 1.0


def test_a_mask_of_another_size_is_fitted_to_the_image_with_a_word(subject_scene):
    rgb, truth, _ = subject_scene
    said: list[str] = []
    small = Image.fromarray(np.where(truth >= 128, 255, 0).astype(np.uint8)).resize((600, 450))
    result = pipeline.refine_cutout(Image.fromarray(rgb), small, warn=said.append)
    assert result.mask.size == (1200, 900) and "resized" in said[0]


def test_the_factorisation_never_prints_to_the_console(subject_scene, capfd, caplog, monkeypatch):
    """A wide band over flat photo regions makes the first ichol shift fail; pymatting prints when it
    retries. That goes to the debug log; what other threads print meanwhile still reaches the console."""
    import sys

    import pymatting

    caplog.set_level(logging.DEBUG, logger="remove_background_node.matting.solver")
    rgb, truth, _ = subject_scene
    slack = np.where(truth >= 128, 255, 0).astype(np.uint8)
    options = pipeline.Options(alpha_matting=True, alpha_matting_erode_size=25)
    factoring, printed = threading.Event(), threading.Event()
    real_ichol = pymatting.ichol

    def ichol(*args, **kwargs):  # the first factor waits, its prints routed, while another thread prints
        if not factoring.is_set():
            factoring.set()
            assert printed.wait(600), "the other thread printed"
        return real_ichol(*args, **kwargs)

    def other_thread() -> None:
        assert factoring.wait(600)
        for _ in range(200):
            print("other thread")
        printed.set()

    monkeypatch.setattr(pymatting, "ichol", ichol)
    stdout = sys.stdout
    other = threading.Thread(target=other_thread, daemon=True)
    other.start()
    pipeline.refine_cutout(Image.fromarray(rgb), Image.fromarray(slack), None, options)
    assert factoring.is_set(), "the band was factorised"  # else the other thread would wait in vain
    other.join()
    assert printed.is_set() and sys.stdout is stdout
    printed = capfd.readouterr().out
    assert "PERFORMANCE WARNING" not in printed and "Cholesky" not in printed
    assert printed.count("other thread") == 200
    assert any("Cholesky" in r.getMessage() for r in caplog.records), "the retry happened, at debug level"


# re-runs from the cache


def model_of(mask: np.ndarray, calls: list[int]):
    def predict(image: Image.Image):
        calls.append(1)
        return [Image.fromarray(mask)]

    return predict


@pytest.mark.parametrize(
    "tweak",
    [{"mask_grow": 6}, {"mask_feather": 4.0}, {"mask_threshold": 100}, {"invert": True},
     {"background_color": (0, 255, 0, 255)}, {"refine_foreground": True}],
    ids=lambda d: next(iter(d)),
)
def test_a_rerun_changing_later_options_skips_model_and_matting_and_equals_a_cold_run(subject_scene, tweak, monkeypatch):
    rgb, truth, _ = subject_scene
    image = Image.fromarray(rgb)
    model_mask = np.where(truth >= 128, 255, 0).astype(np.uint8)
    base = pipeline.Options(alpha_matting=True, alpha_matting_erode_size=6)
    cache, calls = MaskCache(budget=2**30), []
    pipeline.remove_background(image, model_of(model_mask, calls), base, model_key="m", cache=cache)
    steps: list[str] = []
    estimates: list[int] = []
    estimate = foreground.estimate
    monkeypatch.setattr(foreground, "estimate", lambda *a, **k: estimates.append(1) or estimate(*a, **k))
    tweaked = pipeline.Options(**{**base.__dict__, **tweak})
    warm = pipeline.remove_background(image, model_of(model_mask, calls), tweaked, lambda m, f=None: steps.append(m),
                                      model_key="m", cache=cache)
    assert len(calls) == 1 and "Finding the subject" not in steps and "Alpha matting" not in steps
    # the matte's edge colours were estimated by the first run (inverted, the kept background's colours are its own)
    assert not estimates and ("Refining edge colours" in steps) != ("invert" in tweak)
    cold = pipeline.remove_background(image, model_of(model_mask, []), tweaked)
    np.testing.assert_array_equal(np.asarray(warm.mask), np.asarray(cold.mask))
    np.testing.assert_array_equal(np.asarray(warm.cutout), np.asarray(cold.cutout))
    assert warm.bbox == cold.bbox


@pytest.mark.parametrize(
    ("first", "second"),
    [({}, {"model_key": "other model or file or device"}),
     ({}, {"regions": ((0, 0, 600, 450),)}),
     ({}, {"alpha_matting_erode_size": 9}),
     ({}, {"alpha_matting_foreground_threshold": 200}),
     ({}, {"post_process_mask": True}),
     ({}, {"image": "another picture"})],
    ids=["model", "regions", "erode", "threshold", "post_process", "image"],
)
def test_what_comes_before_the_cache_invalidates_it(subject_scene, first, second):
    rgb, truth, _ = subject_scene
    model_mask = np.where(truth >= 128, 255, 0).astype(np.uint8)
    cache, calls = MaskCache(budget=2**30), []

    def run(changes: dict):
        changes = dict(changes)
        key = changes.pop("model_key", "m")
        picture = rgb if changes.pop("image", None) is None else np.ascontiguousarray(rgb[::-1])
        options = pipeline.Options(**{**pipeline.Options(alpha_matting=True, alpha_matting_erode_size=6).__dict__, **changes})
        steps: list[str] = []
        pipeline.remove_background(Image.fromarray(picture), model_of(model_mask, calls), options,
                                   lambda m, f=None: steps.append(m), model_key=key, cache=cache)
        return steps

    run(first)
    steps = run(second)
    assert "Alpha matting" in steps, "the matte is computed again"
    if set(second) & {"model_key", "regions", "image"}:
        assert len(calls) == 2 and "Finding the subject" in steps
    else:
        assert len(calls) == 1, "the model's mask is still good"


def test_the_pictures_digest_sees_every_pixel_and_the_shape():
    from remove_background_node.mask_cache import digest

    picture = np.random.default_rng(3).integers(0, 256, (301, 257, 3), dtype=np.uint8)  # parts of odd lengths
    key = digest(picture)
    assert digest(picture.copy()) == key and digest(picture[:, ::-1][:, ::-1]) == key, "the pixels, not the array"
    for y, x in [(0, 0), (150, 128), (300, 256)] + [(i * 301 // 8, 7) for i in range(8)]:  # every worker's part
        changed = picture.copy()
        changed[y, x, 2] ^= 1
        assert digest(changed) != key, (y, x)
    assert digest(picture.reshape(257, 301, 3)) != key, "the same bytes in another shape"


def test_the_cache_is_bounded_by_entries_and_bytes():
    cache = MaskCache(budget=3 * 100, max_entries=5)
    for i in range(10):
        cache.put(i, np.zeros(100, np.uint8))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(9) is not None
    cache = MaskCache(budget=10**6, max_entries=5)
    for i in range(10):
        cache.put(i, np.zeros(100, np.uint8))
    assert len(cache) == 5
    stored = cache.get(9)
    assert stored is not None and not stored.flags.writeable
