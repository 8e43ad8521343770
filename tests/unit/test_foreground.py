"""Edge colours: the old background taken out of semi-transparent pixels, tile by tile, and nothing else touched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from remove_background_node import foreground
from remove_background_node.foreground import backdrop, guide
from tests.harness import fixtures, scenes
from tests.harness.scenes import disc, edge_error, soft_composite


def picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_old_background_is_taken_out_of_soft_pixels():
    image, fg, alpha = soft_composite()
    refined = foreground.estimate(image, alpha)
    assert edge_error(refined, fg, alpha) <= 0.2 * edge_error(image, fg, alpha)
    assert refined.dtype == np.uint8 and refined.shape == image.shape


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (3, 5), (17, 33), (100, 9), (257, 130)])
def test_any_size_changes_only_soft_pixels(shape):
    h, w = shape
    rgb = picture(h, w)
    a = np.random.default_rng(1).integers(0, 256, (h, w), dtype=np.uint8)
    a[::2, ::3] = 0
    a[1::3, ::2] = 255
    out = foreground.estimate(rgb, a)
    soft = (a > 0) & (a < 255)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert (out[~soft] == rgb[~soft]).all()


def test_hard_or_empty_alpha_changes_nothing():
    rgb = picture(64, 64)
    for a in (np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8), disc(64, 20)):
        assert foreground.estimate(rgb, a) is rgb


@pytest.mark.parametrize("level", [1, 128, 254])
def test_every_pixel_soft_and_none_sure_still_works(level):
    assert foreground.estimate(picture(64, 64), np.full((64, 64), level, np.uint8)).shape == (64, 64, 3)


@pytest.mark.parametrize("level", [250, 252, 254])
def test_a_near_opaque_inside_keeps_its_detail(level):
    """Models leave much of a subject at 250..254: even pure noise there comes out nearly as it went in."""
    rgb = picture(64, 64, 5)
    a = np.full((64, 64), level, np.uint8)
    a[:, :8] = 0
    assert np.abs(foreground.estimate(rgb, a)[:, 16:].astype(int) - rgb[:, 16:]).mean() < 2.0


@pytest.mark.parametrize("ragged", [False, True])
def test_tiles_give_exactly_the_whole_picture_result(ragged):
    """Tiles are for memory and the worker threads; they must not change a pixel."""
    rng = np.random.default_rng(9)
    rgb = picture(333, 517, 4)
    if ragged:
        a = rng.integers(0, 256, (333, 517)).astype(np.uint8)
        a[rng.random((333, 517)) < 0.3] = 0
        a[rng.random((333, 517)) < 0.3] = 255
    else:
        a = disc(517, 160, soft=20)[92:425, :]
    whole = foreground.estimate(rgb, a, tile=1024)
    for tile in (32, 128, 200):
        np.testing.assert_array_equal(foreground.estimate(rgb, a, tile=tile), whole)


def test_views_and_read_only_arrays_are_taken_as_they_are():
    rgb, a = picture(80, 90)[:, ::-1], disc(90, 30)[5:85, :][::-1]
    frozen = rgb.copy()
    frozen.flags.writeable = False
    expected = foreground.estimate(rgb.copy(), a.copy())
    np.testing.assert_array_equal(foreground.estimate(rgb, a), expected)
    np.testing.assert_array_equal(foreground.estimate(frozen, a), expected)


def test_in_place_gives_the_same_colours_into_the_image_and_by_default_the_image_is_left_alone():
    """Each tile reads the original colours around it: writing in place must not let one tile see another's output."""
    rgb = picture(260, 260, 4)
    a = disc(260, 100, soft=40)
    kept = rgb.copy()
    expected = foreground.estimate(rgb, a, tile=64)
    np.testing.assert_array_equal(rgb, kept)
    assert not np.array_equal(expected, kept)  # some soft pixel changed colour, so the comparison below means something
    overwritten = rgb.copy()
    result = foreground.estimate(overwritten, a, tile=64, in_place=True)
    assert result is overwritten
    np.testing.assert_array_equal(result, expected)


def test_progress_counts_the_tiles_up_to_1():
    seen: list[float] = []
    foreground.estimate(picture(300, 300), disc(300, 100, soft=30), seen.append, tile=64)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def backdrop_scene(colour: tuple[int, int, int], noise: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A hairy disc over a plain colour with sensor noise -> (picture, true foreground, true alpha's band between 0.2
    and 0.8, a model-like blurred alpha)."""
    alpha = scenes.hairy_disc_alpha(512)
    fg = scenes.true_foreground(512) * 255
    picture = fg * alpha[..., None] + np.float32(colour) * (1 - alpha[..., None])
    picture += np.random.default_rng(0).normal(0, noise, picture.shape)
    blurred = cv2.GaussianBlur((alpha * 255 + 0.5).astype(np.uint8), (0, 0), 3)
    return np.clip(picture + 0.5, 0, 255).astype(np.uint8), fg, (alpha > 0.2) & (alpha < 0.8), blurred


@pytest.mark.parametrize("colour", [(255, 0, 255), (0, 255, 0), (255, 255, 255)], ids=["magenta", "green", "white"])
def test_a_plain_backdrop_comes_out_of_the_edge_more_fully(colour, monkeypatch):
    """Beside a plain backdrop only clear pixels are samples of it: with a model's blurred alpha, more of the
    backdrop's colour leaves the soft pixels than when soft pixels count as background samples too."""
    image, fg, band, alpha = backdrop_scene(colour)

    def band_error() -> float:
        return float(np.abs(foreground.estimate(image, alpha)[band].astype(np.float32) - fg[band]).mean())

    assert backdrop.background_power(backdrop.measure(image, alpha).texture) == pytest.approx(backdrop.Q_PLAIN)
    plain_rule = band_error()
    monkeypatch.setattr(backdrop, "Q_PLAIN", backdrop.Q_TEXTURED)
    textured_rule = band_error()
    assert plain_rule <= 0.9 * textured_rule


def with_and_without_guide(image: np.ndarray, alpha: np.ndarray, fg: np.ndarray, band: np.ndarray) -> tuple[float, float]:
    """A picture, the alpha to unmix by, the true foreground and where to measure -> the mean colour error there
    with the guide, and without it (unmixed by that alpha alone, the baseline the guide is measured against)."""

    def band_error(guided: bool) -> float:
        return float(np.abs(foreground.estimate(image, alpha, guided=guided)[band].astype(np.float32) - fg[band]).mean())

    return band_error(True), band_error(False)


def leaning(alpha: np.ndarray, power: float) -> np.ndarray:
    """uint8 alpha and a power -> the alpha leaning one way, as a model's does over some colours: (alpha/255)^power."""
    return (255 * (alpha / 255.0) ** power + 0.5).astype(np.uint8)


def anime_photo_over(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A plain colour -> anime-girl-1's own pixels over it through rembg's u2net alpha: (picture, the photo as the true
    foreground, that alpha, where it lies between 0.2 and 0.8)."""
    photo = np.asarray(Image.open(fixtures.ANIME).convert("RGB")).astype(np.float32)
    matte = np.asarray(Image.open(fixtures.expected("u2net")).getchannel("A"))
    return scenes.over_colour(photo, matte, colour), photo, matte, scenes.edge_band(matte)


LEANS = {(255, 0, 255): 1.7, (0, 255, 0): 1.7, (255, 255, 255): 0.6}  # u2net's alpha of such pictures: too clear
# over magenta and green, too opaque over white (band means 86, 81 and 166 against a true 126 for anime-girl-1)


@pytest.mark.parametrize("colour", list(LEANS), ids=["magenta", "green", "white"])
def test_beside_a_plain_backdrop_the_colours_say_how_much_of_it_an_edge_unlike_the_inside_holds(colour):
    """anime-girl-1's own pixels over a plain colour through rembg's u2net alpha: the edge pixels' true colour is
    the photo's, mixed with its old background, unlike the inside's. The model's alpha leans as u2net's does
    over that colour. Unmixing by an alpha matted over the band leaves less of the backdrop than unmixing along
    the line to the inside's colour by the model's alpha."""
    image, photo, matte, band = anime_photo_over(colour)
    guided, by_model = with_and_without_guide(image, leaning(matte, LEANS[colour]), photo, band)
    print(f"{colour}: guided {guided:.2f}, by the model's alpha {by_model:.2f} ({guided / by_model:.2f}x)")
    assert guided <= 0.8 * by_model


def test_beside_a_neutral_backdrop_the_alpha_lies_between_the_colours_bound_and_the_models(monkeypatch):
    """Over white a subject's own shading and its mix with the backdrop lie along the same line, and matting
    follows the shading: anime-girl-1's photo over white through rembg's u2net alpha, the model's alpha leaning too
    opaque as u2net's does there. The alpha between the least the colours allow and the model's leaves less of
    the backdrop than the matted one."""
    image, photo, matte, band = anime_photo_over((255, 255, 255))
    alpha = leaning(matte, LEANS[(255, 255, 255)])

    def band_error() -> float:
        return float(np.abs(foreground.estimate(image, alpha)[band].astype(np.float32) - photo[band]).mean())

    bounded = band_error()
    monkeypatch.setattr(guide, "neutral_share", lambda _: 0.0)
    matted = band_error()
    print(f"white: bounded {bounded:.2f}, matted {matted:.2f} ({bounded / matted:.2f}x)")
    assert bounded <= 0.8 * matted


def test_the_least_alpha_a_colour_allows_is_the_true_one_for_a_subject_on_the_cubes_face():
    subject = np.array([[[0, 90, 255], [255, 40, 0], [0, 255, 30]]], np.float32)  # each with a channel at 0 and one at 255
    true = np.array([[0.3, 0.6, 0.85]], np.float32)
    for backdrop_colour in ((255, 255, 255), (128, 128, 128), (0, 0, 0)):
        c = np.float32(backdrop_colour)
        image = (true[..., None] * subject + (1 - true[..., None]) * c + 0.5).astype(np.uint8)
        least = guide.bounded_alpha(image, np.full(true.shape, 1, np.uint8), c)  # a model alpha below every bound
        assert np.abs(least.astype(np.float32) - 255 * true).max() <= 2, backdrop_colour


def test_only_a_saturated_backdrop_is_left_to_matting():
    assert guide.neutral_share(np.float32([255, 255, 255])) == 1.0
    assert guide.neutral_share(np.float32([128, 128, 128])) == 1.0
    assert guide.neutral_share(np.float32([235, 225, 200])) == 1.0
    assert guide.neutral_share(np.float32([0, 255, 0])) == 0.0
    assert guide.neutral_share(np.float32([255, 0, 255])) == 0.0
    assert 0.0 < guide.neutral_share(np.float32([40, 60, 200])) < 1.0


@pytest.mark.parametrize("colour", list(LEANS), ids=["magenta", "green", "white"])
@pytest.mark.parametrize("lean", [0.6, 1.0, 1.7], ids=["too-opaque", "blurred", "too-clear"])
def test_across_hair_strands_the_matted_alpha_is_not_trusted(colour, lean):
    """Hair over a plain backdrop: a matted alpha changes from pixel to pixel across strands, and dividing by it
    would magnify its errors, so the colours stay those unmixed along the line to the inside's colour."""
    image, fg, band, blurred = backdrop_scene(colour)
    guided, by_model = with_and_without_guide(image, leaning(blurred, lean), fg, band)
    print(f"{colour} lean {lean}: guided {guided:.2f}, by the model's alpha {by_model:.2f} ({guided / by_model:.2f}x)")
    assert guided <= 1.1 * by_model


MAGENTA = np.float32([255, 0, 255])


def smooth_edge_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plain blue-grey disc with a model's blurred edge over magenta -> (picture, its alpha, where that alpha lies
    between 0.4 and 0.9)."""
    smooth = cv2.GaussianBlur(disc(512, 150, soft=2), (0, 0), 6)
    image = scenes.over_colour(np.full((512, 512, 3), (40, 120, 200), np.float32), smooth, (255, 0, 255))
    return image, smooth, (smooth > 0.4 * 255) & (smooth < 0.9 * 255)


def test_the_matted_alphas_trust_is_low_across_strands_and_high_across_a_blurred_edge():
    image, _, band, _ = backdrop_scene((255, 0, 255))
    strands = (scenes.hairy_disc_alpha(512) * 255 + 0.5).astype(np.uint8)
    assert np.median(guide.trust(strands, image, MAGENTA)[band]) < 0.1
    image, smooth, soft = smooth_edge_scene()
    assert np.median(guide.trust(smooth, image, MAGENTA)[soft]) > 0.8


def test_an_alpha_below_what_the_colours_allow_is_not_trusted():
    """Half the true alpha of a blurred edge would unmix its colours to outside the RGB cube: matting that failed."""
    image, smooth, soft = smooth_edge_scene()
    assert np.median(guide.trust(smooth // 2, image, MAGENTA)[soft]) < 0.05


def test_where_matting_fails_the_colours_stay_those_unmixed_by_the_models_alpha(monkeypatch):
    """anime-girl-1's photo over magenta through rembg's u2net alpha, with a guide whose alpha is a third of the
    true one (as matting gave for a soft subject it could not tell from the backdrop): the colours are no worse than
    without the guide."""
    image, photo, matte, band = anime_photo_over((255, 0, 255))
    failed = (matte // 3).astype(np.uint8)
    monkeypatch.setattr(guide, "unmixing_alpha", lambda *_: failed)
    guided, by_model = with_and_without_guide(image, matte, photo, band)
    print(f"a failed guide {guided:.2f}, by the model's alpha {by_model:.2f} ({guided / by_model:.2f}x)")
    assert guided <= 1.1 * by_model


def test_with_no_sure_subject_for_matting_the_colours_bound_still_guides():
    """A faint light subject over green (a rocket's white at dusk: alpha never above 0.6) whose model alpha is far too
    clear, as u2net's was: matting has no sure subject to start from, and unmixing by the bound the colours set
    leaves less of the backdrop than the model's alpha alone."""
    true = cv2.GaussianBlur(disc(256, 60), (0, 0), 8).astype(np.float32) / 255.0 * 0.6
    fg = np.full((256, 256, 3), (235, 230, 220), np.float32)
    image = scenes.over_colour(fg, (true * 255 + 0.5).astype(np.uint8), (0, 255, 0))
    model = (true * 0.3 * 255 + 0.5).astype(np.uint8)
    assert guide.matted_alpha(image, model) is None
    band = (true > 0.2) & (true < 0.55)
    guided, by_model = with_and_without_guide(image, model, fg, band)
    print(f"no sure subject: guided {guided:.2f}, by the model's alpha {by_model:.2f} ({guided / by_model:.2f}x)")
    assert guided <= 0.5 * by_model


def test_where_matting_fails_beside_a_subject_it_finds_the_colours_bound_still_guides():
    """A faint subject over green whose model alpha is far too clear, as in the test above but of a mid-tone colour (as
    a photo's edges are; a colour on the RGB cube's face has its true alpha at the bound itself), beside an opaque one
    that gives matting a sure subject: matting leaves the faint one almost clear, far below what its colours allow,
    the alpha used there is raised from that bound toward opaque, and its colours come out cleaner than by the
    model's alpha alone (without the raise, or raised only to the bound, they did not)."""
    true = cv2.GaussianBlur(disc(256, 60), (0, 0), 8).astype(np.float32) / 255.0 * 0.6
    true = np.concatenate([true, disc(256, 60).astype(np.float32) / 255.0], axis=1)
    fg = np.full(true.shape + (3,), (150, 140, 120), np.float32)
    fg[:, 256:] = (120, 40, 160)
    image = scenes.over_colour(fg, (true * 255 + 0.5).astype(np.uint8), (0, 255, 0))
    model = (true * 255 + 0.5).astype(np.uint8)
    model[:, :256] = (true[:, :256] * 0.3 * 255 + 0.5).astype(np.uint8)
    matted = guide.matted_alpha(image, model)
    faint = (true > 0.2) & (true < 0.55)
    faint[:, 256:] = False
    least = 255 * guide.least_alpha(image, np.float32((0, 255, 0)))
    assert np.median(least[faint] - matted[faint]) > guide.SHORT, "matting fails on the faint subject"
    guided, by_model = with_and_without_guide(image, model, fg, faint)
    print(f"matting failed there: guided {guided:.2f}, by the model's alpha {by_model:.2f} ({guided / by_model:.2f}x)")
    assert guided <= 0.5 * by_model


def test_an_alpha_from_matting_is_not_matted_again(monkeypatch):
    image, fg, band, blurred = backdrop_scene((255, 255, 255))

    def refuse(*_):
        raise AssertionError("an alpha from matting is matted again")

    monkeypatch.setattr(guide, "unmixing_alpha", refuse)
    foreground.estimate(image, blurred, guided=False)


def test_a_textured_background_or_none_beside_the_edge_keeps_soft_pixels_as_samples(monkeypatch):
    image, alpha = scenes.composite(512)
    a8 = (alpha * 255 + 0.5).astype(np.uint8)
    assert backdrop.background_power(backdrop.measure(image, a8).texture) == pytest.approx(backdrop.Q_TEXTURED)

    def refuse(*_):
        raise AssertionError("beside a textured background the colours cannot tell the alpha")

    monkeypatch.setattr(guide, "unmixing_alpha", refuse)
    fg = scenes.true_foreground(512) * 255
    assert edge_error(foreground.estimate(image, a8), fg, a8) < edge_error(image, fg, a8)
    no_clear_pixels = np.maximum(a8, 1)
    nothing_to_tell_by = backdrop.measure(image, no_clear_pixels)
    assert nothing_to_tell_by.colour is None
    assert backdrop.background_power(nothing_to_tell_by.texture) == pytest.approx(backdrop.Q_TEXTURED)
