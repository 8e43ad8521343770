"""Remove Video Background's stream: frame order, progress, cancel, bounded memory, errors, and frames between the model's."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from remove_background_node import pipeline
from remove_background_node.video import keyframes, stream, temporal
from tests.harness import clips


class Sink:
    """A video writer that keeps the frames it is given in a list (or drops them) and notes its name when closed."""

    def __init__(self, into: list[np.ndarray] | None = None, name: str = "", closed: list[str] | None = None):
        self.into, self.name, self.closed = into, name, closed

    def append_data(self, frame: np.ndarray) -> None:
        if self.into is not None:
            self.into.append(frame)

    def close(self) -> None:
        if self.closed is not None:
            self.closed.append(self.name)


def test_the_stream_keeps_frame_order_and_gives_each_frame_its_own_matte(clip, u2netp_predict):
    """At strength 0 the video node's matte of a frame is the image node's mask for that frame."""
    frames, _, _ = clip
    written: dict[str, list[np.ndarray]] = {"video": [], "matte": []}

    options = pipeline.Options(background_color=(0, 255, 0, 255))
    steps: list[str] = []
    count = stream.run(
        iter(frames[:12]), 12,
        lambda f: pipeline.subject_mask(Image.fromarray(f), u2netp_predict, options),
        lambda f, found, witness: pipeline.video_frame(f, found[0], found[1], options),
        Sink(written["video"]), Sink(written["matte"]), lambda message, fraction=None: steps.append(message),
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

    def endless():
        while True:
            yield np.zeros((8, 8, 3), np.uint8)

    def step(message: str, fraction: float | None = None) -> None:
        if message == "Frame 20 of 1000":
            raise Cancelled

    with pytest.raises(Cancelled):
        stream.run(endless(), 1000, lambda f: f[..., 0], lambda f, m, w: (f, m),
                   Sink(name="video", closed=closed), Sink(name="matte", closed=closed), step)
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

    assert stream.run(frames(400), 400, lambda f: None, lambda f, m, w: (f, f[..., 0]), Writer(), Writer(), lambda *a: None) == 400
    # the frames in flight between decoding and finishing, the encoder's queue and the one being encoded:
    # a bound that does not depend on the clip's length
    assert most[0] <= stream.IN_FLIGHT + stream.DEPTH + 2, most[0]


def test_the_heaps_are_trimmed_every_few_frames_while_a_clip_streams(monkeypatch):
    trims: list[None] = []
    monkeypatch.setattr(stream.heap, "trim", lambda: trims.append(None))
    frames = (np.zeros((4, 4, 3), np.uint8) for _ in range(2 * stream.TRIM_EVERY + 5))
    stream.run(frames, 0, lambda f: None, lambda f, m, w: (f, f[..., 0]), Sink(), Sink(), lambda *a: None)
    assert len(trims) == 2, trims  # once TRIM_EVERY frames and twice that were finished


def test_an_error_in_a_stage_reaches_the_caller():
    def broken(frame: np.ndarray):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        stream.run(iter([np.zeros((4, 4, 3), np.uint8)] * 5), 5, broken, lambda f, m, w: (f, m), Sink(), Sink(), lambda *a: None)


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), 40 * i % 256, np.uint8) for i in range(n)]


def _kill_encoders() -> int:
    """Kill the ffmpeg processes this process started itself (as the kernel would on memory pressure; not those of a
    test server's own video service, a level further down) -> how many were killed."""
    import psutil

    killed = [p for p in psutil.Process().children(recursive=False) if "ffmpeg" in p.name()]
    for p in killed:
        p.kill()
        p.wait()
    return len(killed)


def test_a_whole_mp4_is_recognised_and_one_cut_short_is_not(tmp_path):
    path = tmp_path / "whole.mp4"
    writer = stream.mp4_writer(path, 24)
    for frame in _frames(6):
        writer.append_data(frame)
    writer.close()
    assert stream.finished_mp4(path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 8):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        assert not stream.finished_mp4(tmp_path / "cut.mp4"), cut
    assert not stream.finished_mp4(tmp_path / "missing.mp4")


def test_the_matte_is_encoded_finer_than_the_composite(tmp_path, clip):
    """A known matte through each output's encoding: the matte's changes less from frame to frame than it would at the
    composite's setting (the encoder's own error is flicker in a track matte)."""
    _, _, truth = clip
    flicker = {}
    for name, crf in (("composite", stream.COMPOSITE_CRF), ("matte", stream.MATTE_CRF)):
        writer = stream.mp4_writer(tmp_path / f"{name}.mp4", 24, crf)
        for matte in truth.mattes:
            writer.append_data(matte)
        writer.close()
        flicker[name] = clips.flicker(clips.read(tmp_path / f"{name}.mp4")[..., 0], truth)
    assert flicker["matte"] < 0.75 * flicker["composite"], flicker


def test_an_encoder_that_dies_before_finishing_fails_the_run_saying_what_to_do(tmp_path):
    # imageio's close() never reads ffmpeg's exit code: without the check this run "succeeds" with a broken file
    # by the last frame's step, DEPTH + 4 frames are queued to each encoder, so each has written some: ffmpeg is running
    n = stream.DEPTH + 5
    frames, killed = _frames(n), []

    def step(message: str, fraction: float | None = None) -> None:
        if message == f"Frame {n} of {n}":
            killed.append(_kill_encoders())

    with pytest.raises(stream.EncoderError, match=r"(?s)did not finish (video|matte)\.mp4, so nothing was saved.*make room in"):
        stream.run(iter(frames), n, lambda f: f[..., 0], lambda f, m, w: (f, m),
                   stream.mp4_writer(tmp_path / "video.mp4", 24), stream.mp4_writer(tmp_path / "matte.mp4", 24), step)
    assert killed == [2]


def test_an_encoder_that_dies_mid_clip_is_said_plainly(tmp_path):
    writer = stream.mp4_writer(tmp_path / "matte.mp4", 24)
    writer.append_data(_frames(1)[0])  # ffmpeg starts with the first frame
    assert _kill_encoders() == 1
    with pytest.raises(stream.EncoderError, match="stopped while writing matte.mp4"):
        for frame in _frames(200):  # the pipe's buffer takes a few before the write fails
            writer.append_data(frame)
    with pytest.raises(stream.EncoderError, match="did not finish matte.mp4"):
        writer.close()


# skipping frames


def moving_square(t: int, size: tuple[int, int] = (160, 120)) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a textured square moving 3 px a frame over a still textured background -> (frame, true matte)."""
    rng = np.random.default_rng(1)
    # textures with coarse detail as well as fine, as photographs have (pixel noise alone is invisible to the
    # coarse levels of a flow pyramid)
    background = cv2.resize(rng.integers(0, 255, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
    pattern = cv2.resize(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8), (40, 40), interpolation=cv2.INTER_CUBIC)
    frame, matte = background.copy(), np.zeros(size[::-1], np.uint8)
    x = 20 + 3 * t
    frame[40:80, x : x + 40] = pattern
    matte[40:80, x : x + 40] = 255
    return frame, matte


@pytest.mark.parametrize("ahead", [1, 2])
def test_a_frame_between_two_gets_their_mattes_moved_along_with_the_subject(ahead: int):
    between = keyframes.Between()
    (f0, m0), (f1, m1), (f2, m2) = (moving_square(t) for t in (4, 5, 5 + ahead))
    found = between((f0, m0), f1, (f2, m2), ahead)
    assert found is not None
    assert np.abs(found.astype(int) - m1).mean() < 0.1 * np.abs(m0.astype(int) - m1).mean(), "moved, not averaged in place"


def test_the_nearer_neighbour_weighs_more():
    """Where the two moved mattes differ, the result lies nearer the matte of the nearer frame."""
    between = keyframes.Between()
    (f0, m0), (f1, _), (f2, m2) = (moving_square(t) for t in (4, 5, 7))
    m2 = m2.copy()
    m2[40:80, 62:81] = 150  # the far frame says the square's right half is only partly subject (too little to disagree)
    found = between((f0, m0), f1, (f2, m2), 2)
    assert found is not None
    part = found[45:75, 58:72].astype(int)  # where that half lands on frame 5 (moved 6 px left)
    assert np.abs(part - 220).max() <= 3, "two thirds the near frame's 255, one third the far one's 150"


def test_a_frame_between_two_that_disagree_goes_to_the_model():
    between = keyframes.Between()
    (f0, m0), (f1, _), (f2, m2) = (moving_square(t) for t in (4, 5, 6))
    m2 = m2.copy()
    m2[10:110, 100:150] = 255  # the frame after has a large part the frame before lacks
    assert between((f0, m0), f1, (f2, m2)) is None


def test_a_frame_next_to_a_scene_cut_goes_to_the_model():
    """The frame before is of another shot: the same subject in the same place before another background. The moved
    mattes agree, yet the model sees the frame."""
    between = keyframes.Between()
    (f0, m0), (f1, _), (f2, m2) = (moving_square(t) for t in (5, 5, 5))
    other = np.where(m0[..., None] > 0, f0, np.uint8(128))
    found = between((f0, m0), f1, (f2, m2))
    assert found is not None and np.abs(found.astype(int) - m0).max() <= 1, "one shot: the mattes, moved"
    assert between((other, m0), f1, (f2, m2)) is None


def test_skipping_frames_runs_the_model_on_every_stride_th_frame_in_order():
    """The model sees frames 0, STRIDE, 2 x STRIDE ...; a frame between goes to it too when ``between`` declines, or
    when the clip ends before the next frame the model sees. A frame the model saw is finished with the next one it
    sees as its witness (none at the clip's end); a frame moved from its neighbours has none."""
    seen: list[int] = []
    finished: list[int] = []
    witnessed: dict[int, int | None] = {}
    declined = keyframes.STRIDE + 1

    def model(frame: np.ndarray) -> int:
        seen.append(int(frame[0, 0, 0]))
        return int(frame[0, 0, 0])

    def between(before, frame, after, ahead):  # type: ignore[no-untyped-def]
        index = int(frame[0, 0, 0])
        assert before[1] == index - 1 and after[1] == keyframes.next_seen(index) == index + ahead
        return None if index == declined else index

    def finish(frame: np.ndarray, found: int, witness: tuple[np.ndarray, int] | None) -> tuple[np.ndarray, np.ndarray]:
        assert found == int(frame[0, 0, 0])
        finished.append(found)
        witnessed[found] = None if witness is None else witness[1]
        assert witness is None or int(witness[0][0, 0, 0]) == witness[1]
        return frame, frame[..., 0]

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(12)]
    assert stream.run(iter(frames), 12, model, finish, Sink(), Sink(), lambda *a: None, between) == 12
    assert finished == list(range(12))
    stride = list(range(0, 12, keyframes.STRIDE))
    ending = [i for i in range(12) if keyframes.next_seen(i) >= 12 and i not in stride]
    assert sorted(seen) == sorted(stride + [declined] + ending), "every STRIDE-th, the one declined, the last ones"
    assert keyframes.STRIDE > 1 and ending
    later = {i: keyframes.next_seen(i) if keyframes.next_seen(i) < 12 else None for i in seen}
    assert witnessed == {i: later.get(i) for i in range(12)}, "the next frame the model sees, for a frame it saw"


def test_skipping_frames_keeps_the_error_and_the_steadiness(clip, u2netp_predict):
    """On the clip, with the model on about half the frames, the steadied matte is as right and as steady as with
    every frame through the model."""
    frames, masks, truth = clip
    frames = list(frames)  # the very arrays go through the stream, so the model can tell which frame it is given
    calls = [0]
    state, between = temporal.State(), keyframes.Between()

    def model(frame: np.ndarray) -> np.ndarray:
        calls[0] += 1
        index = next(i for i, f in enumerate(frames) if f is frame)
        return masks[index]  # the model's mask of that frame, computed once for the module

    out: list[np.ndarray] = []

    stream.run(iter(frames), len(frames), model, lambda f, m, w: (f, temporal.stabilise(f, m, state, 1.0, w)),
               Sink(), Sink(out), lambda *a: None, between)
    steady = np.array(out)
    assert len(steady) == len(frames)
    assert calls[0] <= 0.6 * len(frames), calls[0]
    assert clips.error(steady, truth) <= 1.05 * clips.error(masks, truth)
    assert clips.flicker(steady, truth) <= 0.5 * clips.flicker(masks, truth)


def test_no_more_than_predictors_model_runs_at_once_even_for_skipped_frames(monkeypatch):
    """A skipped frame whose neighbours disagree goes to the model from the in-order thread; it waits for a free
    slot, so the model never runs more than PREDICTORS frames at once (onnxruntime keeps memory for each).
    With room for more frames in flight than the stream has, the in-order thread sends skipped frame 1 to the model
    only once a model thread is mid-run on the third frame it sees; that run waits until the in-order thread enters
    the model too, which only a missing slot lets it do, or for a while, which is how long it takes a correct
    stream to show it waited."""
    monkeypatch.setattr(stream, "IN_FLIGHT", 4 * keyframes.STRIDE)
    lock, running, most = threading.Lock(), [0], [0]
    mid_run, declined, entered, contended = threading.Event(), threading.Event(), threading.Event(), [False]
    third = 2 * keyframes.STRIDE

    def model(frame: np.ndarray) -> int:
        index = int(frame[0, 0, 0])
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if threading.current_thread() is threading.main_thread():
            entered.set()
        elif index == third:
            mid_run.set()
            assert declined.wait(120), "the in-order thread reached skipped frame 1"
            contended[0] = True
            entered.wait(2)  # set only if the in-order thread got into the model beside this run
        with lock:
            running[0] -= 1
        return 0

    def between(before, frame, after, ahead):
        mid_run.wait(120)  # the model thread is in its run of the third frame it sees, holding a slot
        declined.set()
        return None  # the neighbours always disagree

    frames = (np.full((4, 4, 3), i, np.uint8) for i in range(60))
    written = stream.run(frames, 60, model, lambda f, m, w: (f, f[..., 0]), Sink(), Sink(), lambda *a: None, between)
    assert contended[0], "a model thread was mid-run when the in-order thread needed the model"
    assert written == 60 and most[0] <= stream.PREDICTORS, most[0]


def test_progress_never_shows_a_frame_past_the_total_when_the_estimate_was_short():
    """The total is the duration times the rate; a variable-rate clip can decode to more frames than that."""
    steps: list[tuple[str, float]] = []
    frames = [np.full((8, 8, 3), t, np.uint8) for t in range(12)]
    count = stream.run(
        iter(frames), 10, lambda f: (np.zeros(f.shape[:2], np.uint8), False), lambda f, found, witness: (f, found[0]),
        Sink(), Sink(), lambda message, fraction=None: steps.append((message, fraction)),
    )
    assert count == 12
    assert [m for m, _ in steps] == [f"Frame {i} of 10" for i in range(1, 11)] + ["Frame 11 of 11", "Frame 12 of 12"]
    assert all(0 < f <= 1.0 for _, f in steps)
