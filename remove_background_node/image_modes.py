"""Turn an image of any PIL mode InvokeAI can store into 8-bit RGB plus its own alpha, if it has one."""

from __future__ import annotations

import numpy as np
from PIL import Image

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_CHANNELS = {"RGB": 3, "L": 1}
BAND_ROWS = 64  # rows of a picture read at once by pixels()
_WIDE_GREY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def _wide_grey_to_l(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float grey image -> 8-bit L, scaled rather than clipped."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and float(values.max(initial=0.0)) <= 1.0 else 255.0
    elif image.mode == "I" and float(values.max(initial=0.0)) <= 255.0:
        top = 255.0
    else:
        top = 65535.0
    scaled = np.clip(np.nan_to_num(values) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)  # a 2-D uint8 array is mode L


def grey(image: Image.Image) -> Image.Image:
    """Any-mode image -> 8-bit L; 16-bit, 32-bit integer and float grey scaled to 0..255 rather than clipped."""
    return _wide_grey_to_l(image) if image.mode in _WIDE_GREY_MODES else image.convert("L")


def pixels(image: Image.Image, out: np.ndarray | None = None) -> np.ndarray:
    """An RGB or L PIL image, and optionally the HxWx3 or HxW uint8 array to fill -> its pixels in that array (by
    default a new one).

    Read in bands of rows: np.asarray holds the whole picture twice while PIL joins its bytes (96 MB
    at 4096² RGB, about 860 MB at 12000²), this the array and one band, and is no slower."""
    channels = _CHANNELS[image.mode]
    width, height = image.size
    shape = (height, width, channels) if channels > 1 else (height, width)
    if out is None:
        out = np.empty(shape, np.uint8)
    elif out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"pixels() needs a {shape} uint8 array to fill, not {out.shape} {out.dtype}")
    for top in range(0, height, BAND_ROWS):
        bottom = min(height, top + BAND_ROWS)
        with image.crop((0, top, width, bottom)) as band:
            out[top:bottom] = np.frombuffer(band.tobytes(), np.uint8).reshape(out[top:bottom].shape)
    return out


def split_rgb_alpha(image: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """Any-mode image -> (RGB image, its alpha as an HxW uint8 array, or None when fully opaque by mode)."""
    if image.mode in _WIDE_GREY_MODES:
        return _wide_grey_to_l(image).convert("RGB"), None
    if "transparency" in image.info and image.mode in {"P", "L", "RGB", "1"}:
        image = image.convert("RGBA")  # a tRNS colour key is real transparency
    if image.mode in _ALPHA_MODES:
        if image.mode == "La":
            image = image.convert("LA")  # PIL converts premultiplied grey to nothing else
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        return rgba.convert("RGB"), pixels(rgba.getchannel("A"))
    if image.mode == "1" or image.mode == "L":
        return image.convert("L").convert("RGB"), None
    # Already RGB: the image itself (the pipeline only reads it), not a copy: 33 ms at 4096², a re-tweak's 3 %
    return (image, None) if image.mode == "RGB" else (image.convert("RGB"), None)
