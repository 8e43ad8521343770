"""Alpha matting: rembg's trimap, the same alpha as pymatting's full solve, accuracy on a known alpha, checkpoints."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from tests.harness.scenes import SCENES, composite, model_like_mask
from remove_background_node import matting, workers
from remove_background_node.matting import laplacian, solver, upsampling


def rembg_trimap(mask: np.ndarray, fg: int, bg: int, erode: int) -> np.ndarray:
    """rembg 2.0.69's trimap rule, written as rembg writes it (scipy), for comparison."""
    structure = np.ones((erode, erode), dtype=np.uint8) if erode > 0 else None
    out = np.full(mask.shape, 128, dtype=np.uint8)
    out[binary_erosion(mask > fg, structure=structure)] = 255
    out[binary_erosion(mask < bg, structure=structure, border_value=1)] = 0
    return out


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb, truth = composite(384)
    return rgb, truth, model_like_mask(truth)


@pytest.mark.parametrize("erode", [0, 1, 3, 4, 10, 15])
def test_trimap_matches_rembgs(scene, erode: int) -> None:
    _, _, mask = scene
    ours = matting.trimap(mask, 240, 10, erode)
    np.testing.assert_array_equal(ours, rembg_trimap(mask, 240, 10, erode))


def test_trimap_at_the_border_counts_outside_as_background() -> None:
    mask = np.full((40, 40), 255, dtype=np.uint8)
    tri = matting.trimap(mask, 240, 10, 5)
    assert tri[0, 0] == 128 and tri[20, 20] == 255
    assert not matting.has_both_regions(tri)


@pytest.mark.parametrize("size", [384, 768])  # one ichol block, and two (over 10k unknowns)
def test_full_size_band_gives_pymattings_alpha(size: int) -> None:
    from pymatting import estimate_alpha_cf

    rgb, truth = composite(size)
    tri = matting.trimap(model_like_mask(truth), 240, 10, 10)
    assert int((tri == 128).sum()) <= matting.FULL_UNKNOWNS  # the full-size path
    alpha = matting.solve(rgb, tri)
    reference = np.clip(estimate_alpha_cf(rgb / 255.0, tri / 255.0) * 255, 0, 255).astype(np.uint8)
    assert np.abs(alpha.astype(int) - reference).max() <= 1
    assert alpha.shape == tri.shape and alpha.dtype == np.uint8


def test_known_pixels_keep_the_trimap(scene) -> None:
    rgb, _, mask = scene
    tri = matting.trimap(mask, 240, 10, 10)
    alpha = matting.solve(rgb, tri)
    known = tri != 128
    np.testing.assert_array_equal(alpha[known], tri[known])


@pytest.mark.parametrize("scene_name", list(SCENES))
def test_coarse_path_is_as_accurate_as_the_exact_solve(scene_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, truth = composite(1024, **SCENES[scene_name])  # hair a few pixels wide, as where the coarse path runs
    mask = model_like_mask(truth)
    tri = matting.trimap(mask, 240, 10, 10)
    exact = matting.solve_alpha(rgb, tri)
    n = int((tri == 128).sum())
    monkeypatch.setattr(matting, "FULL_UNKNOWNS", n // 3)  # force the coarse path on a smaller picture
    assert matting.coarse_factor(n) == 2
    coarse = matting.solve_alpha(rgb, tri)
    err = lambda a: float(np.abs(a / 255.0 - truth).mean())  # noqa: E731
    assert err(coarse) <= 1.1 * err(exact)
    assert err(exact) < float(np.abs(mask / 255.0 - truth).mean())  # matting beats the raw mask


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_blocks_multiply_as_the_whole_matrix(monkeypatch: pytest.MonkeyPatch, blocks: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rgb, truth = composite(512)
    tri = matting.trimap(model_like_mask(truth), 240, 10, 10)
    unknown = tri == matting.UNKNOWN
    matrix, _ = laplacian.band_system(rgb, tri, unknown, int(unknown.sum()))
    monkeypatch.setattr(solver, "ICHOL_BLOCKS", blocks)
    monkeypatch.setattr(solver, "BLOCK_MIN_UNKNOWNS", 1)
    split = solver.Blocks(matrix)
    assert len(split.spans) == blocks
    x = np.random.default_rng(0).normal(size=matrix.shape[0])
    with ThreadPoolExecutor(max_workers=blocks) as pool:
        np.testing.assert_allclose(split.dot(x, pool), matrix @ x, rtol=1e-12, atol=1e-12)


def whole_picture_guided_upsampling(rgb, unknown, small_rgb, small_alpha, radius, eps):  # type: ignore[no-untyped-def]
    """The guided upsampling written the plain way (OpenCV box filters and resizes over whole planes), for comparison."""
    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

    image = small_rgb.astype(np.float64) / 255.0
    alpha = small_alpha.astype(np.float64)
    mean_i, mean_a = box(image), box(alpha)
    cov = box(image * alpha[..., None]) - mean_i * mean_a[..., None]
    sigma = np.empty(alpha.shape + (3, 3))
    for i in range(3):
        for j in range(3):
            sigma[..., i, j] = box(image[..., i] * image[..., j]) - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov[..., None])[..., 0]
    b = mean_a - (a * mean_i).sum(axis=-1)
    height, width = unknown.shape
    up = lambda x: cv2.resize(box(x).astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    out = up(b)[unknown].astype(np.float64)
    for ch in range(3):
        out += up(np.ascontiguousarray(a[..., ch]))[unknown] * rgb[..., ch][unknown] / 255.0
    return out


@pytest.mark.parametrize(("size", "factor", "radius"), [(384, 2, 1), (301, 2, 1), (400, 4, 2)])
def test_band_only_guided_upsampling_equals_the_whole_picture_filter(size: int, factor: int, radius: int) -> None:
    rgb, truth = composite(size)
    tri = matting.trimap(model_like_mask(truth), 240, 10, 10)
    unknown = tri == matting.UNKNOWN
    small = (size // factor, size // factor)
    small_rgb = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(truth, small, interpolation=cv2.INTER_AREA)  # any alpha will do
    ours = upsampling.upsample_linear_model(rgb, unknown, small_rgb, small_alpha, radius, matting.GUIDE_EPSILON)
    plain = whole_picture_guided_upsampling(rgb, unknown, small_rgb, small_alpha, radius, matting.GUIDE_EPSILON)
    assert ours.shape == (int(unknown.sum()),)
    np.testing.assert_allclose(ours, plain, atol=1e-3)  # float32 planes on the plain side


def test_coarse_factor_is_2_for_a_4k_band_and_grows_beyond() -> None:
    assert matting.coarse_factor(matting.FULL_UNKNOWNS) == 1
    assert matting.coarse_factor(1_800_000) == 2  # a 4096x4096 portrait's band
    assert matting.coarse_factor(7_200_000) == 4


def test_no_unknown_pixels_returns_the_trimap() -> None:
    tri = np.zeros((16, 16), dtype=np.uint8)
    tri[4:12, 4:12] = 255
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(matting.solve(rgb, tri), tri)


def test_checkpoint_sees_the_fraction_grow_from_0_to_1(scene) -> None:
    rgb, _, mask = scene
    seen: list[float] = []
    matting.solve(rgb, matting.trimap(mask, 240, 10, 10), checkpoint=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(0.0 <= a <= b <= 1.0 for a, b in zip(seen, seen[1:]))


class Cancelled(Exception):
    pass


def test_a_raising_checkpoint_stops_a_4k_solve_early() -> None:
    rgb, truth = composite(4096)
    tri = matting.trimap(model_like_mask(truth), 240, 10, 10)
    seen: list[float] = []

    def checkpoint(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 3:  # the first call is at 0; cancel once the solve is under way
            raise Cancelled

    def threads() -> set[int]:  # other than the pack's kept workers
        return {t.ident for t in threading.enumerate() if not t.name.startswith(workers.NAME)}

    before = threads()
    with pytest.raises(Cancelled):
        matting.solve(rgb, tri, checkpoint=checkpoint)
    assert len(seen) == 3  # nothing ran on to call it again
    # the calls come at fixed points of the work, not on a clock: the third is while the band's
    # factor is built, on any machine
    assert seen[-1] < 0.5
    assert threads() <= before, "no thread of its own was started or left behind"
    assert workers.pool()._work_queue.empty(), "and no factorisation was left queued"


def test_a_read_only_picture_is_accepted(scene) -> None:
    """Arrays made from PIL images are read-only; the kernels' signatures take them as they are."""
    rgb, _, mask = scene
    tri = matting.trimap(mask, 240, 10, 10)
    frozen = rgb.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(matting.solve(frozen, tri), matting.solve(rgb, tri))


@pytest.mark.parametrize(
    "settings, tri_value, says, never",
    [
        ((240, 10, 0), 0, "Lower the subject threshold (240)", "erode size,"),
        ((240, 0, 0), 255, "Raise the background threshold (0)", "erode size,"),
        ((240, 10, 1024), 0, "Lower the erode size, or lower the subject threshold (240)", "background threshold"),
        ((240, 10, 1024), 255, "Lower the erode size, or raise the background threshold (10)", "subject threshold"),
        ((255, 254, 1024), 0, "Lower the subject threshold (255): only mask values above it count as sure subject, "
                              "and none can be", "erode size,"),
        ((240, 0, 1024), 255, "Raise the background threshold (0): only mask values below it count as sure "
                              "background, and none can be", "erode size,"),
    ],
    ids=["no subject, erode 0", "no background, erode 0", "no subject, erode 1024", "no background, erode 1024",
         "subject threshold 255", "background threshold 0"],
)
def test_a_skipped_matting_says_what_to_change_and_never_what_cannot_be(settings, tri_value, says, never):
    """The mask a trimap came from has levels past both thresholds, so only the erosion or a threshold at its end
    can have left a sure region empty."""
    mask = np.tile(np.array([0, 5, 128, 250, 255, 255, 0, 128], np.uint8), (8, 1))
    message = matting.skipped_because(np.full((8, 8), tri_value, np.uint8), settings, mask=mask)
    assert says in message and never not in message, message
    assert f"with erode size {settings[2]}" in message


@pytest.mark.parametrize(
    "level, tri_value, says",
    [
        (0, 0, "The mask is black everywhere: there is no subject to refine"),
        (255, 255, "The mask is white everywhere: there is no background to refine it against"),
        (107, 0, "Lower the subject threshold (240) below the mask's highest level (107)"),
        (60, 255, "Raise the background threshold (10) above the mask's lowest level (60)"),
    ],
    ids=["black mask", "white mask", "mask below the subject threshold", "mask above the background threshold"],
)
def test_a_mask_that_never_reaches_a_threshold_is_named_as_the_cause_not_the_erosion(level, tri_value, says):
    message = matting.skipped_because(np.full((8, 8), tri_value, np.uint8), (240, 10, 1024), mask=np.full((8, 8), level, np.uint8))
    assert says in message and "erode size," not in message, message


def test_a_given_trimap_without_both_sure_regions_says_to_paint_them():
    message = matting.skipped_because(np.full((8, 8), 128, np.uint8), (240, 10, 10), given=True)
    assert "no sure subject" in message and "Paint" in message and "leave the trimap out" in message
