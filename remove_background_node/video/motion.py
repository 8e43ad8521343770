"""How each blob of a matte moves from one frame to another: optical flow fitted as rigid pieces.

Pure numpy and OpenCV; used by the stabiliser (temporal.py) and by in-between frames (keyframes.py).

1. DIS optical flow from this frame to the other, on copies FLOW_WIDTH pixels wide (cheap, and the
   reduction averages sensor noise away).
2. Each blob of the matte (the subject, or anything else the model took for one) moves as up to PIECES
   rigid pieces: a similarity (shift, turn, scale) fitted robustly to the flow of its confident
   interior (matte >= INTERIOR, where the colours of this frame match the other moved by the flow and
   the picture has the texture to show motion at all), then another to what that one leaves out, and so
   on; each interior pixel goes with the piece that explains its flow best, every other pixel of the
   blob with the piece of the interior pixel nearest it. Dense flow is unreliable exactly on a moving
   subject's soft edge, whose mixed pixels change colour as the background behind them changes; the
   motion of the part beside it is not. A zoom or a turn is one piece, an arm that moves its own way
   another, and so is a subject moving past something else the model took for one, with which it makes
   one blob; where one shift nearly explains a blob but its flow falls in two groups (a still subject
   beside something the camera pans), each group is a shift of its own.
3. A scene cut (``scene_cut``): the colours under the flow differ far more than they did a frame before.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import masks

FLOW_WIDTH = 320  # pixels: optical flow runs on frames reduced to this width
SUBJECT_LEVEL = 32  # matte values from this up make the blobs that move as one piece...
BLOB_MARGIN = 0.01  # ...grown by this fraction of the flow frame's shorter side, to hold the soft edge
INTERIOR = 200  # a blob's motion is taken where its matte is at least this ...
# ... and where the picture has texture in both directions (the smaller eigenvalue of its structure tensor, OpenCV's
# cornerMinEigenVal, at least TEXTURE times the frames' noise level squared): a flat area, such as a dark suit, agrees
# in colour under any flow, and a piece fitted to its flow moved a steadily moving subject's edge by up to 5 px
# (.readme/performance-log.md, "Flat interiors"); a blob with too little texture (under PIECE_SHARE of its
# interior) uses its whole interior
TEXTURE = 0.0005
MIN_INTERIOR = 20  # flow-frame pixels a blob (or a piece of it) needs for a motion of its own
PIECES = 3  # rigid pieces a blob may move as
PIECE_SHARE = 0.15  # ...each holding at least this share of the blob's interior
SHIFT_SHARE = 0.8  # ...when a plain shift explains this share of the interior, the first piece is that shift
# ...or two shifts, where the interior's flow falls in two groups (each at least PIECE_SHARE) whose medians lie apart
# by at least SPLIT times their spread (squared): a still subject beside a background object the camera pans, 1 px
# a frame, within FIT_TOLERANCE of one shift (measured: 245-6000 there, under 3 for one subject's flow noise)
SPLIT = 10.0
SPLIT_SAMPLES = 2000  # interior flows the groups are looked for in (a blob has up to tens of thousands)
FIT_TOLERANCE = 0.5  # flow-frame pixels: interior points within this of a piece's motion belong to it
PHOTO_K = 3.0  # colours agree within this many times the frame's own noise level
MAD_TO_SIGMA = 1.4826  # a median absolute deviation times this estimates a normal spread's standard deviation
# a scene cut: the frames' noise level (colour difference under the flow) above CUT_FLOOR levels and CUT_RATIO times
# the frame before's (measured at 640x360: 3-5 within a clip, 13.5 under sensor noise of sigma 16, 70 across a cut)
CUT_FLOOR, CUT_RATIO = 8.0, 4.0

Grids = dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]  # (width, height) -> pixel coordinate planes
Reduced = tuple[np.ndarray, np.ndarray, np.ndarray]  # a frame at flow size: float32 RGB, uint8 grey, uint8 matte


def flow_size(width: int, height: int) -> tuple[int, int]:
    """A frame's (width, height) -> the (width, height) the flow runs at."""
    if width <= FLOW_WIDTH:
        return width, height
    return FLOW_WIDTH, max(8, round(height * FLOW_WIDTH / width))


def scene_cut(noise: float, before: float | None) -> bool:
    """The noise level between two frames and the one between the two before (None: not known) -> whether the two
    frames show different scenes."""
    return noise > max(CUT_FLOOR, CUT_RATIO * (CUT_FLOOR if before is None else before))


def reduce(frame: np.ndarray, matte: np.ndarray) -> Reduced:
    """HxWx3 uint8 RGB frame and its HxW uint8 matte -> both at flow size: (float32 RGB, uint8 grey, uint8 matte)."""
    small, grey = reduce_frame(frame)
    return small, grey, cv2.resize(matte, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_AREA)


def reduce_frame(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 uint8 RGB frame -> it at flow size: (float32 RGB, uint8 grey)."""
    small = cv2.resize(frame, flow_size(frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32), cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def new_flow() -> cv2.DISOpticalFlow:
    """-> the optical flow the stabiliser uses (DIS, fast, down to full flow-frame resolution)."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    flow.setFinestScale(0)  # the preset stops at a quarter scale, which at this width underestimates motion
    return flow


def subject_motion(
    flow: cv2.DISOpticalFlow, this: Reduced, other: Reduced, grid: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, float]:
    """The flow, this frame and another (reduced, with the mattes to find the blobs in) and the flow-size pixel grid
    -> (flow from this frame to the other where every blob moves as its rigid pieces, bool map of those blobs,
    the frames' noise level)."""
    back = flow.calc(this[1], other[1], None)
    moved = warp(other[0], back, grid)
    noise = noise_level(this[0], moved)
    agree = colour_agreement(this[0], moved, noise)
    textured = cv2.cornerMinEigenVal(this[1], 5, 3) >= TEXTURE * noise * noise
    motion, blobs = _blob_motion(back, agree, textured, this[2], other[2])
    return motion, blobs, noise


def move(picture: np.ndarray, motion: np.ndarray, box: tuple[slice, slice], grid: tuple[np.ndarray, np.ndarray],
         how: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A full-size float32 picture of the other frame, the flow-size motion to it, a box of this frame and the
    full-size pixel grid -> that box of the picture moved onto this frame."""
    return cv2.remap(picture, *source_of(motion, picture.shape[:2], box, grid), how, borderMode=cv2.BORDER_REPLICATE)


def carried(matte: np.ndarray, motion: np.ndarray, blobs: np.ndarray, grids: Grids) -> np.ndarray:
    """Another frame's HxW matte, the flow-size motion from this frame to it with its blobs (subject_motion), and the
    grids made so far -> that matte moved onto this frame, float32 (outside the blobs it stays where it is)."""
    height, width = matte.shape
    result = matte.astype(np.float32)
    if blobs.any():
        box = box_around(cv2.resize(blobs.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR))
        result[box] = move(result, motion, box, pixel_grid(grids, (width, height)))
    return result


def source_of(motion: np.ndarray, shape: tuple[int, ...], box: tuple[slice, slice], grid: tuple[np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
    """The flow-size motion to the other frame, this frame's (height, width), a box of it and the full-size pixel grid
    -> (x, y) maps: where each pixel of the box comes from in the other frame (for cv2.remap)."""
    height, width = shape
    motion_full = cv2.resize(motion, (width, height), interpolation=cv2.INTER_LINEAR)[box]
    return (grid[0][box] + motion_full[..., 0] * np.float32(width / motion.shape[1]),
            grid[1][box] + motion_full[..., 1] * np.float32(height / motion.shape[0]))


def box_around(inside: np.ndarray) -> tuple[slice, slice]:
    """A map, non-zero somewhere -> the box around its non-zero pixels (masks.extent), as slices."""
    row0, row1, col0, col1 = masks.extent(inside)  # type: ignore[misc]  # never None: the caller checked
    return np.s_[row0:row1, col0:col1]


def pixel_grid(grids: Grids, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The grids made so far and a (width, height) -> pixel coordinate planes of that size (made once)."""
    if size not in grids:
        grids[size] = tuple(np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32)))
    return grids[size]


def warp(picture: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray], how: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A picture of frame t-1, a flow from frame t to t-1 and the pixel grid -> the picture moved onto frame t."""
    return cv2.remap(picture, grid[0] + flow[..., 0], grid[1] + flow[..., 1], how, borderMode=cv2.BORDER_REPLICATE)


def noise_level(small: np.ndarray, moved: np.ndarray) -> float:
    """Frame t and frame t-1 moved onto it (float32 RGB) -> a robust scale of their colour difference (sensor noise)."""
    difference = np.sqrt(np.mean(np.square(small - moved), axis=2))
    return max(1.0, MAD_TO_SIGMA * float(np.median(difference)))


def colour_agreement(small: np.ndarray, moved: np.ndarray, noise: float) -> np.ndarray:
    """Frame t, frame t-1 moved onto it and the noise level -> float32 0..1 per pixel: how well their colours agree
    over each 3x3 neighbourhood (one chance match does not count), pulled in by a pixel at disagreements."""
    # OpenCV's float box filter keeps running sums, which can end a hair below 0 beside large differences
    error = np.sqrt(np.maximum(cv2.boxFilter(np.mean(np.square(small - moved), axis=2), -1, (3, 3)), 0.0))
    agree = np.exp(-np.square(error / (PHOTO_K * noise))).astype(np.float32)
    return cv2.erode(agree, np.ones((3, 3), np.uint8))


def _blob_motion(
    flow: np.ndarray, agree: np.ndarray, textured: np.ndarray, matte: np.ndarray, previous: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flow (this frame -> the other), colour agreement, where this frame has texture (bool), this and the other
    matte, all at flow size -> (a flow where every blob moves as its rigid pieces, bool map of the blobs)."""
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
        if np.count_nonzero(core & textured) >= max(MIN_INTERIOR, PIECE_SHARE * np.count_nonzero(core)):
            core &= textured
        if np.count_nonzero(core) < MIN_INTERIOR:
            continue
        ys, xs = np.nonzero(blob)
        motion[ys, xs] = _piece_motion(flow, core, np.stack([xs, ys], 1).astype(np.float32))
        blobs |= blob
    return motion, blobs


def _shifts(flows: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
    """N x 2 flows of a blob's interior and their median, a shift that nearly explains them -> [that shift], or the
    medians of two groups when the flows fall apart into two (SPLIT)."""
    flows = flows[:: max(1, len(flows) // SPLIT_SAMPLES)]  # the groups are found as well from an even sample
    offset = flows - np.median(flows, axis=0)
    _, axes = np.linalg.eigh(offset.T @ offset)
    first = offset @ axes[:, 1] > 0  # split across the flows' main direction, then refined as 2-means
    for _ in range(8):
        if first.all() or not first.any():
            return [shift]
        a, b = np.median(flows[first], axis=0), np.median(flows[~first], axis=0)
        first = np.square(flows - a).sum(1) < np.square(flows - b).sum(1)
    if min(first.mean(), 1.0 - first.mean()) < PIECE_SHARE:
        return [shift]
    a, b = np.median(flows[first], axis=0), np.median(flows[~first], axis=0)
    spread = sum(np.square(MAD_TO_SIGMA * np.median(np.abs(f - m), axis=0)).sum() for f, m in ((flows[first], a), (flows[~first], b)))
    return [a, b] if np.square(a - b).sum() >= SPLIT * max(spread, 1e-6) else [shift]


def _piece_motion(flow: np.ndarray, core: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Flow, a blob's confident interior (bool map) and the blob's N (x, y) points -> N x 2 float32 motions: each
    point's under the rigid piece of the interior point nearest it."""
    ys, xs = np.nonzero(core)
    source = np.stack([xs, ys], 1).astype(np.float32)
    target = source + flow[ys, xs]
    left = np.ones(len(source), dtype=bool)
    pieces: list[np.ndarray] = []
    shift = np.median(flow[ys, xs], axis=0)
    still = np.linalg.norm(target - source - shift, axis=1) <= FIT_TOLERANCE
    if still.mean() >= SHIFT_SHARE:  # a plain shift explains the blob: no turn or scale is fitted to the flow's noise
        pieces.extend(np.broadcast_to(s, points.shape) for s in _shifts(flow[ys, xs], shift))
        left &= ~still
    while len(pieces) < PIECES and left.sum() >= max(MIN_INTERIOR, PIECE_SHARE * len(source)):
        fit, inliers = cv2.estimateAffinePartial2D(
            source[left], target[left], method=cv2.RANSAC, ransacReprojThreshold=FIT_TOLERANCE, maxIters=200, refineIters=10
        )
        if fit is None:
            break
        pieces.append(points @ fit[:, :2].T + fit[:, 2] - points)
        left[np.flatnonzero(left)[inliers.ravel() > 0]] = False
    if not pieces:  # too few points for a fit: the blob moves by its interior's median flow
        return np.broadcast_to(np.median(flow[ys, xs], axis=0), points.shape)
    if len(pieces) == 1:
        return pieces[0]
    # Each interior point goes with the piece that explains its flow best, every other point of the blob with the
    # piece of the interior point nearest it: a soft edge, or background a moving part has just uncovered, belongs
    # with the part beside it (chosen by colour, such pixels often matched another piece better and stayed behind).
    stack = np.stack(pieces)  # pieces x N x 2
    where = np.full(flow.shape[:2], -1, dtype=np.int64)
    where[points[:, 1].astype(int), points[:, 0].astype(int)] = np.arange(len(points))
    misfit = np.linalg.norm(stack[:, where[ys, xs]] - (target - source), axis=2)
    outside = np.ones(flow.shape[:2], dtype=np.uint8)
    outside[ys, xs] = 0
    _, nearest = cv2.distanceTransformWithLabels(outside, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    piece_of = np.zeros(int(nearest.max()) + 1, dtype=np.int64)
    piece_of[nearest[ys, xs]] = np.argmin(misfit, axis=0)
    best = piece_of[nearest[points[:, 1].astype(int), points[:, 0].astype(int)]]
    return stack[best, np.arange(len(points))]
