"""Remove Video Background through a real headless InvokeAI: an uploaded MP4 in, two MP4s out, a steady matte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.harness import clips

pytestmark = pytest.mark.invokeai("6.14.0", feature="videos")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, clips.Truth]:
    path = tmp_path_factory.mktemp("clip") / "subject.mp4"
    return path, clips.write(clips.Clip(width=640, height=360, frames=48, fps=24.0), path)


@pytest.fixture(scope="module")
def runs(server, clip, tmp_path_factory):
    """The node on the clip with u2netp, at its default smoothing and at 0: the finished items' outputs."""
    name = server.upload_video(clip[0])
    folder = tmp_path_factory.mktemp("videos")
    done = {}
    for label, fields in (("default", {}), ("per-frame", {"temporal_smoothing": 0})):
        item = server.run({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp", **fields}})
        assert item["status"] == "completed", item.get("error_traceback")
        out = server.output(item, "rv")
        done[label] = out, clips.read(server.video_file(out["video"]["video_name"], folder)), clips.read(
            server.video_file(out["mask"]["video_name"], folder))
    return done


def test_pictures_and_videos_share_one_session_in_invokeais_model_cache(server, tmp_path):
    """The video node's model is the pictures' session: one graph running both has one entry for u2netp in InvokeAI's
    model cache (whose stats cover the last graph run)."""
    from PIL import Image

    clips.write(clips.Clip(width=160, height=90, frames=6, fps=24.0), tmp_path / "short.mp4")
    video = server.upload_video(tmp_path / "short.mp4")
    # a picture no other test uses, so the pack's mask cache cannot answer for the model
    image = server.upload(Image.fromarray(np.random.default_rng(1414).integers(0, 256, (48, 64, 3), dtype=np.uint8)))
    item = server.run({"rb": {"type": "remove_background", "image": {"image_name": image}, "model": "u2netp"},
                       "rv": {"type": "remove_background_video", "video": {"video_name": video}, "model": "u2netp"}})
    assert item["status"] == "completed", item.get("error_traceback")
    stats = server.http.get(server.url + "/api/v2/models/stats", timeout=30).json()
    assert stats["hits"] + stats["misses"] >= 2, stats  # both nodes loaded the model in this graph
    assert len([key for key in stats["loaded_model_sizes"] if "u2netp.onnx" in key]) == 1, stats


def test_both_videos_keep_the_size_frame_rate_and_frame_count(runs):
    for out, video, matte in runs.values():
        assert (out["width"], out["height"], out["frame_count"], out["fps"]) == (640, 360, 48, 24.0)
        assert video.shape == matte.shape == (48, 360, 640, 3)
        assert (matte[..., 0] == matte[..., 1]).all() and (matte[..., 1] == matte[..., 2]).all(), "a grey matte"


def test_the_composite_is_the_subject_over_green(runs, clip):
    _, video, matte = runs["default"]
    background = matte[..., 0] < 5
    assert background.mean() > 0.3
    green = video[background].astype(int)
    assert np.median(green[:, 1]) > 200 and np.median(green[:, 0]) < 60 and np.median(green[:, 2]) < 60


def test_the_default_matte_is_as_right_and_at_least_twice_as_steady_as_frame_by_frame(runs, clip):
    _, truth = clip
    steady, per_frame = runs["default"][2][..., 0], runs["per-frame"][2][..., 0]
    e_steady, e_frame = clips.error(steady, truth), clips.error(per_frame, truth)
    f_steady, f_frame = clips.flicker(steady, truth), clips.flicker(per_frame, truth)
    print(f"error {e_frame:.2f} -> {e_steady:.2f}, flicker {f_frame:.3f} -> {f_steady:.3f}")
    assert e_steady <= 1.05 * e_frame
    assert f_steady <= 0.5 * f_frame


def test_cancelling_mid_clip_stores_no_video_and_the_next_item_runs(server, clip):
    videos = server.root / "outputs" / "videos"
    before = set(videos.rglob("*.mp4")) if videos.exists() else set()
    name = server.upload_video(clip[0])
    after_upload = set(videos.rglob("*.mp4"))
    with server.events() as events:
        r = server.enqueue({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp"}})
        item_id = server.item_id(r)
        events.wait_for(lambda n, d: n == "invocation_progress" and d.get("item_id") == item_id
                        and d["message"].startswith("Frame 5 of"))
        server.cancel(item_id)
        assert server.wait(item_id)["status"] == "canceled"
    assert set(videos.rglob("*.mp4")) == after_upload and len(after_upload - before) == 1, "nothing but the upload"
    follow = server.run({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp",
                                "temporal_smoothing": 0}})
    assert follow["status"] == "completed", follow.get("error_traceback")


def test_an_odd_sized_video_is_refused_with_what_to_do_and_stores_nothing(server, tmp_path):
    """H.264 in yuv420p (what InvokeAI and players use) cannot hold an odd width or height at the same size: the node
    says so before any work, and no half video reaches the gallery."""
    import imageio.v2 as iio2

    path = tmp_path / "odd.mp4"
    writer = iio2.get_writer(str(path), format="FFMPEG", mode="I", fps=24, codec="libx264", macro_block_size=1,
                             pixelformat="yuv444p")  # 4:4:4 holds any size
    for _ in range(6):
        writer.append_data(np.full((91, 161, 3), 128, np.uint8))
    writer.close()
    name = server.upload_video(path)
    videos = server.root / "outputs" / "videos"
    stored = set(videos.rglob("*.mp4"))
    item = server.run({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp"}})
    assert item["status"] == "failed"
    assert "161x91" in item["error_message"] and "even width and height" in item["error_message"], item["error_message"]
    assert set(videos.rglob("*.mp4")) == stored


def test_a_video_deleted_from_the_gallery_fails_with_what_to_do(server, tmp_path):
    """Deleting a video from the gallery removes its record: InvokeAI then raises its own bare exception, which the
    node turns into words a person can act on."""
    path = tmp_path / "gone.mp4"
    clips.write(clips.Clip(width=64, height=48, frames=4), path)
    name = server.upload_video(path)
    assert server.http.delete(f"{server.url}/api/v1/videos/i/{name}", timeout=60).ok
    item = server.run({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp"}})
    assert item["status"] == "failed"
    assert "not in InvokeAI's gallery" in item["error_message"] and "Connect an existing video" in item["error_message"], (
        item["error_type"], item["error_message"])


def test_a_phones_clip_keeps_its_length_and_its_sound(server, tmp_path):
    """A variable frame rate and an AAC track, as phones record: InvokeAI's decoder hands the frames out at the clip's
    base rate, repeating some, and the outputs are written at that rate, so they last as long as the clip; the
    composite carries the clip's sound, the matte (a track matte) none."""
    from remove_background_node.video import container

    uneven = clips.PHONE_TIMING
    clips.write_phone_like(clips.Clip(width=160, height=90, frames=len(uneven)), tmp_path / "phone.mp4")
    name = server.upload_video(tmp_path / "phone.mp4")
    item = server.run({"rv": {"type": "remove_background_video", "video": {"video_name": name}, "model": "u2netp"}})
    assert item["status"] == "completed", item.get("error_traceback")
    out = server.output(item, "rv")
    video, matte = (server.video_file(out[key]["video_name"], tmp_path) for key in ("video", "mask"))
    decoded = clips.read(video)
    assert len(decoded) == len(clips.read(matte)) == out["frame_count"]
    print(f"{out['frame_count']} frames at {out['fps']} fps: {out['frame_count'] / out['fps']:.3f} s, the clip {sum(uneven):.3f} s")
    assert abs(out["frame_count"] / out["fps"] - sum(uneven)) <= 2 / out["fps"]
    assert container.read(video) == container.Source(out["fps"], True)
    assert container.read(matte) == container.Source(out["fps"], False)
