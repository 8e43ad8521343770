"""Temporal matte stabilisation: each frame's matte blended with the previous result, carried along with the subject.

Pure numpy and OpenCV: a frame and its per-frame matte in, a steadier matte out; the state between
frames is a small object. How it works, per frame t (``strength`` s in [0, 1], 0 returns the matte as it is):

1. DIS optical flow from frame t to frame t-1, on copies FLOW_WIDTH pixels wide (cheap, and the
   reduction averages sensor noise away).
2. Each blob of the matte (the subject, or anything else the model took for one) is treated as one
   moving piece: its motion is the median flow of its confident interior (matte >= INTERIOR, where
   the colours of frame t match frame t-1 moved by the flow). Dense flow is unreliable exactly on a
   moving subject's soft edge, whose mixed pixels change colour as the background behind them
   changes; the blob's own motion is not.
3. The previous result is moved along with its blob and blended with the new matte, with weight
   MAX_WEIGHT * s * trust. Trust is 1 where the subject's colours agree under its motion (the
   history shows the same part of it), else it falls off with the disagreement between the moved
   history and the new matte (|d| / GATE), so a blob that changes shape or a new part that appears
   follows the new frame at once. Outside the blobs the new matte is used as it is.

The result is a recursive average in the subject's own frame: edge noise and holes that come and go
average out, while the motion keeps edges where they are (no lag), and colour and shape checks stop
ghosts. Measured on synthetic clips with a known matte in ``benchmarks.video`` (README, Performance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

FLOW_WIDTH = 320  # pixels: optical flow runs on frames reduced to this width
MAX_WEIGHT = 0.93  # weight of the moved history at full strength and full trust
SUBJECT_LEVEL = 32  # matte values from this up make the blobs that move as one piece...
BLOB_MARGIN = 0.01  # ...grown by this fraction of the flow frame's shorter side, to hold the soft edge
INTERIOR = 200  # a blob's motion is taken where its matte is at least this
MIN_INTERIOR = 20  # flow-frame pixels a blob needs for a motion of its own
GATE = 200.0  # matte levels: the history's trust falls off with its disagreement from the new matte
PHOTO_K = 3.0  # colours agree within this many times the frame's own noise level


@dataclass
class State:
    """What the stabiliser keeps from the frame before: its reduced picture and matte, and the result."""

    small: np.ndarray | None = None  # float32 RGB at flow size
    grey: np.ndarray | None = None  # uint8 at flow size, for the flow
    matte_small: np.ndarray | None = None  # uint8 at flow size
    result: np.ndarray | None = None  # float32 HxW, 0..255
    mattes: int = 0  # the model's mattes averaged into the result so far
    flow: cv2.DISOpticalFlow | None = field(default=None, repr=False)
    grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)


def flow_size(width: int, height: int) -> tuple[int, int]:
    """A frame's (width, height) -> the (width, height) the flow runs at."""
    if width <= FLOW_WIDTH:
        return width, height
    return FLOW_WIDTH, max(8, round(height * FLOW_WIDTH / width))


def stabilise(frame: np.ndarray, matte: np.ndarray, state: State, strength: float) -> np.ndarray:
    """HxWx3 uint8 RGB frame, its HxW uint8 per-frame matte, the state from the frame before and the strength
    0..1 -> the HxW uint8 stabilised matte (the state is updated); strength 0 returns ``matte`` itself."""
    if strength <= 0:
        return matte
    height, width = matte.shape
    size = flow_size(width, height)
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    small = small.astype(np.float32)
    matte_small = cv2.resize(matte, size, interpolation=cv2.INTER_AREA)
    if state.result is None or state.result.shape != matte.shape:
        state.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        state.flow.setFinestScale(0)  # the preset stops at a quarter scale, which at this width underestimates motion
        _restart(state, small, grey, matte_small, matte)
        return matte
    assert state.flow is not None and state.small is not None and state.grey is not None
    back = state.flow.calc(grey, state.grey, None)  # frame t -> t-1
    moved = _moved(state.small, back, _grid(state, size))
    noise = _noise_level(small, moved)
    agree = _colour_agreement(small, moved, noise)
    motion, blobs = _blob_motion(back, agree, matte_small, state.matte_small)
    if not blobs.any():
        _restart(state, small, grey, matte_small, matte)
        return matte
    same_part = _colour_agreement(small, _moved(state.small, motion, _grid(state, size)), noise)
    inside = cv2.resize(blobs.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    # The trust is 0 outside the blobs, where the new matte is kept as it is: the full-size work is done in their box.
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale_x, scale_y = width / size[0], height / size[1]
    motion_full = cv2.resize(motion, (width, height), interpolation=cv2.INTER_LINEAR)[box]
    motion_full[..., 0] *= scale_x
    motion_full[..., 1] *= scale_y
    xs, ys = _grid(state, (width, height))
    history = _moved(state.result, motion_full, (xs[box], ys[box]), cv2.INTER_CUBIC)
    result = matte.astype(np.float32)
    new = result[box].copy()
    d = history - new
    same_part = cv2.resize(same_part, (width, height), interpolation=cv2.INTER_LINEAR)[box]
    trust = inside[box] * np.maximum(same_part, np.exp(-np.square(d / GATE)))
    # a running mean while the history holds few mattes (the first frame's weighs no more than any later one's),
    # then a recursive average that forgets at MAX_WEIGHT
    weight = min(MAX_WEIGHT, state.mattes / (state.mattes + 1.0))
    result[box] = new + (weight * min(strength, 1.0)) * trust * d
    state.mattes += 1
    _remember(state, small, grey, matte_small, result)
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def _restart(state: State, small: np.ndarray, grey: np.ndarray, matte_small: np.ndarray, matte: np.ndarray) -> None:
    """The state, this frame's reduced pictures and its own matte -> the history starts again from that matte alone."""
    _remember(state, small, grey, matte_small, matte.astype(np.float32))
    state.mattes = 1


def _remember(state: State, small: np.ndarray, grey: np.ndarray, matte_small: np.ndarray, result: np.ndarray) -> None:
    state.small, state.grey, state.matte_small, state.result = small, grey, matte_small, result


def _grid(state: State, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The state and a (width, height) -> pixel coordinate planes of that size (made once)."""
    if size not in state.grids:
        xs, ys = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
        state.grids[size] = (xs, ys)
    return state.grids[size]


def _moved(picture: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray], how: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A picture of frame t-1, a flow from frame t to t-1 and the pixel grid -> the picture moved onto frame t."""
    return cv2.remap(picture, grid[0] + flow[..., 0], grid[1] + flow[..., 1], how, borderMode=cv2.BORDER_REPLICATE)


def _noise_level(small: np.ndarray, moved: np.ndarray) -> float:
    """Frame t and frame t-1 moved onto it (float32 RGB) -> a robust scale of their colour difference (sensor noise)."""
    difference = np.sqrt(np.mean(np.square(small - moved), axis=2))
    return max(1.0, 1.4826 * float(np.median(difference)))


def _colour_agreement(small: np.ndarray, moved: np.ndarray, noise: float) -> np.ndarray:
    """Frame t, frame t-1 moved onto it and the noise level -> float32 0..1 per pixel: how well their colours agree
    over each 3x3 neighbourhood (one chance match does not count), pulled in by a pixel at disagreements."""
    error = np.sqrt(cv2.boxFilter(np.mean(np.square(small - moved), axis=2), -1, (3, 3)))
    agree = np.exp(-np.square(error / (PHOTO_K * noise))).astype(np.float32)
    return cv2.erode(agree, np.ones((3, 3), np.uint8))


def _blob_motion(
    flow: np.ndarray, agree: np.ndarray, matte: np.ndarray, previous: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flow (t -> t-1), colour agreement, this and the previous matte at flow size -> (a flow where every blob
    moves as one piece by the median flow of its confident interior, bool map of those blobs)."""
    k = max(3, 2 * int(round(BLOB_MARGIN * min(matte.shape))) + 1)
    pieces = (np.maximum(matte, previous) >= SUBJECT_LEVEL).astype(np.uint8)
    pieces = cv2.dilate(pieces, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, labels = cv2.connectedComponents(pieces, connectivity=8)
    interior = (matte >= INTERIOR) & (agree > 0.5)
    motion = np.zeros_like(flow)
    blobs = np.zeros(matte.shape, dtype=bool)
    for label in range(1, count):
        blob = labels == label
        core = blob & interior
        if np.count_nonzero(core) < MIN_INTERIOR:
            continue
        motion[blob] = np.median(flow[core], axis=0)
        blobs |= blob
    return motion, blobs
