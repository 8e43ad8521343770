"""The Remove Video Background node: an InvokeAI video in; the subject over a colour and its matte, as two videos.

Registered on InvokeAI 6.14 and later, which have videos (invocations/__init__.py).
"""
# No `from __future__ import annotations`: InvokeAI reads invoke()'s return annotation as a class.

import tempfile
from pathlib import Path
from typing import Any

from invokeai.app.invocations.fields import VideoField
from invokeai.invocation_api import (
    BaseInvocation,
    BaseInvocationOutput,
    Classification,
    ColorField,
    InputField,
    InvocationContext,
    OutputField,
    WithBoard,
    WithMetadata,
    invocation,
    invocation_output,
)
import numpy as np
from PIL import Image
from pydantic import model_validator

from .. import heap, inference, pipeline
from ..video import container, keyframes, stream, temporal
from . import common
from .common import Device, ModelName

GREEN = ColorField(r=0, g=255, b=0, a=255)
Matte = tuple[np.ndarray, bool]  # a frame's mask from the model (and matting), and whether matting made it


@invocation_output("remove_background_video_output")
class RemoveVideoBackgroundOutput(BaseInvocationOutput):
    """The subject over a colour and its matte, as videos of the input's size, frame rate and frame count."""

    video: VideoField = OutputField(description="The subject over the background colour (H.264 MP4), with the input's sound")
    mask: VideoField = OutputField(description="The matte as a greyscale H.264 MP4: white = subject, for a track matte (silent)")
    width: int = OutputField(description="The width of the videos in pixels")
    height: int = OutputField(description="The height of the videos in pixels")
    frame_count: int = OutputField(description="The number of frames in each video")
    fps: float = OutputField(description="The frames per second of the videos")


@invocation(
    "remove_background_video",
    title="Remove Video Background",
    tags=["video", "background", "mask", "matte", "rembg"],
    category="video",
    version="1.1.0",
    classification=Classification.Beta,
)
class RemoveVideoBackgroundInvocation(BaseInvocation, WithMetadata, WithBoard):
    """Remove a video's background with a rembg model, frame by frame with a steady matte; outputs the subject over a
    colour and the matte, as two MP4s."""

    video: VideoField = InputField(title="Video", description="The video to remove the background from")
    model: ModelName = common.model()
    temporal_smoothing: float = InputField(
        default=1.0, ge=0.0, le=1.0, title="Temporal Smoothing",
        description="How much each frame's matte is steadied by the frames before it, carried along with the subject "
        "(stops edges flickering); 0 = every frame on its own, exactly as Remove Background would cut it out",
    )
    skip_frames: bool = InputField(
        default=True, title="Skip Frames",
        description=f"Faster: the model sees {keyframes.EVERY}, and a frame between gets the mattes of the two on "
        "either side carried along with the subject (the nearer weighing more); where those disagree (a fast or "
        "changing subject) the model sees it too. Off: the model sees every frame. Not used at temporal smoothing 0",
    )
    background_color: ColorField = InputField(
        default=GREEN, title="Background Color",
        description="The colour behind the subject in the video output (an MP4 has no transparency: alpha is ignored)",
    )
    mask_threshold: int = common.mask_threshold()
    mask_grow: int = common.mask_grow()
    mask_feather: float = common.mask_feather()
    invert: bool = common.invert("the video and the matte")
    refine_foreground: bool = common.refine_foreground()
    alpha_matting: bool = common.alpha_matting()
    alpha_matting_foreground_threshold: int = common.foreground_threshold()
    alpha_matting_background_threshold: int = common.background_threshold()
    alpha_matting_erode_size: int = common.erode_size()
    device: Device = common.device()

    @model_validator(mode="before")
    @classmethod
    def _thresholds_in_order(cls, data: Any) -> Any:
        return common.thresholds_in_order(cls, data, "alpha_matting_background_threshold", "alpha_matting_foreground_threshold")

    def invoke(self, context: InvocationContext) -> RemoveVideoBackgroundOutput:
        from ..host import Host

        host = Host(context, node="Remove Video Background")
        source = host.video_path(self.video)
        width, height, fps, duration = host.probe(source)
        held = container.read(source)
        # the rate the decoder hands frames out at (a variable-rate clip keeps its length), as exact as the source's
        fps = container.exact_rate(held.rate or fps)
        # for progress only (the outputs count the frames written): InvokeAI's exact count (decoder_frame_count)
        # costs another decoder process, about 0.4 s before the first frame
        total = max(1, round(duration * fps))
        options = pipeline.Options(**common.mask_options(self))
        said: set[str] = set()

        def warn_once(message: str) -> None:  # a skipped matting would otherwise be said for every frame
            if message not in said:
                said.add(message)
                host.warn(message)

        state = temporal.State()
        in_between = keyframes.Between()

        def between(before: tuple[np.ndarray, Matte], frame: np.ndarray, after: tuple[np.ndarray, Matte],
                    ahead: int) -> Matte | None:
            """(frame, matte) just before, a frame, (frame, matte) ``ahead`` after -> its matte from theirs, or None."""
            matte = in_between((before[0], before[1][0]), frame, (after[0], after[1][0]), ahead)
            return None if matte is None else (matte, before[1][1] and after[1][1])

        def finish(frame: np.ndarray, found: Matte, witness: tuple[np.ndarray, Matte] | None) -> tuple[np.ndarray, np.ndarray]:
            """A frame, its mask and a later (frame, mask) or None -> (the frame over the background colour, its final
            matte), steadied."""
            mask, matted = found
            later = None if witness is None else (witness[0], witness[1][0])
            steady = temporal.stabilise(frame, mask, state, self.temporal_smoothing, later)
            return pipeline.video_frame(frame, steady, matted, options)

        with tempfile.TemporaryDirectory(prefix="remove-background-video-") as folder:
            outputs = Path(folder) / "video.mp4", Path(folder) / "matte.mp4"
            with host.session(self.model, self.device) as session, heap.frames_mapped(width * height * 3):
                predict = inference.predictor(session, **inference.predict_options(self.model, "all"))
                written = stream.run(
                    host.frames(source),
                    total,
                    lambda frame: pipeline.subject_mask(Image.fromarray(frame), predict, options, warn=warn_once, rgb=frame,
                                                        one_of_many=True),
                    finish,
                    stream.mp4_writer(outputs[0], fps),
                    stream.mp4_writer(outputs[1], fps, stream.MATTE_CRF),
                    host.step,
                    between if self.skip_frames and self.temporal_smoothing > 0 else None,
                )
            if held.sound:
                host.step("Adding the sound")
                failed = container.add_sound(outputs[0], source)
                if failed:
                    host.warn(f"The source's sound could not be copied into the video ({failed}); it is saved without it.")
            host.step("Saving the videos")  # the last point to cancel: after it both videos are stored
            video = host.save_video(outputs[0], width, height, written, fps)
            matte = host.save_video(outputs[1], width, height, written, fps)
        return RemoveVideoBackgroundOutput(
            video=VideoField(video_name=video.video_name),
            mask=VideoField(video_name=matte.video_name),
            width=width,
            height=height,
            frame_count=written,
            fps=fps,
        )
