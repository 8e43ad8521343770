"""Alpha matting: rembg's trimap, the same alpha as pymatting's full solve, and accuracy on a known alpha."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from benchmarks.synthetic import composite, model_like_mask
from remove_background_node import matting


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


def test_small_band_gives_pymattings_alpha(scene) -> None:
    from pymatting import estimate_alpha_cf

    rgb, _, mask = scene
    tri = matting.trimap(mask, 240, 10, 10)
    assert int((tri == 128).sum()) <= matting.DIRECT_UNKNOWNS  # the exact path
    alpha, fg = matting.solve(rgb, tri)
    reference = np.clip(estimate_alpha_cf(rgb / 255.0, tri / 255.0) * 255, 0, 255).astype(np.uint8)
    assert np.abs(alpha.astype(int) - reference).max() <= 1
    assert fg.shape == rgb.shape and fg.dtype == np.uint8


def test_known_pixels_keep_the_trimap_and_foreground_keeps_the_image_outside_the_band(scene) -> None:
    rgb, _, mask = scene
    tri = matting.trimap(mask, 240, 10, 10)
    alpha, fg = matting.solve(rgb, tri)
    known = tri != 128
    np.testing.assert_array_equal(alpha[known], tri[known])
    np.testing.assert_array_equal(fg[known], rgb[known])


def test_coarse_path_is_as_accurate_as_the_exact_solve(scene, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, truth, mask = scene
    tri = matting.trimap(mask, 240, 10, 10)
    exact = matting.solve_alpha(rgb, tri)
    n = int((tri == 128).sum())
    monkeypatch.setattr(matting, "DIRECT_UNKNOWNS", n // 3)  # force the coarse-to-fine path on a small image
    assert matting.coarse_factor(n) == 2
    coarse = matting.solve_alpha(rgb, tri)
    err = lambda a: float(np.abs(a / 255.0 - truth).mean())  # noqa: E731
    assert err(coarse) <= 1.1 * err(exact)
    assert err(exact) < float(np.abs(mask / 255.0 - truth).mean())  # matting beats the raw mask


def test_no_unknown_pixels_returns_the_trimap() -> None:
    tri = np.zeros((16, 16), dtype=np.uint8)
    tri[4:12, 4:12] = 255
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    alpha, fg = matting.solve(rgb, tri)
    np.testing.assert_array_equal(alpha, tri)
    np.testing.assert_array_equal(fg, rgb)


def test_band_tiles_cover_every_unknown_pixel() -> None:
    unknown = np.zeros((300, 520), dtype=bool)
    unknown[5, 7] = unknown[299, 519] = unknown[150, 260] = True
    tiles = matting.band_tiles(unknown, 128)
    assert len(tiles) == 3
    covered = np.zeros_like(unknown)
    for y0, y1, x0, x1 in tiles:
        covered[y0:y1, x0:x1] = True
    assert covered[unknown].all()
