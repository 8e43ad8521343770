"""Synthetic scenes with a known answer: discs, soft composites over a colour, a hairy-edged disc over a texture."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from tests.harness import fixtures


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


MAGENTA = np.array([255, 0, 255], dtype=np.float32)


def disc(size: int, radius: float, soft: float = 0.0) -> np.ndarray:
    """A centred disc mask; with ``soft`` > 0 its edge is a linear ramp that many pixels wide."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size // 2, xx - size // 2)
    if soft <= 0:
        return np.where(r <= radius, 255, 0).astype(np.uint8)
    return np.clip((radius - r) / soft * 255 + 127.5, 0, 255).astype(np.uint8)


def soft_composite(size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A known smooth foreground over magenta with a wide soft edge -> (composite, foreground, alpha)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    fg = np.stack([40 + 120 * xx, 120 + 80 * yy, 60 + 40 * xx * yy], axis=-1)  # greenish, smooth
    alpha = disc(size, size * 0.3, soft=24).astype(np.float32) / 255.0
    image = fg * alpha[..., None] + MAGENTA * (1 - alpha[..., None])
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), fg, (alpha * 255 + 0.5).astype(np.uint8)


def edge_error(rgb: np.ndarray, fg: np.ndarray, alpha: np.ndarray) -> float:
    """Colours, the true foreground and an alpha -> mean absolute colour error over the soft pixels (0..255)."""
    soft = (alpha > 0) & (alpha < 255)
    return float(np.abs(rgb[soft].astype(np.float32) - fg[soft]).mean())


def over_colour(fg: np.ndarray, matte: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A foreground (HxWx3, 0..255), a uint8 matte and a colour -> the HxWx3 uint8 picture fg*A + colour*(1-A)."""
    a = matte.astype(np.float32)[..., None] / 255.0
    return np.clip(fg * a + np.asarray(colour, np.float32) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def edge_band(matte: np.ndarray) -> np.ndarray:
    """A uint8 matte -> bool map of where it lies between 0.2 and 0.8, where issue 12 measured edge colours."""
    return (matte > 0.2 * 255) & (matte < 0.8 * 255)


def hard_mask(truth: np.ndarray, slack: int) -> np.ndarray:
    """A true alpha and a slack in pixels -> the alpha thresholded at 128 and grown by the slack (shrunk if negative),
    as a Segment Anything or canvas mask is a few pixels off."""
    hard = np.where(truth >= 128, 255, 0).astype(np.uint8)
    if slack == 0:
        return hard
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(slack) + 1, 2 * abs(slack) + 1))
    return cv2.dilate(hard, kernel) if slack > 0 else cv2.erode(hard, kernel)


def alpha_error(alpha: np.ndarray | Image.Image, truth: np.ndarray) -> float:
    """An alpha (array or L image) and the true one -> their mean absolute difference in levels."""
    return float(np.abs(np.asarray(alpha, dtype=np.float64) - truth).mean())


def anime_matte() -> np.ndarray:
    """-> anime-girl-1's known matte: rembg's expected u2net alpha of it, made opaque inside (known_matte)."""
    return known_matte(np.asarray(Image.open(fixtures.expected("u2net")).getchannel("A")))


def known_matte(alpha: np.ndarray) -> np.ndarray:
    """A model's soft alpha for a photo -> a matte with an opaque inside and a soft edge (models leave much of
    the inside at 200..254, which would tint the whole subject)."""
    return np.clip((alpha.astype(np.float32) - 10) * 255 / (190 - 10) + 0.5, 0, 255).astype(np.uint8)


def known_foreground(photo: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The photo where the matte is opaque, and the subject's colours carried smoothly outwards elsewhere: a
    foreground whose true colour is known in every semi-transparent pixel (the photo's own edge pixels are
    already mixed with its old background, so they cannot be it). float32 HxWx3 in 0..255."""
    solid = (alpha == 255).astype(np.float32)
    out = photo.astype(np.float32)
    mean = out[alpha == 255].mean(axis=0)
    weight = cv2.blur(solid, (31, 31))[..., None]
    spread = cv2.blur(out * solid[..., None], (31, 31)) / np.maximum(weight, 1e-6)
    spread = np.where(weight > 1e-3, spread, mean)
    return np.where(solid[..., None] > 0, out, spread)


def subject_over_photo(
    subject: Image.Image, matte: np.ndarray, photo: Image.Image, size: tuple[int, int],
    subject_size: tuple[int, int], at: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A subject picture with its known matte (uint8), a photograph, the scene's (width, height), the subject's
    (width, height) in it and its top-left corner -> (HxWx3 uint8 scene, HxW uint8 true alpha, the subject's box
    x_min, y_min, x_max, y_max). The subject's colour in its soft edge is ``known_foreground``'s."""
    fg = known_foreground(np.asarray(subject.convert("RGB")), matte)
    fg = cv2.resize(fg, subject_size, interpolation=cv2.INTER_AREA)
    a = cv2.resize(matte.astype(np.float32) / 255.0, subject_size, interpolation=cv2.INTER_AREA)
    background = np.asarray(photo.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    x, y = at
    w, h = subject_size
    scene = background.copy()
    alpha = np.zeros(size[::-1], dtype=np.float32)
    alpha[y : y + h, x : x + w] = a
    region = scene[y : y + h, x : x + w]
    scene[y : y + h, x : x + w] = fg * a[..., None] + region * (1 - a[..., None])
    truth = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(scene + 0.5, 0, 255).astype(np.uint8), truth, (x, y, x + w, y + h)
