"""Synthetic test images with a known alpha: a soft, hairy-edged disc over a textured background."""

from __future__ import annotations

import numpy as np
from PIL import Image


def texture(size: int, seed: int, base: tuple[float, float, float]) -> np.ndarray:
    """Side, seed and base colour -> size x size x 3 float32 texture in 0..1 (stripes, blobs, noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((size, size, 3), dtype=np.float32)
    for ch in range(3):
        fx, fy, ph = rng.uniform(3, 17), rng.uniform(3, 17), rng.uniform(0, 6.28)
        wave = 0.5 + 0.25 * np.sin(6.28 * (fx * x + ph)) * np.cos(6.28 * (fy * y - ph))
        out[..., ch] = base[ch] * 0.6 + 0.4 * wave
    out += rng.normal(0, 0.03, out.shape).astype(np.float32)  # fine grain, as photos have
    return np.clip(out, 0, 1, out=out)


def hairy_disc_alpha(size: int, strands: int = 180) -> np.ndarray:
    """Side and number of strands -> size x size float32 alpha: a disc whose edge is soft and hair-like."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    dy, dx = y - c, x - c
    r = np.hypot(dx, dy) / size
    theta = np.arctan2(dy, dx)
    radius = 0.30 + 0.04 * np.abs(np.sin(strands / 2 * theta)) ** 8  # tufts of hair past the disc
    soft = 0.006  # edge softness, in image widths
    alpha = np.clip((radius - r) / soft + 0.5, 0, 1)
    # thin semi-transparent strands: their opacity falls off along the strand
    strand = np.abs(np.sin(strands * theta)) ** 24
    fall = np.clip((0.36 - r) / 0.06, 0, 1)
    return np.maximum(alpha, 0.8 * strand * fall * (r > 0.25)).astype(np.float32)


FG_BASE, BG_BASE = (0.9, 0.6, 0.3), (0.2, 0.4, 0.8)

# Named scenes for the checks: the default, and one with other textures and hair twice as dense
# and half as wide, so that a method is not tuned to one picture.
SCENES = {"default": {"seed": 0, "strands": 180}, "dense": {"seed": 7, "strands": 360}}


def true_foreground(size: int, seed: int = 0) -> np.ndarray:
    """Side and seed -> the size x size x 3 float32 foreground colour (0..1) that ``composite`` uses."""
    return texture(size, seed + 1, FG_BASE)


def composite(size: int, seed: int = 0, strands: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """Side, seed and number of hair strands -> (size x size x 3 uint8 image, size x size float32 true alpha in 0..1)."""
    alpha = hairy_disc_alpha(size, strands)
    fg = true_foreground(size, seed)
    bg = texture(size, seed + 2, BG_BASE)
    a = alpha[..., None]
    image = fg * a + bg * (1 - a)
    return (image * 255 + 0.5).astype(np.uint8), alpha


def model_like_mask(alpha: np.ndarray, model_size: int = 320) -> np.ndarray:
    """True alpha -> uint8 mask that looks like a model's: the truth seen at model_size, then upscaled."""
    a8 = Image.fromarray((alpha * 255 + 0.5).astype(np.uint8))  # mode L
    small = a8.resize((model_size, model_size), Image.Resampling.BOX)
    return np.asarray(small.resize(a8.size, Image.Resampling.BILINEAR))
