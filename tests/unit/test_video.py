"""Remove Video Background's parts: the temporal stabiliser on clips with a known matte, and the stream."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog, inference, pipeline
from remove_background_node.sessions import create_rembg_session
from remove_background_node.video import stream, temporal
from tests.harness import clips


@pytest.fixture(scope="module")
def u2netp_predict(u2netp_file):
    return inference.predictor(create_rembg_session(catalog.get("u2netp"), u2netp_file, ["CPUExecutionProvider"]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, u2netp_predict):
    """A 48-frame 640x360 clip (as H.264 decodes it), its truth, and u2netp's mask of every frame."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    truth = clips.write(clips.Clip(frames=48, seed=7, noise=6.0), path)
    frames = clips.read(path)
    masks = np.array([pipeline.subject_mask(Image.fromarray(f), u2netp_predict)[0] for f in frames])
    return frames, masks, truth


def steadied(frames: np.ndarray, masks: np.ndarray, strength: float) -> np.ndarray:
    state = temporal.State()
    return np.array([temporal.stabilise(f, m, state, strength) for f, m in zip(frames, masks)])


def test_strength_0_is_each_frames_own_matte(clip):
    frames, masks, _ = clip
    state = temporal.State()
    assert all(temporal.stabilise(f, m, state, 0.0) is m for f, m in zip(frames[:5], masks[:5]))


def test_full_strength_halves_the_flicker_and_keeps_the_error(clip):
    frames, masks, truth = clip
    out = steadied(frames, masks, 1.0)
    assert clips.error(out, truth) <= 1.05 * clips.error(masks, truth)
    assert clips.flicker(out, truth) <= 0.5 * clips.flicker(masks, truth)
    weaker = steadied(frames, masks, 0.5)
    assert clips.flicker(out, truth) < clips.flicker(weaker, truth) < clips.flicker(masks, truth), "strength is a dial"


def test_something_that_appears_is_followed_at_once_and_leaves_no_ghost():
    """A second blob shows up in frame 6 and is gone from frame 12: the matte has it (and then lacks it) at once."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    state, seen = temporal.State(), []
    for t in range(18):
        frame, matte = background.copy(), np.zeros((120, 160), np.uint8)
        frame[30:90, 20:60] = (250, 40, 40)  # a still subject
        matte[30:90, 20:60] = 255
        if 6 <= t < 12:
            frame[40:80, 100:140] = (40, 40, 250)
            matte[40:80, 100:140] = 255
        seen.append(temporal.stabilise(frame, matte, state, 1.0))
    assert (seen[6][45:75, 105:135] == 255).all(), "it appears in its first frame"
    assert not seen[12][40:80, 100:140].any(), "and is gone when it is gone"
    assert (seen[17][30:90, 20:60] == 255).all()


def test_the_stream_keeps_frame_order_and_gives_each_frame_its_own_matte(clip, u2netp_predict):
    """At strength 0 the video node's matte of a frame is the image node's mask for that frame."""
    frames, _, _ = clip
    written: dict[str, list[np.ndarray]] = {"video": [], "matte": []}

    class Collect:
        def __init__(self, name: str):
            self.name = name

        def append_data(self, frame: np.ndarray) -> None:
            written[self.name].append(frame)

        def close(self) -> None:
            pass

    options = pipeline.Options(background_color=(0, 255, 0, 255))
    steps: list[str] = []
    count = stream.run(
        iter(frames[:12]), 12,
        lambda f: pipeline.subject_mask(Image.fromarray(f), u2netp_predict, options),
        lambda f, found: pipeline.video_frame(f, found[0], found[1], options),
        Collect("video"), Collect("matte"), lambda message, fraction=None: steps.append(message),
    )
    assert count == 12 and steps == [f"Frame {i} of 12" for i in range(1, 13)]
    for frame, matte in zip(frames[:12], written["matte"]):
        np.testing.assert_array_equal(matte, np.asarray(pipeline.remove_background(Image.fromarray(frame), u2netp_predict).mask))
    assert written["video"][0].shape == frames[0].shape


class Cancelled(Exception):
    pass


def test_a_cancel_stops_every_stage_and_closes_both_writers():
    closed: list[str] = []
    alive_before = {t.ident for t in threading.enumerate()}

    class Writer:
        def __init__(self, name: str):
            self.name = name

        def append_data(self, frame: np.ndarray) -> None:
            pass

        def close(self) -> None:
            closed.append(self.name)

    def endless():
        while True:
            yield np.zeros((8, 8, 3), np.uint8)

    def step(message: str, fraction: float | None = None) -> None:
        if message == "Frame 20 of 1000":
            raise Cancelled

    with pytest.raises(Cancelled):
        stream.run(endless(), 1000, lambda f: f[..., 0], lambda f, m: (f, m), Writer("video"), Writer("matte"), step)
    assert sorted(closed) == ["matte", "video"]
    assert {t.ident for t in threading.enumerate()} <= alive_before, "no stage thread is left"


def test_memory_holds_a_few_frames_however_long_the_clip():
    alive, most = [0], [0]
    lock = threading.Lock()

    def frames(n: int):
        for _ in range(n):
            with lock:
                alive[0] += 1
                most[0] = max(most[0], alive[0])
            yield np.zeros((4, 4, 3), np.uint8)

    class Writer:
        def append_data(self, frame: np.ndarray) -> None:
            with lock:
                alive[0] -= 1 if frame.ndim == 3 else 0

        def close(self) -> None:
            pass

    assert stream.run(frames(400), 400, lambda f: None, lambda f, m: (f, f[..., 0]), Writer(), Writer(), lambda *a: None) == 400
    # the frames in flight between decoding and finishing, the encoder's queue and the one being encoded:
    # a bound that does not depend on the clip's length
    assert most[0] <= stream.IN_FLIGHT + stream.DEPTH + 2, most[0]


def test_an_error_in_a_stage_reaches_the_caller():
    def broken(frame: np.ndarray):
        raise RuntimeError("model failed")

    class Writer:
        def append_data(self, frame: np.ndarray) -> None:
            pass

        def close(self) -> None:
            pass

    with pytest.raises(RuntimeError, match="model failed"):
        stream.run(iter([np.zeros((4, 4, 3), np.uint8)] * 5), 5, broken, lambda f, m: (f, m), Writer(), Writer(), lambda *a: None)
