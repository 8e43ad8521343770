"""How an image meets a model: its size on the way in, the cloth category, the mask's size on the way out.

rembg resizes the whole image to the model's input with LANCZOS and the mask back with LANCZOS,
which costs more than u2netp's inference from about 2K up. Images at least SHRINK_MARGIN times the
model input in both directions are first box-reduced by an integer factor to about SHRINK_MARGIN
times the model input, and the model's mask is scaled back up bilinearly; smaller images take
rembg's own path unchanged, so the node reproduces rembg's own results on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .catalog import CLOTH_MODEL

Predict = Callable[[Image.Image], Sequence[Image.Image]]  # RGB image -> one or more L masks of its size

SHRINK_MARGIN = 2  # keep the reduced image this many times the model input: rembg's LANCZOS still sees every pixel
DEFAULT_SIDE = 1024  # when the model's input is dynamic, assume the largest input size in the catalog


def predict_options(model: str, cloth_category: str) -> dict[str, Any]:
    """Model name and the node's cloth category -> keyword arguments for rembg's predict.

    rembg's cloth model returns the upper, lower and full masks when given no category (the
    pipeline unites them: "all"); other models take no category.
    """
    return {"cc": cloth_category} if model == CLOTH_MODEL and cloth_category != "all" else {}


def predictor(session: Any, **options: Any) -> Predict:
    """rembg session and predict() keyword arguments -> the predict function the pipeline calls."""
    side = model_input_side(session)

    def predict(image: Image.Image) -> Sequence[Image.Image]:
        factor = shrink_factor(image.size, side)
        if factor == 1:
            return session.predict(image, **options)
        small = image.reduce(factor)
        return [upscale_mask(m, image.size) for m in session.predict(small, **options)]

    return predict


def model_input_side(session: Any) -> int:
    """rembg session -> the larger side of its model's fixed input (DEFAULT_SIDE when dynamic or unknown)."""
    try:
        shape = session.inner_session.get_inputs()[0].shape
        dims = [d for d in shape[-2:] if isinstance(d, int) and d > 0]
    except (AttributeError, IndexError, TypeError):
        dims = []
    return max(dims) if len(dims) == 2 else DEFAULT_SIDE


def shrink_factor(size: tuple[int, int], side: int) -> int:
    """Image (width, height) and model input side -> integer reduction factor; 1 means rembg's own path."""
    return max(1, min(size) // (side * SHRINK_MARGIN))


def upscale_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Small L mask and target (width, height) -> the mask at that size, bilinear (OpenCV, multithreaded)."""
    if mask.size == size:
        return mask
    if mask.mode != "L":
        mask = mask.convert("L")
    return Image.fromarray(cv2.resize(np.asarray(mask), size, interpolation=cv2.INTER_LINEAR))  # uint8 HxW: mode L
