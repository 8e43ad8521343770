"""Temporal matte stabilisation: each frame's matte blended with the previous result, carried along with the subject.

Pure numpy and OpenCV: a frame and its per-frame matte in, a steadier matte out; the state between
frames is a small object. How it works, per frame t (``strength`` s in [0, 1], 0 returns the matte as it is):

1. Each blob of the matte moves from frame t-1 to frame t as its rigid pieces (motion.subject_motion).
2. The previous result is moved along with its blob and blended with the new matte, with weight
   MAX_WEIGHT * s * trust. Trust is 1 where the subject's colours agree under its motion (the
   history shows the same part of it), else it falls off with the disagreement between the moved
   history and the new matte (|d| / GATE, or |d| / SURE_GATE where the new matte is sure), so a
   blob that changes shape or a new part that appears follows the new frame at once, and what a
   moving edge uncovers does not keep a fading trail. Where the new matte has differed from the
   history by CHANGE levels PERSIST frames in a row, the colours' agreement no longer holds the
   history there (|d| / SURE_GATE alone): the model changed its mind, as when it finds a part it
   missed while the subject stood still. Outside the blobs the new matte is used as it is.
3. A witness: given a later frame's own matte (the next frame the model sees), moved back onto
   frame t along with the subject, where the new matte is off from both the history and the witness
   by FLICKER levels or more while those two agree within CHANGE, the new matte is a one-frame
   flicker and the history has full trust there. Where the witness sides with the new matte, the
   rules above decide, but a part both find that the history lacks by CHANGE levels counts as a
   change of mind at once (a part lost still waits PERSIST frames).
4. At a scene cut (motion.scene_cut) the history starts again from the new matte: nothing of the
   last scene's subject stays.

The result is a recursive average in the subject's own frame: edge noise and holes that come and go
average out, while the motion keeps edges where they are (no lag), and colour and shape checks stop
ghosts. Measured on synthetic clips with a known matte in ``benchmarks.video`` (README, Performance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .motion import (
    Grids, box_around, carried, colour_agreement, new_flow, pixel_grid, reduce, scene_cut, source_of, subject_motion, warp,
)

MAX_WEIGHT = 0.93  # weight of the moved history at full strength and full trust
GATE = 300.0  # matte levels: the history's trust falls off with its disagreement from the new matte ...
SURE, SURE_GATE = 16, 50.0  # ... and faster, with this scale, where the new matte is within SURE levels of 0 or 255
CHANGE, PERSIST = 128, 4  # matte levels a new matte differs from the history by, and for how many frames in a row
FLICKER = 32  # matte levels the new matte is off from both the history and the witness, where those two agree
STRIP = 64  # rows of the blobs' box blended at a time


@dataclass
class State:
    """What the stabiliser keeps from the frame before: its reduced picture and matte, and the result."""

    small: np.ndarray | None = None  # float32 RGB at flow size
    grey: np.ndarray | None = None  # uint8 at flow size, for the flow
    matte_small: np.ndarray | None = None  # uint8 at flow size
    result: np.ndarray | None = None  # float32 HxW, 0..255
    mattes: int = 0  # the model's mattes averaged into the result so far
    changed: np.ndarray | None = None  # uint8 HxW: frames in a row (up to PERSIST) the new matte has differed from the history
    noise: float | None = None  # the noise level between the last two frames of this scene (None: not known)
    flow: cv2.DISOpticalFlow | None = field(default=None, repr=False)
    grids: Grids = field(default_factory=dict, repr=False)


def stabilise(
    frame: np.ndarray, matte: np.ndarray, state: State, strength: float, witness: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """HxWx3 uint8 RGB frame, its HxW uint8 per-frame matte, the state from the frame before, the strength 0..1 and
    optionally a later (frame, its own matte) as a witness -> the HxW uint8 stabilised matte (the state is updated);
    strength 0 returns ``matte`` itself."""
    if strength <= 0:
        return matte
    height, width = matte.shape
    small, grey, matte_small = reduce(frame, matte)
    size = (small.shape[1], small.shape[0])
    if state.result is None or state.result.shape != matte.shape:
        state.flow = new_flow()
        _restart(state, small, grey, matte_small, matte)
        return matte
    assert state.flow is not None and state.small is not None and state.grey is not None
    motion, blobs, noise = subject_motion(
        state.flow, (small, grey, matte_small), (state.small, state.grey, state.matte_small), pixel_grid(state.grids, size)
    )
    cut = scene_cut(noise, state.noise)
    state.noise = None if cut else noise
    if cut or not blobs.any():
        _restart(state, small, grey, matte_small, matte)
        return matte
    same_part = colour_agreement(small, warp(state.small, motion, pixel_grid(state.grids, size)), noise)
    same_part = cv2.resize(same_part, (width, height), interpolation=cv2.INTER_LINEAR)
    inside = cv2.resize(blobs.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    # The trust is 0 outside the blobs, where the new matte is kept as it is: the full-size work is done in their box.
    box = box_around(inside)
    source = source_of(motion, (height, width), box, pixel_grid(state.grids, (width, height)))
    said = _witness_said(state, (small, grey, matte_small), witness, noise, box)
    before = None if state.changed is None else cv2.remap(
        state.changed, *source, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    result = matte.astype(np.float32)
    changed = np.zeros(matte.shape, np.uint8)  # counted up to PERSIST: only reaching it matters
    # a running mean while the history holds few mattes (the first frame's weighs no more than any later one's),
    # then a recursive average that forgets at MAX_WEIGHT
    weight = min(MAX_WEIGHT, state.mattes / (state.mattes + 1.0)) * min(strength, 1.0)
    # A strip of the box's rows at a time, so the working maps stay small however much of the picture the box holds.
    for top in range(0, box[0].stop - box[0].start, STRIP):
        rows = slice(top, top + STRIP)  # within the box
        strip = (slice(box[0].start + top, min(box[0].start + top + STRIP, box[0].stop)), box[1])
        _blend(state, result, changed, strip, (source[0][rows], source[1][rows]), same_part[strip], inside[strip],
               None if before is None else before[rows], None if said is None else said[rows], weight)
    state.mattes += 1
    _remember(state, small, grey, matte_small, result)
    state.changed = changed
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def _blend(
    state: State, result: np.ndarray, changed: np.ndarray, strip: tuple[slice, slice],
    source: tuple[np.ndarray, np.ndarray], same_part: np.ndarray, inside: np.ndarray, before: np.ndarray | None,
    said: np.ndarray | None, weight: float,
) -> None:
    """The state, the new matte as float32 (blended here in place), the frames-in-a-row map (set here), a strip of the
    box, where its pixels come from in the frame before, the colours' agreement and the blobs there, the frames in a
    row moved from the frame before (None: none yet), the witness's matte moved onto it (None: no witness), and the
    history's weight -> nothing: the strip of ``result`` is the new matte blended with the moved history."""
    history = cv2.remap(state.result, *source, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    new = result[strip].copy()
    d = history - new
    # Where the new matte is sure (within SURE of 0 or 255) the history's trust falls off sooner: the faint part of a
    # ghost that one frame left behind a moving edge would otherwise keep a trust near 1 and fade only slowly.
    # Where the model has said something else for PERSIST frames in a row, the history's colour match no longer
    # keeps it, and its trust falls off as where the new matte is sure: the model has changed its mind (a part it
    # missed while the subject stood still), not flickered.
    apart = np.abs(d)
    changed[strip] = np.where(apart >= CHANGE, np.minimum((0 if before is None else before) + 1, PERSIST), 0)
    persistent = changed[strip] >= PERSIST
    if said is not None:
        above_history, off_new = said - history, np.abs(said - new)  # the witness against each
        # A part the model finds that the history lacks, and the witness finds too, is taken at once: the model sees
        # again what it had missed (a car it lost while it stood and finds once it moves). A part it loses waits
        # PERSIST frames, since holes that come and go are a model's commonest flicker.
        persistent |= (-d >= CHANGE) & (above_history >= CHANGE) & (off_new < FLICKER)
    gate = np.where((new < SURE) | (new > 255 - SURE) | persistent, np.float32(SURE_GATE), np.float32(GATE))
    agreement = np.exp(-np.square(d / gate))
    trust = inside * np.where(persistent, agreement, np.maximum(same_part, agreement))
    if said is not None:  # a one-frame flicker: off from both by FLICKER, while they agree within CHANGE
        flicker = (apart >= FLICKER) & (np.abs(above_history) < CHANGE) & (off_new >= FLICKER)
        trust = np.where(flicker, inside, trust)
    result[strip] = new + (weight * trust) * d


def _witness_said(
    state: State, this: tuple[np.ndarray, np.ndarray, np.ndarray], witness: tuple[np.ndarray, np.ndarray] | None,
    noise: float, box: tuple[slice, slice],
) -> np.ndarray | None:
    """The state, this frame reduced, the witness (a later frame and its own matte, or None), the noise level from
    the frame before and the box -> the witness's matte moved back onto this frame, in the box, as float32; None
    without a usable witness."""
    if witness is None:
        return None
    assert state.flow is not None
    later = reduce(*witness)
    small, grey, matte_small = this
    # blobs where either matte has one, so that a subject's edge that moved in between is inside
    grid = pixel_grid(state.grids, (small.shape[1], small.shape[0]))
    motion, blobs, later_noise = subject_motion(state.flow, (small, grey, np.maximum(matte_small, later[2])), later, grid)
    if scene_cut(later_noise, noise):  # the witness shows another scene
        return None
    return carried(witness[1], motion, blobs, state.grids)[box]


def _restart(state: State, small: np.ndarray, grey: np.ndarray, matte_small: np.ndarray, matte: np.ndarray) -> None:
    """The state, this frame's reduced pictures and its own matte -> the history starts again from that matte alone."""
    _remember(state, small, grey, matte_small, matte.astype(np.float32))
    state.mattes = 1
    state.changed = None


def _remember(state: State, small: np.ndarray, grey: np.ndarray, matte_small: np.ndarray, result: np.ndarray) -> None:
    state.small, state.grey, state.matte_small, state.result = small, grey, matte_small, result

