"""The predict function the pipeline calls: rembg's result where it matters, fast and lean on big images.

Real rembg, real u2netp weights; no timings are asserted, only results and memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.harness.memory import peak_extra_mb
from remove_background_node import catalog, pipeline
from remove_background_node.inference import model_input_side, predictor, shrink_factor
from remove_background_node.sessions import create_rembg_session


@pytest.fixture(scope="module")
def session(u2netp_file: Path):
    return create_rembg_session(catalog.get("u2netp"), u2netp_file, ["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def anime(rembg_fixtures: Path) -> Image.Image:
    return Image.open(rembg_fixtures / "anime-girl-1.jpg").convert("RGB")


def mean_abs_diff(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Two same-size masks -> mean absolute difference in 0..255 units."""
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def test_reads_the_model_input_side(session) -> None:
    assert model_input_side(session) == 320


def test_shrinks_only_images_well_above_the_model_input() -> None:
    assert shrink_factor((850, 601), 320) == 1
    assert shrink_factor((1024, 1024), 320) == 1
    assert shrink_factor((2048, 1024), 320) == 1  # the short side decides
    assert shrink_factor((2048, 2048), 320) == 3
    assert shrink_factor((8192, 8192), 320) == 12


def test_reproduces_rembgs_expected_u2netp_mask(session, anime: Image.Image, rembg_fixtures: Path) -> None:
    expected = Image.open(rembg_fixtures / "anime-girl-1.u2netp.png").getchannel("A")
    (mask,) = predictor(session)(anime)
    assert mask.size == anime.size and mask.mode == "L"
    assert mean_abs_diff(mask, expected) <= 1.0


def test_fast_path_on_a_large_image_stays_close_to_rembgs_path(session, anime: Image.Image) -> None:
    big = anime.resize((anime.width * 4, anime.height * 4), Image.Resampling.LANCZOS)
    assert shrink_factor(big.size, 320) > 1
    (fast,) = predictor(session)(big)
    (slow,) = session.predict(big)
    assert fast.size == big.size
    assert mean_abs_diff(fast, slow) <= 1.5
    # and the subject is where rembg puts it: the same pixels are above half
    agree = (np.asarray(fast) > 127) == (np.asarray(slow) > 127)
    assert agree.mean() > 0.995


def test_8k_without_matting_needs_at_most_1_5_gb_extra(session, anime: Image.Image) -> None:
    big = anime.resize((8192, 8192), Image.Resampling.BILINEAR)
    predict = predictor(session)
    predict(anime)  # onnxruntime's arena is allocated at the first run, not per image
    result, extra_mb = peak_extra_mb(lambda: pipeline.remove_background(big, predict))
    assert result.cutout.size == (8192, 8192)
    assert np.asarray(result.mask).max() == 255
    assert extra_mb <= 1536, f"{extra_mb:.0f} MB extra peak memory"
