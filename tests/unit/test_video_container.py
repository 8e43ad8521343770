"""The source MP4 around the frames (video.container): the rate InvokeAI's decoder hands a variable-rate clip's frames
out at, and the source's sound copied into the composite. Real MP4s written by ffmpeg, decoded by imageio's ffmpeg
reader as InvokeAI's decoder does."""

from __future__ import annotations

import subprocess

import imageio.v3 as iio
import numpy as np
import pytest

from remove_background_node.video import container, stream
from tests.harness import clips

UNEVEN = clips.PHONE_TIMING


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("phone") / "phone.mp4"
    clips.write_phone_like(clips.Clip(width=160, height=90, frames=len(UNEVEN)), path)
    return path


def test_a_variable_rate_clip_decodes_at_its_base_rate_and_so_keeps_its_length(phone_clip):
    held = container.read(phone_clip)
    meta = iio.immeta(phone_clip, plugin="FFMPEG")
    decoded = sum(1 for _ in iio.imiter(phone_clip, plugin="FFMPEG"))
    assert held.sound and held.rate is not None
    assert abs(meta["fps"] - held.rate) > 1.0, "the average rate differs from the base rate: a variable-rate clip"
    print(f"{decoded} frames decoded; at the base rate {held.rate} {decoded / held.rate:.3f} s, at the average "
          f"{meta['fps']} {decoded / meta['fps']:.3f} s, the clip {sum(UNEVEN):.3f} s")
    assert abs(decoded / held.rate - sum(UNEVEN)) <= 2 / held.rate
    assert abs(decoded / meta["fps"] - sum(UNEVEN)) > 2 / held.rate, "the average rate would not keep its length"


def test_an_even_clip_reads_its_own_rate_and_no_sound(tmp_path):
    clips.write(clips.Clip(width=64, height=48, frames=6, fps=29.97), tmp_path / "even.mp4")
    assert container.read(tmp_path / "even.mp4") == container.Source(29.97, False)


def test_the_sound_is_copied_into_the_composite_and_its_frames_stay_as_they_were(phone_clip, tmp_path):
    composite = tmp_path / "video.mp4"
    writer = stream.mp4_writer(composite, 30.0)
    for t in range(20):
        writer.append_data(np.full((90, 160, 3), (t * 12, 255 - t * 12, 60), np.uint8))
    writer.close()
    before = iio.imread(composite, plugin="FFMPEG")
    assert not container.read(composite).sound
    assert container.add_sound(composite, phone_clip) is None
    assert container.read(composite).sound and stream.finished_mp4(composite)
    assert np.array_equal(iio.imread(composite, plugin="FFMPEG"), before)
    assert [p.name for p in tmp_path.iterdir()] == ["video.mp4"], "no file left beside it"


def test_a_source_without_sound_leaves_the_video_as_it_was_and_says_why(tmp_path):
    clips.write(clips.Clip(width=64, height=48, frames=4), tmp_path / "silent.mp4")
    clips.write(clips.Clip(width=64, height=48, frames=4, seed=1), tmp_path / "video.mp4")
    before = (tmp_path / "video.mp4").read_bytes()
    said = container.add_sound(tmp_path / "video.mp4", tmp_path / "silent.mp4")
    assert said and (tmp_path / "video.mp4").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4", "video.mp4"]


def test_ffmpeg_describes_a_file_on_stderr_as_parse_expects(phone_clip):
    described = subprocess.run([container.ffmpeg(), "-hide_banner", "-i", str(phone_clip)], capture_output=True, text=True)
    assert "Video:" in described.stderr and "tbr" in described.stderr and "Audio:" in described.stderr


def test_a_23_976_fps_clip_is_written_back_at_its_own_rate_and_keeps_its_length(tmp_path):
    """ffmpeg prints 24000/1001 as 23.98: written at 23.98 a minute of video comes out 10 ms short of its sound."""
    frames = 1440  # a minute: 60.06 s at 24000/1001, 60.05 s at 23.98
    clips.write(clips.Clip(width=16, height=16, frames=frames, fps=24000 / 1001), tmp_path / "film.mp4")
    printed = container.read(tmp_path / "film.mp4").rate
    assert printed == 23.98 and container.exact_rate(printed) == 24000 / 1001
    assert [container.exact_rate(r) for r in (24.0, 25.0, 12.5, 29.97, 59.94)] == [24.0, 25.0, 12.5, 30000 / 1001, 60000 / 1001]
    writer = stream.mp4_writer(tmp_path / "out.mp4", container.exact_rate(printed))
    for _ in range(frames):
        writer.append_data(np.zeros((16, 16, 3), np.uint8))
    writer.close()
    lengths = [iio.immeta(tmp_path / name, plugin="FFMPEG")["duration"] for name in ("film.mp4", "out.mp4")]
    assert lengths[0] == lengths[1] == 60.06, lengths
