"""How an image meets a model: regions, its size on the way in, the cloth category, the mask's size on the way out.

With regions (bounding boxes, e.g. from GroundingDINO), the model runs on each region's crop with a
margin of context, and everything outside the regions is background: a small subject in a large
picture is then what the model sees, not the picture's own main subject.

rembg resizes the whole image to the model's input with LANCZOS and the mask back with LANCZOS,
work that grows with the image's pixels while the model's own stays fixed. Images whose smaller
side is at least 2 x SHRINK_MARGIN times the model input (the least that allows a factor of 2) are
first box-reduced by the largest integer factor that keeps that side at least SHRINK_MARGIN times
the model input, and the model's mask is scaled back up bilinearly; smaller images take rembg's
own path unchanged, so the node reproduces rembg's own results on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .catalog import CLOTH_MODEL, MODELS

Predict = Callable[[Image.Image], Sequence[Image.Image]]  # RGB image -> one or more L masks of its size
Box = tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in pixels, max exclusive (InvokeAI's BoundingBoxField)

SHRINK_MARGIN = 2  # keep the reduced image this many times the model input: rembg's LANCZOS still sees every pixel
DEFAULT_SIDE = max(m.input_size for m in MODELS)  # when the model's input is dynamic, assume the catalog's largest
REGION_MARGIN = 0.1  # context around a region, as a fraction of its larger side ...
MIN_REGION_MARGIN = 16  # ... and at least this many pixels


def predict_mask(predict: Predict, image: Image.Image, regions: Sequence[Box] | None = None) -> np.ndarray:
    """A model's predict, an RGB image and optional regions -> HxW uint8 mask: the model's masks united; with
    regions, the model runs on each united region's crop and outside every region is background."""
    if regions is None:
        return _united(predict(image))
    mask = np.zeros((image.height, image.width), dtype=np.uint8)
    boxes = _clipped(regions, image.size)
    for x0, y0, x1, y1 in unite(regions, image.size):
        margin = max(MIN_REGION_MARGIN, int(REGION_MARGIN * max(x1 - x0, y1 - y0)))
        cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
        cx1, cy1 = min(image.width, x1 + margin), min(image.height, y1 + margin)
        crop = _united(predict(image.crop((cx0, cy0, cx1, cy1))))
        inside = crop[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
        # overlapping boxes share one crop, but the corners of their common rectangle lie outside every box
        keep = np.zeros(inside.shape, dtype=bool)
        for bx0, by0, bx1, by1 in boxes:
            if x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1:
                keep[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = True
        np.maximum(mask[y0:y1, x0:x1], np.where(keep, inside, 0), out=mask[y0:y1, x0:x1])
    return mask


def _united(masks: Sequence[Image.Image]) -> np.ndarray:
    """The model's masks for one picture (the cloth model gives three) -> one uint8 mask, their maximum."""
    arrays = [np.asarray(m.convert("L") if m.mode != "L" else m) for m in masks]
    out = np.array(arrays[0], dtype=np.uint8)  # a writable copy: PIL's arrays are read-only
    for a in arrays[1:]:
        np.maximum(out, a, out=out)
    return out


def unite(regions: Sequence[Box], size: tuple[int, int]) -> list[Box]:
    """Regions and the image's (width, height) -> the regions clipped to the image, overlapping ones merged
    into their common bounding box until none overlap, empty ones dropped."""
    boxes = _clipped(regions, size)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(boxes)


def _clipped(regions: Sequence[Box], size: tuple[int, int]) -> list[Box]:
    """Regions and the image's (width, height) -> the regions clipped to the image, empty ones dropped."""
    width, height = size
    boxes = [(max(0, x0), max(0, y0), min(width, x1), min(height, y1)) for x0, y0, x1, y1 in regions]
    return [b for b in boxes if b[0] < b[2] and b[1] < b[3]]


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
