"""Remove Video Background's temporal stabiliser, on clips with a known matte: steady where still, no lag or ghost where moving."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from remove_background_node.video import motion, temporal
from tests.harness import clips


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


def test_blending_the_box_a_strip_at_a_time_changes_nothing(clip, monkeypatch):
    """Strips of rows keep the working maps small; every pixel is blended as in one pass over the whole box."""
    frames, masks, _ = clip

    def run() -> np.ndarray:
        state = temporal.State()
        witnessed = [(frames[i + 1], masks[i + 1]) if i % 2 == 0 and i + 1 < len(frames) else None for i in range(24)]
        return np.array([temporal.stabilise(frames[i], masks[i], state, 1.0, witnessed[i]) for i in range(24)])

    assert temporal.STRIP < frames.shape[1] // 2, "several strips to a box"
    in_strips = run()
    monkeypatch.setattr(temporal, "STRIP", 10_000)  # the whole box at once
    whole = run()
    assert (in_strips != masks[:24]).any(), "the stabiliser changed something"
    np.testing.assert_array_equal(in_strips, whole)


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


def test_a_part_found_again_with_the_witness_is_taken_at_once_and_a_part_lost_is_held():
    """The disc's lower part: missed for 12 frames, then found. With a witness that finds it too (the frame the model
    sees next), it is taken on the first frame, where without one the history holds it off for PERSIST frames; found
    in one frame only (the witness lacks it), it is held off. Lost in one frame, with the witness agreeing, it is kept
    (a hole that comes and goes)."""
    picture, truth = standing()
    missed = truth.copy()
    missed[150:] = 0
    lower = np.s_[160:185, 130:190]

    def at_frame_12(matte_at: Callable[[int], np.ndarray], witness: bool) -> float:
        state = temporal.State()
        for t in range(13):
            later = (with_sensor_noise(picture, t + 2), matte_at(t + 2)) if witness else None
            result = temporal.stabilise(with_sensor_noise(picture, t), matte_at(t), state, 1.0, later)
        return float(result[lower].mean())

    def found_from_12(t: int) -> np.ndarray:
        return missed if t < 12 else truth

    def found_at_12_only(t: int) -> np.ndarray:
        return truth if t == 12 else missed

    def lost_from_12(t: int) -> np.ndarray:
        return truth if t < 12 else missed

    assert at_frame_12(found_from_12, witness=False) < 64, "the case this test is about: the colours hold the history"
    assert at_frame_12(found_from_12, witness=True) > 240, "found again, and the witness finds it too: taken at once"
    assert at_frame_12(found_at_12_only, witness=True) < 64, "found in one frame only: held off"
    assert at_frame_12(lost_from_12, witness=True) > 192, "lost: held, though the witness lost it too"


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


def scene(seed: int, t: int, x: int, noise: float = 4.0, size: tuple[int, int] = (240, 180)) -> tuple[np.ndarray, np.ndarray]:
    """A scene (a textured square at column x over a textured background, both from the seed), its frame t with
    sensor noise of sigma ``noise`` -> (frame, true matte)."""
    rng = np.random.default_rng(seed)
    frame = texture(rng, (size[1] // 6, size[0] // 6), size)
    frame[50:130, x : x + 80] = texture(rng, (8, 8), (80, 80))
    matte = np.zeros(size[::-1], np.uint8)
    matte[50:130, x : x + 80] = 255
    noisy = frame + np.random.default_rng(200 + t).normal(0, noise, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), matte


def test_a_scene_cut_starts_the_history_again():
    """Two clips joined: in the first frame of the second, the first one's subject would otherwise stay as a ghost
    (its colours match nothing, but the noise level they are judged by jumps with the cut)."""
    rng = np.random.default_rng(0)
    state = temporal.State()
    for t in range(6):
        frame, truth = scene(1, t, 30)
        temporal.stabilise(frame, with_edge_noise(truth, rng), state, 1.0)
    frame, truth = scene(2, 6, 120)
    given = with_edge_noise(truth, rng)
    assert np.array_equal(temporal.stabilise(frame, given, state, 1.0), given), "nothing of the first scene stays"
    frame, truth = scene(2, 7, 120)
    given = with_edge_noise(truth, rng)
    assert not np.array_equal(temporal.stabilise(frame, given, state, 1.0), given), "and the new scene is steadied"


def test_heavy_sensor_noise_is_no_scene_cut():
    rng = np.random.default_rng(0)
    state = temporal.State()
    for t in range(8):
        frame, truth = scene(3, t, 80, noise=16.0)
        temporal.stabilise(frame, with_edge_noise(truth, rng), state, 1.0)
    assert state.mattes == 8, "every frame's matte averaged into one history"


def test_flows_split_into_two_shifts_only_when_they_fall_apart():
    rng = np.random.default_rng(0)
    one = rng.normal(0.3, 0.1, (4000, 2)).astype(np.float32)  # one subject's flow with DIS's noise
    assert len(motion._shifts(one, np.median(one, axis=0))) == 1
    still = rng.normal(0.0, 0.05, (1000, 2))
    panned_part = rng.normal(0.0, 0.05, (3000, 2)) + [0.5, 0.0]
    both = np.concatenate([still, panned_part]).astype(np.float32)
    two = motion._shifts(both, np.median(both, axis=0))
    assert len(two) == 2
    assert sorted(round(float(s[0]), 1) for s in two) == [0.0, 0.5]
    few = np.concatenate([still[:300], panned_part]).astype(np.float32)  # under PIECE_SHARE of it still: one shift
    assert len(motion._shifts(few, np.median(few, axis=0))) == 1


def test_a_flat_suit_moves_with_its_textured_head():
    """A subject whose lower part is one flat colour (a dark suit) moving 8 px a frame over a panning background: a
    flat area agrees in colour under any flow, so its motion comes from where the picture has texture, and every
    pixel of the subject moves by the true shift (half a flow-frame pixel would be 1 px at full size)."""
    rng = np.random.default_rng(0)
    height, width = 360, 640
    background = texture(rng, ((height + 20) // 6, (width + 40) // 6), (width + 40, height + 20))
    alpha = np.zeros((240, 200), np.float32)
    cv2.rectangle(alpha, (20, 60), (180, 239), 1.0, -1)  # shoulders, cut by the frame's bottom
    cv2.circle(alpha, (100, 50), 45, 1.0, -1)
    subject = np.full((240, 200, 3), 30.0, np.float32)
    subject[:120] = texture(rng, (40, 67), (200, 120))
    reduced = []
    for t in range(2):
        place = np.float32([[1, 0, 200 + 8 * t], [0, 1, 121]])
        a = cv2.warpAffine(alpha, place, (width, height))
        picture = cv2.warpAffine(subject, place, (width, height)) * a[..., None]
        picture += background[10:10 + height, 20 + 2 * t:20 + 2 * t + width] * (1 - a[..., None])
        reduced.append(motion.reduce(with_sensor_noise(picture, t), np.rint(a * 255).astype(np.uint8)))
    this, before = reduced[1], reduced[0]
    size = (this[0].shape[1], this[0].shape[0])
    moved, _, _ = motion.subject_motion(motion.new_flow(), this, before, motion.pixel_grid({}, size))
    scale = width / size[0]
    error = np.linalg.norm(moved[this[2] >= 128] - np.float32([-8 / scale, 0]), axis=1)
    assert error.max() <= 0.5, (error.mean(), error.max())


def test_colour_agreement_stays_a_number_where_a_box_sum_rounds_below_zero():
    """OpenCV's float box filter keeps running sums, so the mean of squared differences can come out a hair below 0
    where large differences sit beside none; its root must not be NaN (NaN in the trust would stay in the history)."""
    rng = np.random.default_rng(0)
    spikes = np.sqrt(rng.random((180, 320)).astype(np.float32) ** 8 * 100)
    spikes[rng.random(spikes.shape) < 0.5] = 0
    small, moved = np.repeat(spikes[..., None], 3, axis=2), np.zeros((180, 320, 3), np.float32)
    squares = np.mean(np.square(small - moved), axis=2)
    assert (cv2.boxFilter(squares, -1, (3, 3)) < 0).any(), "the case this test is about arises"
    assert np.isfinite(motion.colour_agreement(small, moved, 1.0)).all()


def flashing_subject(t: int, bite: bool) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a still subject over a still texture, the right half of it a screen whose colours change every frame
    (so they never agree with the frame before), and the model's matte of it, with a bite out of the screen or not."""
    rng = np.random.default_rng(5)
    frame = texture(rng, (30, 40), (160, 120))
    frame[20:100, 20:60] = texture(rng, (8, 4), (40, 80))  # the left half: a texture the flow can follow
    frame[20:100, 60:100] = np.random.default_rng(200 + t).integers(0, 255, (80, 40, 3), dtype=np.uint8)
    matte = np.zeros((120, 160), np.uint8)
    matte[20:100, 20:100] = 255
    if bite:
        matte[40:70, 70:95] = 0
    return with_sensor_noise(frame, t), matte


def test_a_witness_holds_off_a_one_frame_flicker_and_lets_a_real_change_through():
    """Where colours cannot tell (a screen whose picture changes every frame), a bite the model takes out of the
    subject for one frame gets through the history on its own; the next frame the model sees, without the bite, is
    a witness that holds it off. Where the witness has the bite too, the model changed its mind: it is followed at once."""
    def run(bitten: range, witness: bool) -> np.ndarray:
        state = temporal.State()
        for t in range(12):
            frame, matte = flashing_subject(t, t in bitten)
            later = flashing_subject(t + 3, t + 3 in bitten) if witness else None
            out = temporal.stabilise(frame, matte, state, 1.0, later)
            if t == 8:
                return out[45:65, 75:90]
        raise AssertionError("unreachable")

    assert run(range(8, 9), witness=False).max() < 64, "the case this test is about: no colour holds the history"
    assert run(range(8, 9), witness=True).min() > 192, "the witness holds the subject"
    assert run(range(8, 12), witness=True).max() < 64, "a bite the witness shows too is followed at once"
