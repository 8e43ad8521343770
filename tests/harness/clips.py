"""Synthetic video clips with a known matte, and how steady and right a matte video is against it.

A clip is a real subject (by default anime-girl-1's pixels, with the alpha of rembg's expected u2net
result as its true matte; or any picture with a matte of it) moving over a panning photograph, with
sensor noise. The subject is still in some stretches (flicker shows) and moves in others (lag and
ghosts show). Offsets are sub-pixel: the subject and its matte are placed by the same bilinear
warp, so the matte is exactly true.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.harness import fixtures


@dataclass(frozen=True)
class Clip:
    """What a clip looks like: size, length, background photograph, motion, noise."""

    width: int = 640
    height: int = 360
    frames: int = 48
    fps: float = 24.0
    background: str = "car-1.jpg"  # one of rembg's fixtures, or a photograph's path
    crop: tuple[float, float, float, float] = (0.0, 0.125, 0.8, 0.42)  # the part of the photograph: car-1's trees
    speed: float = 4.0  # px/frame at 640 px wide, while moving
    pan: float = 1.0  # the background's pan, px/frame at 640 px wide (a tracking camera)
    noise: float = 4.0  # sensor noise, sigma in 0..255 units
    subject_height: float = 0.8  # the subject's height / the frame's
    seed: int = 0
    motion: Sequence[tuple[int, float, float]] = field(default=())  # (frames, vx, vy) segments; () = the default
    subject: str = ""  # the subject's picture, a path; "" = anime-girl-1
    matte: str = ""  # the subject picture's true matte, a greyscale picture's path; "" = rembg's expected u2net result


@dataclass
class Truth:
    mattes: np.ndarray  # T x H x W uint8, the true matte of each frame
    offsets: np.ndarray  # T x 2, the subject picture's top-left (x, y) in each frame
    window: tuple[int, int, int, int]  # the true matte's box in the subject picture's coordinates
    moving: np.ndarray  # T bool: the subject moved since the frame before


def _segments(clip: Clip) -> list[tuple[int, float, float]]:
    if clip.motion:
        return list(clip.motion)
    q = clip.frames // 4
    v = clip.speed
    rest = clip.frames - 3 * q
    return [(q, 0.0, 0.0), (q, v, 0.0), (q, 0.0, 0.0), (rest // 2, -1.5 * v, 0.4 * v), (rest - rest // 2, -1.5 * v, -0.4 * v)]


def _subject(clip: Clip) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A clip -> (its subject's colour times its alpha, float32; its alpha 0..1; its matte's box), the subject scaled
    to the clip's subject height."""
    height = round(clip.subject_height * clip.height)
    rgb = np.asarray(Image.open(clip.subject or fixtures.ANIME).convert("RGB"), dtype=np.float32)
    matte = Image.open(clip.matte) if clip.matte else Image.open(fixtures.expected("u2net")).getchannel("A")
    alpha = np.asarray(matte.convert("L"), dtype=np.float32) / 255.0
    ys, xs = np.nonzero(alpha > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    scale = height / (y1 - y0)
    pad = int(np.ceil(4 / scale))
    y0, x0, y1, x1 = max(0, y0 - pad), max(0, x0 - pad), min(alpha.shape[0], y1 + pad), min(alpha.shape[1], x1 + pad)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    a = np.clip(cv2.resize(alpha[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA), 0, 1)
    c = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(a > 1 / 255)
    return c * a[..., None], a, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _place(picture: np.ndarray, x: float, y: float, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(picture, np.float32([[1, 0, x], [0, 1, y]]), size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def frames(clip: Clip) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A clip -> (frame HxWx3 uint8 RGB, its true matte HxW uint8, the subject's offset) for each frame."""
    size = (clip.width, clip.height)
    premultiplied, alpha, box = _subject(clip)
    k = clip.width / 640.0
    steps = [(vx * k, vy * k) for n, vx, vy in _segments(clip) for _ in range(n)][: clip.frames]
    steps[0] = (0.0, 0.0)
    path = np.cumsum(np.array(steps, dtype=np.float64), axis=0)
    room = np.array([clip.width - (box[2] - box[0]), clip.height - (box[3] - box[1])], dtype=np.float64)
    offsets = path + (room - (path.max(0) - path.min(0))) / 2 - path.min(0) - np.array(box[:2])
    pan_total = abs(clip.pan * k * clip.frames)
    photo = Image.open(fixtures.REMBG / clip.background).convert("RGB")
    photo = photo.crop(tuple(round(f * s) for f, s in zip(clip.crop, (photo.width, photo.height) * 2)))
    scale = max((clip.width + pan_total + 4) / photo.width, (clip.height + 4) / photo.height)
    photo = photo.resize((int(np.ceil(photo.width * scale)), int(np.ceil(photo.height * scale))), Image.Resampling.LANCZOS)
    background = np.asarray(photo, dtype=np.float32)
    rng = np.random.default_rng(clip.seed)
    for t in range(clip.frames):
        back = _place(background, -(2 + t * clip.pan * k), -2.0, size)
        a = _place(alpha, *offsets[t], size)
        frame = _place(premultiplied, *offsets[t], size) + back * (1.0 - a[..., None])
        frame += rng.normal(0.0, clip.noise, frame.shape).astype(np.float32)
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8), np.clip(np.rint(a * 255), 0, 255).astype(np.uint8), offsets[t]


def write(clip: Clip, path: Path) -> Truth:
    """A clip and an .mp4 path -> the truth about it, after writing it as H.264 (as InvokeAI writes videos)."""
    import imageio.v2 as iio2

    mattes, offsets = [], []
    writer = iio2.get_writer(str(path), format="FFMPEG", mode="I", fps=clip.fps, codec="libx264", macro_block_size=1)
    try:
        for frame, matte, offset in frames(clip):
            writer.append_data(frame)
            mattes.append(matte)
            offsets.append(offset)
    finally:
        writer.close()
    _, _, box = _subject(clip)
    offsets_array = np.array(offsets)
    moving = np.r_[False, np.abs(np.diff(offsets_array, axis=0)).sum(1) > 1e-6]
    return Truth(np.array(mattes), offsets_array, box, moving)


def read(path: Path) -> np.ndarray:
    """An MP4 -> its frames, T x H x W x 3 uint8 RGB."""
    import imageio.v3 as iio

    return iio.imread(path, plugin="FFMPEG")


def error(mattes: np.ndarray, truth: Truth) -> float:
    """Mattes (T x H x W) and the truth -> the mean absolute error over every pixel of every frame (0..255)."""
    return float(np.mean(np.abs(mattes.astype(np.float32) - truth.mattes.astype(np.float32))))


def flicker(mattes: np.ndarray, truth: Truth, margin: int | None = None) -> float:
    """Mattes (T x H x W) and the truth -> the subject-aligned flicker (0..255): the error E_t = matte - truth is
    sampled in a window that moves with the subject (its true matte's box, grown by ``margin``), and the mean
    absolute change of that window from frame to frame is averaged over the clip. A matte whose error moves
    rigidly with the subject scores 0 however large the error; boiling edges and holes that come and go score."""
    margin = max(4, round(0.02 * mattes.shape[2])) if margin is None else margin
    x0, y0, x1, y1 = truth.window
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    previous, changes = None, []
    for matte, true, offset in zip(mattes, truth.mattes, truth.offsets):
        e = matte.astype(np.float32) - true.astype(np.float32)
        m = np.float32([[1, 0, offset[0] + x0], [0, 1, offset[1] + y0]])
        window = cv2.warpAffine(e, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
        if previous is not None:
            changes.append(float(np.mean(np.abs(window - previous))))
        previous = window
    return float(np.mean(changes))


# A phone's 24 frames, each one's duration in seconds: mostly 1/20 s apart, with gaps where it dropped frames (1.4 s,
# 17.1 fps on average). ffmpeg's concat of pictures keeps durations only from its pictures' own 1/25 s up.
PHONE_TIMING = (0.05,) * 6 + (0.15,) + (0.05,) * 8 + (0.1,) * 2 + (0.05,) * 7


def write_phone_like(clip: Clip, path: Path, durations: Sequence[float] = PHONE_TIMING, sound: bool = True) -> None:
    """A clip, an .mp4 path, each frame's duration in seconds (uneven: a variable frame rate, as phones record) and
    whether to add a tone -> nothing; the clip's frames written there as H.264 with those timings, and AAC sound."""
    import subprocess
    import tempfile

    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as folder:
        listing = []
        for t, (frame, _, _) in enumerate(frames(clip)):
            Image.fromarray(frame).save(Path(folder) / f"{t:04d}.png")
            listing += [f"file '{t:04d}.png'", f"duration {durations[t]}"]
        listing.append(f"file '{clip.frames - 1:04d}.png'")  # the concat demuxer's last duration needs a file after it
        (Path(folder) / "frames.txt").write_text("\n".join(listing) + "\n")
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0",
                   "-i", str(Path(folder) / "frames.txt")]
        if sound:
            command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={sum(durations):.3f}"]
        command += ["-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        command += ["-c:a", "aac", "-shortest"] if sound else []
        subprocess.run(command + [str(path)], check=True, capture_output=True)
