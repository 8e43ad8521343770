"""The source MP4 around its frames: the rate InvokeAI's decoder hands them out at, whether it has sound, and that
sound carried into the composite.

A phone records at a variable frame rate. InvokeAI's decoder (imageio's ffmpeg reader) turns such a clip into evenly
spaced frames at ffmpeg's base rate (its ``tbr``), repeating frames where the source has gaps, so there are more of
them than the average rate times the length. Written at the average rate the outputs would play longer than the
source (a 1.5 s clip came out 2.5 s long); written at the base rate they keep its length. For a constant-rate clip
the two rates are the same.

ffmpeg here is imageio-ffmpeg's, the one InvokeAI's own encoder runs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .stream import finished_mp4

_STREAM = re.compile(r"Stream #\d+:\d+\S*: (Video|Audio): (.*)")
_BASE_RATE = re.compile(r"(\d+(?:\.\d+)?)(k?) tbr")
FFMPEG_TIMEOUT = 3600.0  # seconds: describing a file or copying its streams; only a hung ffmpeg comes near this


@dataclass(frozen=True)
class Source:
    rate: float | None  # frames a second as InvokeAI's decoder hands them out (ffmpeg's tbr); None: not said
    sound: bool  # whether the file has an audio stream


def ffmpeg() -> str:
    """-> the path of the ffmpeg binary InvokeAI encodes with."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read(path: Path) -> Source:
    """An MP4 file -> its first video stream's base rate and whether it has sound, from ffmpeg's description of it."""
    described = subprocess.run(
        [ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, errors="replace",
        timeout=FFMPEG_TIMEOUT,
    )
    return parse(described.stderr)  # ffmpeg with no output file describes the input on stderr, then exits 1


def exact_rate(rate: float) -> float:
    """Frames a second as ffmpeg prints them (two decimals) -> the NTSC rate n*1000/1001 they round, else the same.

    23.98 written as 23.98 drifts from the source's 24000/1001 by 10 ms a minute, against its sound copied as it is."""
    whole = round(rate * 1.001)
    ntsc = whole * 1000.0 / 1001.0
    return ntsc if whole > 0 and rate != round(rate) and abs(rate - ntsc) <= 0.005 else rate


def parse(description: str) -> Source:
    """ffmpeg's description of a file (``ffmpeg -i``'s stderr) -> its first video stream's base rate and whether it
    has an audio stream."""
    rate, sound = None, False
    for kind, rest in _STREAM.findall(description):
        if kind == "Audio":
            sound = True
        elif rate is None:
            found = _BASE_RATE.search(rest)
            if found:
                rate = float(found.group(1)) * (1000.0 if found.group(2) else 1.0)
    return Source(rate, sound)


def add_sound(video: Path, source: Path) -> str | None:
    """A finished MP4 and the MP4 it was made from -> None once the source's sound plays in the video (streams copied,
    nothing re-encoded), else why not, with the video left as it was."""
    with_sound = video.with_name(video.stem + "-with-sound.mp4")
    try:
        done = subprocess.run(
            [ffmpeg(), "-v", "error", "-nostdin", "-y", "-i", str(video), "-i", str(source),
             "-map", "0:v:0", "-map", "1:a", "-c", "copy", str(with_sound)],
            capture_output=True, text=True, errors="replace", timeout=FFMPEG_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        with_sound.unlink(missing_ok=True)
        return str(error)
    if done.returncode or not finished_mp4(with_sound):
        with_sound.unlink(missing_ok=True)
        said = done.stderr.strip().splitlines()
        return said[-1] if said else f"ffmpeg exited with {done.returncode}"
    with_sound.replace(video)
    return None
