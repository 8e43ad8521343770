"""Skipping frames: which frames the model sees, and the matte of a frame between two that it saw.

The model's cost is the same for every frame whatever its size, and on a CPU it is most of a video's
time. With skipping, the model sees every STRIDE-th frame. A frame between two of them gets the
mattes of the frame just before it and of the next one the model sees moved onto it along with the
subject (motion.subject_motion: every blob as its rigid pieces) and averaged, the nearer weighing
more. Where the two moved mattes disagree about more than DISAGREE_SHARE of the subject (it changed
shape in a way the pieces do not follow, something appeared, or the model changed its mind), the
model sees that frame too, as it does the last frames of a clip, which have no seen frame after
them. Pure numpy and OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import motion

STRIDE = 4  # the model sees frames 0, STRIDE, 2 x STRIDE, ... (.readme/performance-log.md, Video: what 2, 3 and 4 measure)
EVERY = {1: "every frame", 2: "every second frame", 3: "every third frame", 4: "every fourth frame"}.get(
    STRIDE, f"every {STRIDE}th frame")  # how the field descriptions and the README say STRIDE
DISAGREE = 128  # matte levels: the two moved mattes disagree about a pixel (one says subject, the other not)
DISAGREE_SHARE = 0.1  # ...over more of the subject (pixels either calls subject) than this: the model sees the frame


def model_sees(index: int) -> bool:
    """A frame's index in the clip -> whether the model always sees it (the others may be in-between frames)."""
    return index % STRIDE == 0


def next_seen(index: int) -> int:
    """A frame's index -> the index of the next frame the model always sees."""
    return (index // STRIDE + 1) * STRIDE


@dataclass
class Between:
    """Mattes of in-between frames; keeps the optical flow and pixel grids from one call to the next."""

    flow: cv2.DISOpticalFlow = field(default_factory=motion.new_flow, repr=False)
    grids: motion.Grids = field(default_factory=dict, repr=False)

    def __call__(
        self, before: tuple[np.ndarray, np.ndarray], frame: np.ndarray, after: tuple[np.ndarray, np.ndarray], ahead: int = 1
    ) -> np.ndarray | None:
        """(frame, matte) just before, this HxWx3 uint8 RGB frame, (frame, matte) ``ahead`` frames after -> this frame's
        HxW uint8 matte (the two moved mattes weighed by nearness), or None when they disagree on it (the model should
        see it)."""
        small, grey = motion.reduce_frame(frame)
        size = (small.shape[1], small.shape[0])
        neighbours = [motion.reduce(*before), motion.reduce(*after)]
        # This frame's own matte is unknown. The subject's confident interior is taken where both neighbours have it,
        # and its blobs over where either has it, so that a moving subject's leading and trailing edges are inside.
        both = np.minimum(neighbours[0][2], neighbours[1][2])
        either = np.maximum(neighbours[0][2], neighbours[1][2])
        motions = [
            motion.subject_motion(
                self.flow, (small, grey, both), (other_small, other_grey, either), motion.pixel_grid(self.grids, size)
            )
            for other_small, other_grey, _ in neighbours
        ]
        noises = [noise for _, _, noise in motions]
        if motion.scene_cut(max(noises), min(noises)):  # one neighbour is of another scene: nothing to move
            return None
        first, second = (motion.carried(matte, way, blobs, self.grids) for (way, blobs, _), (_, matte) in zip(motions, (before, after)))
        subject = np.count_nonzero((first >= DISAGREE) | (second >= DISAGREE))
        if np.count_nonzero(np.abs(first - second) >= DISAGREE) > DISAGREE_SHARE * max(subject, 1):
            return None
        return np.clip(np.rint((ahead * first + second) / (ahead + 1)), 0, 255).astype(np.uint8)
