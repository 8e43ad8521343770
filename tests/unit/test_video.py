"""Remove Video Background's parts: the temporal stabiliser on clips with a known matte, and the stream."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog, inference, pipeline
from remove_background_node.sessions import create_rembg_session
from remove_background_node.video import keyframes, stream, temporal
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


def texture(rng: np.random.Generator, cells: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """A random generator, (rows, columns) of random colours and a (width, height) -> HxWx3 uint8 of those colours
    enlarged bilinearly: a smooth texture optical flow can follow."""
    return cv2.resize(rng.integers(0, 255, (*cells, 3), dtype=np.uint8), size, interpolation=cv2.INTER_LINEAR)


def with_sensor_noise(frame: np.ndarray, t: int) -> np.ndarray:
    """Frame t (uint8) -> it with sensor noise (sigma 4, the same for a given t), uint8."""
    return np.clip(frame + np.random.default_rng(100 + t).normal(0, 4, frame.shape), 0, 255).astype(np.uint8)


def with_edge_noise(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A true matte and a random generator -> the matte with a model's edge noise (sigma 25 on its 3x3 edge)."""
    edge = cv2.dilate(truth, np.ones((3, 3), np.uint8)) != cv2.erode(truth, np.ones((3, 3), np.uint8))
    return np.clip(truth + rng.normal(0, 25, truth.shape) * edge, 0, 255).astype(np.uint8)


def zooming(t: int, size: tuple[int, int] = (240, 180)) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a textured disc growing 3 % a frame over a still textured background -> (frame, true matte)."""
    rng = np.random.default_rng(3)
    background = texture(rng, (45, 60), size)
    pattern = texture(rng, (12, 12), (200, 200))
    ys, xs = np.mgrid[0:200, 0:200]
    disc = np.clip(80.0 - np.hypot(xs - 100, ys - 100), 0, 1).astype(np.float32)
    scale = 0.5 * 1.03**t
    place = np.float32([[scale, 0, size[0] / 2 - 100 * scale], [0, scale, size[1] / 2 - 100 * scale]])
    alpha, colour = cv2.warpAffine(disc, place, size), cv2.warpAffine(pattern.astype(np.float32), place, size)
    frame = np.clip(colour * alpha[..., None] + background * (1 - alpha[..., None]), 0, 255).astype(np.uint8)
    return frame, np.rint(alpha * 255).astype(np.uint8)


def test_a_subject_that_grows_is_followed_without_lag():
    """A zoom is no shift: a stabiliser that only shifts the history leaves the old, smaller edge behind (about ten
    times the error of the noisy mattes it is given); moved as a scaled piece, the history keeps up."""
    rng = np.random.default_rng(0)
    state, given, steady = temporal.State(), [], []
    for t in range(24):
        frame, truth = zooming(t)
        noisy = with_edge_noise(truth, rng)
        given.append(np.abs(noisy.astype(float) - truth).mean())
        steady.append(np.abs(temporal.stabilise(frame, noisy, state, 1.0).astype(float) - truth).mean())
    assert np.mean(steady) <= 1.1 * np.mean(given), (np.mean(steady), np.mean(given))


def passing(t: int, size: tuple[int, int] = (240, 180)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame t of a textured disc moving 3 px a frame past a still textured box that the model also takes for a
    subject (one blob with it), over a textured background, with sensor noise -> (frame, true matte, the disc)."""
    rng = np.random.default_rng(5)
    w, h = size
    frame = texture(rng, (h // 6, w // 6), size)
    matte = np.zeros((h, w), np.uint8)
    frame[100:170, 20:220] = texture(rng, (7, 20), (200, 70))
    matte[100:170, 20:220] = 255
    cx = 50 + 3 * t
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (cx, 75), 30, 255, -1)
    patch = np.zeros_like(frame)
    patch[45:106, cx - 30 : cx + 31] = texture(rng, (6, 6), (61, 61))
    frame = np.where(disc[..., None] > 0, patch, frame)
    return with_sensor_noise(frame, t), np.maximum(matte, disc), disc


def test_a_subject_moving_past_another_blob_leaves_no_trail():
    """What the moving disc uncovers is background in every matte the stabiliser is given; it must not keep a
    fading copy of the disc there (a trust that stayed near 1 for small disagreements left one at about 25)."""
    rng = np.random.default_rng(0)
    state, trail = temporal.State(), []
    for t in range(30):
        frame, truth, _ = passing(t)
        steady = temporal.stabilise(frame, with_edge_noise(truth, rng), state, 1.0)
        uncovered = (truth == 0) & (passing(max(t - 3, 0))[2] > 0)  # background the disc left in the last 3 frames
        if t >= 5:
            trail.append(steady[uncovered].mean())
    assert max(trail) <= 15, max(trail)


def standing(size: tuple[int, int] = (320, 240)) -> tuple[np.ndarray, np.ndarray]:
    """A still textured disc over a textured background -> (picture without noise, true matte)."""
    rng = np.random.default_rng(11)
    w, h = size
    picture = texture(rng, (h // 6, w // 6), size)
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (160, 120), 70, 255, -1)
    patch = texture(rng, (h // 8, w // 8), size)
    return np.where(disc[..., None] > 0, patch, picture), disc


def test_a_part_the_model_finds_late_is_taken_within_a_few_frames():
    """The model misses the disc's lower part for 12 frames while it stands still, then finds it. The colours still
    match, so the history alone would keep the old matte for about 14 frames more (error 3.5 over frames 16-23);
    once the model has said otherwise PERSIST frames in a row, it is followed (0.16)."""
    picture, truth = standing()
    missed = truth.copy()
    missed[150:] = 0
    rng = np.random.default_rng(0)
    state, late = temporal.State(), []
    for t in range(24):
        result = temporal.stabilise(with_sensor_noise(picture, t), with_edge_noise(missed if t < 12 else truth, rng), state, 1.0)
        if t >= 16:
            late.append(np.abs(result.astype(float) - truth).mean())
    assert np.mean(late) <= 1.0, np.mean(late)


def panned(t: int, size: tuple[int, int] = (640, 360)) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a still textured disc beside a textured box the camera pans 1 px a frame with the background (the
    model takes both for subjects: one blob), with sensor noise -> (frame, true matte). At flow size the two motions
    are half a pixel apart, within one shift's tolerance."""
    rng = np.random.default_rng(7)
    w, h = size
    world = texture(rng, (h // 8, (w + 64) // 8), (w + 64, h))
    world[180:330, 60:560] = texture(rng, (10, 30), (500, 150))
    box = np.zeros((h, w + 64), np.uint8)
    box[180:330, 60:560] = 255
    frame, matte = world[:, t : t + w], box[:, t : t + w]
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (300, 110), 80, 255, -1)
    patch = texture(rng, (h // 8, w // 8), (w, h))
    frame = np.where(disc[..., None] > 0, patch, frame)
    return with_sensor_noise(frame, t), np.maximum(matte, disc)


def test_a_still_subject_beside_a_panned_object_keeps_both_edges():
    """Moved as one shift, the history of one of the two lags half a flow pixel a frame behind it (1.8x the error of
    the noisy mattes given); as two shifts, each part keeps its own place."""
    rng = np.random.default_rng(0)
    state, given, steady = temporal.State(), [], []
    for t in range(30):
        frame, truth = panned(t)
        noisy = with_edge_noise(truth, rng)
        result = temporal.stabilise(frame, noisy, state, 1.0)
        if t >= 5:
            given.append(np.abs(noisy.astype(float) - truth).mean())
            steady.append(np.abs(result.astype(float) - truth).mean())
    assert np.mean(steady) <= 1.2 * np.mean(given), (np.mean(steady), np.mean(given))


def test_flows_split_into_two_shifts_only_when_they_fall_apart():
    rng = np.random.default_rng(0)
    one = rng.normal(0.3, 0.1, (4000, 2)).astype(np.float32)  # one subject's flow with DIS's noise
    assert len(temporal._shifts(one, np.median(one, axis=0))) == 1
    still = rng.normal(0.0, 0.05, (1000, 2))
    panned_part = rng.normal(0.0, 0.05, (3000, 2)) + [0.5, 0.0]
    both = np.concatenate([still, panned_part]).astype(np.float32)
    two = temporal._shifts(both, np.median(both, axis=0))
    assert len(two) == 2
    assert sorted(round(float(s[0]), 1) for s in two) == [0.0, 0.5]
    few = np.concatenate([still[:300], panned_part]).astype(np.float32)  # under PIECE_SHARE of it still: one shift
    assert len(temporal._shifts(few, np.median(few, axis=0))) == 1


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


def test_skipping_frames_runs_the_model_on_every_stride_th_frame_in_order():
    """The model sees frames 0, STRIDE, 2 x STRIDE ...; a frame between goes to it too when ``between`` declines, or
    when the clip ends before the next frame the model sees."""
    seen: list[int] = []
    finished: list[int] = []
    declined = keyframes.STRIDE + 1

    def model(frame: np.ndarray) -> int:
        seen.append(int(frame[0, 0, 0]))
        return int(frame[0, 0, 0])

    def between(before, frame, after, ahead):  # type: ignore[no-untyped-def]
        index = int(frame[0, 0, 0])
        assert before[1] == index - 1 and after[1] == keyframes.next_seen(index) == index + ahead
        return None if index == declined else index

    def finish(frame: np.ndarray, found: int) -> tuple[np.ndarray, np.ndarray]:
        assert found == int(frame[0, 0, 0])
        finished.append(found)
        return frame, frame[..., 0]

    class Writer:
        def append_data(self, frame: np.ndarray) -> None:
            pass

        def close(self) -> None:
            pass

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(12)]
    assert stream.run(iter(frames), 12, model, finish, Writer(), Writer(), lambda *a: None, between) == 12
    assert finished == list(range(12))
    stride = list(range(0, 12, keyframes.STRIDE))
    ending = [i for i in range(12) if keyframes.next_seen(i) >= 12 and i not in stride]
    assert sorted(seen) == sorted(stride + [declined] + ending), "every STRIDE-th, the one declined, the last ones"
    assert keyframes.STRIDE > 1 and ending


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

    class Collect:
        def __init__(self, into: list[np.ndarray] | None = None):
            self.into = into

        def append_data(self, picture: np.ndarray) -> None:
            if self.into is not None:
                self.into.append(picture)

        def close(self) -> None:
            pass

    stream.run(iter(frames), len(frames), model, lambda f, m: (f, temporal.stabilise(f, m, state, 1.0)),
               Collect(), Collect(out), lambda *a: None, between)
    steady = np.array(out)
    assert len(steady) == len(frames)
    assert calls[0] <= 0.6 * len(frames), calls[0]
    assert clips.error(steady, truth) <= 1.05 * clips.error(masks, truth)
    assert clips.flicker(steady, truth) <= 0.5 * clips.flicker(masks, truth)


def test_no_more_than_predictors_model_runs_at_once_even_for_skipped_frames():
    """A skipped frame whose neighbours disagree goes to the model from the in-order thread; it waits for a free
    slot, so the model never runs more than PREDICTORS frames at once (onnxruntime keeps memory for each)."""
    lock, running, most = threading.Lock(), [0], [0]
    rng = np.random.default_rng(0)
    work = rng.random((160, 160))

    def model(frame: np.ndarray) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        for _ in range(20):  # some real work, so runs overlap as they would in the model
            np.linalg.inv(work + np.eye(160))
        with lock:
            running[0] -= 1
        return 0

    class Writer:
        def append_data(self, frame: np.ndarray) -> None:
            pass

        def close(self) -> None:
            pass

    frames = (np.zeros((4, 4, 3), np.uint8) for _ in range(60))
    written = stream.run(frames, 60, model, lambda f, m: (f, f[..., 0]), Writer(), Writer(), lambda *a: None,
                         lambda before, frame, after, ahead: None)  # the neighbours always disagree
    assert written == 60 and most[0] <= stream.PREDICTORS, most[0]
