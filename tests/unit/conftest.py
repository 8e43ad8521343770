"""Shared by the video tests: u2netp as the node runs it, and a clip with a known matte and u2netp's mask of each frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from remove_background_node import pipeline
from tests.harness import clips, weights


@pytest.fixture(scope="session")
def u2netp_predict():
    return weights.cpu_predictor("u2netp")


@pytest.fixture(scope="session")
def clip(tmp_path_factory, u2netp_predict):
    """A 48-frame 640x360 clip (as H.264 decodes it), its truth, and u2netp's mask of every frame."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    truth = clips.write(clips.Clip(frames=48, seed=7, noise=6.0), path)
    frames = clips.read(path)
    masks = np.array([pipeline.subject_mask(Image.fromarray(f), u2netp_predict)[0] for f in frames])
    return frames, masks, truth
