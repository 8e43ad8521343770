"""A video through the pipeline one frame at a time, with decoding, the model and both encoders overlapping.

    decoding  ->  the model (PREDICTORS frames at once)  ->  in frame order: (between,) stabilise, finish  ->  two encoders
    [thread]      [threads]                                  [the caller's thread]                           [threads]

Given ``between``, frames the model need not see (keyframes.model_sees) go past it: in frame order,
each gets its matte from the frame before it and the next one the model sees, or from the model
there when ``between`` declines. A frame the model saw is finished once the next one it sees is found
too: that frame's own matte is the stabiliser's witness (temporal.stabilise).

Small bounded queues join the stages, so memory holds a few frames however long the clip is. The
caller's thread reports progress and is where cancelling is noticed; an error in any stage, or a
cancel, stops them all (the decoder is closed, the encoders are flushed and closed) before it is
raised. Knows nothing of InvokeAI: frames, the per-frame functions and the writers come in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import heap
from . import keyframes

# Frames in the model at once (each from its own thread, on the pictures' session). One: on 2 cores two at once are
# no faster (1280x720, 96 frames, in-process: 13.8-14.0 s against 13.7-14.2 s), and onnxruntime's memory arena
# grows to hold every concurrent run's activations and never shrinks (a second u2netp run at once: about 270 MB).
PREDICTORS = 1
DEPTH = 3  # frames waiting between two stages
# frames decoded but not yet finished: the model returns them out of order, and a frame waits for the next one the
# model sees (its witness, or the matte a frame between is moved from)
IN_FLIGHT = max(DEPTH + 2 * PREDICTORS, keyframes.STRIDE + 1)
# Two videos are encoded per frame beside the model on the CPU. For these composites and flat mattes x264's
# superfast takes about a quarter of the CPU of its default, medium (InvokeAI's make_mp4_writer), and about 60 % of
# veryfast's, for files about twice veryfast's size at the same quality setting.
PRESET = "superfast"
# x264's quality setting (crf) for each output. The composite's is x264's own default (imageio sets none for
# libx264). A track matte's edges are what a composite is cut along, and at 23 the encoder's own error changes from
# frame to frame: encoding a known matte alone flickers by 0.039 levels at 23 and 0.018 at 12 (a file under twice
# the size: a matte is flat)
COMPOSITE_CRF = 23
MATTE_CRF = 12
# Every this many frames the heaps hand back the pages the frames before freed (heap.trim, 4 ms), so a long clip's
# memory stays at a short one's
TRIM_EVERY = 12

_END = object()
SKIPPED = object()  # in place of a model result: a frame the model skips (``between`` gives its matte)

Frame = np.ndarray  # HxWx3 uint8 RGB


class Writer(Protocol):
    def append_data(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _Stages:
    """The threads of one run, their queues, and the first error any of them raised."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def start(self, name: str, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # handed to the caller's thread
                self.errors.append(error)
                self.stop.set()

        thread = threading.Thread(target=run, name=f"remove-background-video {name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Queue an item, waiting for room -> False if the run stopped meanwhile."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Any]) -> Any:
        """The next item, waiting for it -> _END if the run stopped meanwhile."""
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def acquire(self, tickets: threading.Semaphore) -> bool:
        """Take a ticket, waiting for one -> False if the run stopped meanwhile."""
        while not self.stop.is_set():
            if tickets.acquire(timeout=0.1):
                return True
        return False

    def raise_first(self) -> None:
        """-> raises the first error any stage raised, if one did."""
        if self.errors:
            raise self.errors[0]


class EncoderError(OSError):
    """ffmpeg failed writing an output video (a full disk, a killed encoder)."""


def finished_mp4(path: Path) -> bool:
    """An MP4 file -> whether it is whole: its top-level boxes fill the file exactly and include ftyp, mdat and moov
    (ffmpeg writes moov last, on close, so an encoder that died or ran out of room leaves none or a cut one)."""
    if not path.is_file():
        return False
    size, seen, at = path.stat().st_size, set(), 0
    with open(path, "rb") as f:
        while at + 8 <= size:
            f.seek(at)
            header = f.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1:  # a 64-bit size follows the type
                length = int.from_bytes(header[8:16], "big") if len(header) == 16 else 0
            elif length == 0:  # the box runs to the end of the file
                length = size - at
            if length < 8:
                return False
            seen.add(kind)
            at += length
    return at == size > 0 and {b"ftyp", b"mdat", b"moov"} <= seen


class _Mp4Writer:
    """imageio's ffmpeg writer, with its failures said plainly: imageio raises a bare IOError when ffmpeg stops
    taking frames and says nothing when ffmpeg fails while finishing the file (it never reads ffmpeg's exit code)."""

    def __init__(self, path: Path, fps: float, crf: int) -> None:
        """The output file, frames per second and x264's crf -> an open writer (ffmpeg started)."""
        import imageio.v2 as iio2

        self.path = path
        self._writer = iio2.get_writer(  # quality None: imageio adds no crf of its own
            str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=1, quality=None,
            output_params=["-preset", PRESET, "-crf", str(crf)],
        )

    def _failed(self, what: str) -> EncoderError:
        """What ffmpeg failed at -> the error to raise, saying what to do."""
        # the node writes into a temporary folder of its own, gone by the time the user reads this: name its parent
        return EncoderError(
            f"The video encoder (ffmpeg) {what} {self.path.name}, so nothing was saved. The most likely cause is a "
            f"full disk: make room in {self.path.parent.parent} (or point TMPDIR at a roomier folder) and run it again."
        )

    def append_data(self, frame: np.ndarray) -> None:
        """A frame -> written to ffmpeg, or EncoderError."""
        try:
            self._writer.append_data(frame)
        except OSError as error:
            raise self._failed("stopped while writing") from error

    def close(self) -> None:
        """-> the file finished, or EncoderError when it is not a whole MP4."""
        self._writer.close()
        if not finished_mp4(self.path):
            raise self._failed("did not finish")


def mp4_writer(path: Path, fps: float, crf: int = COMPOSITE_CRF) -> Writer:
    """A file path, frames per second and x264's crf -> an H.264 MP4 writer: InvokeAI's settings (libx264, yuv420p,
    every size kept as it is) with the PRESET above; HxW frames go in as grey, HxWx3 as RGB. Raises EncoderError,
    saying what to do, if ffmpeg fails, and on close if the file is not a whole MP4."""
    return _Mp4Writer(path, fps, crf)


Found = tuple[Frame, Any]  # a frame and what the model (or ``between``) found in it
# (the frame before, this frame, the next the model saw, how many frames on that one is) -> a result, or None
Between = Callable[[Found, Frame, Found, int], Any]


def run(
    frames: Iterable[Frame],
    total: int,
    model_matte: Callable[[Frame], Any],
    finish: Callable[[Frame, Any, Found | None], tuple[Frame, np.ndarray]],
    video: Writer,
    matte: Writer,
    step: Callable[[str, float | None], None],
    between: Between | None = None,
) -> int:
    """Frames, their expected number, the per-frame model matte (run in parallel, any result), the in-order finish
    (frame, that result and a witness -> composite frame and final matte; the witness is the next frame the model saw
    with its result, or None for a frame between or at the clip's end), the two writers, progress (may raise to
    cancel) and optionally ``between`` for the frames the model skips -> the number of frames written to each writer."""
    stages = _Stages()
    decoded: queue.Queue[Any] = queue.Queue(DEPTH)
    predicted: queue.Queue[Any] = queue.Queue(DEPTH + PREDICTORS)
    to_video: queue.Queue[Any] = queue.Queue(DEPTH)
    to_matte: queue.Queue[Any] = queue.Queue(DEPTH)
    tickets = threading.Semaphore(IN_FLIGHT)  # so a slow frame in one model thread cannot let the others run far ahead
    # At most PREDICTORS runs of the model at once, the in-order thread's for a skipped frame included: onnxruntime's
    # memory arena grows for every run at once (see PREDICTORS).
    model_slots = threading.Semaphore(PREDICTORS)

    def matte_of(frame: Frame) -> Any:
        """A frame -> the model's result for it, in one of the PREDICTORS slots."""
        with model_slots:
            return model_matte(frame)

    def decode() -> None:
        """The decoding thread: frames in order to the model, or past it, each holding a ticket."""
        source: Iterator[Frame] = iter(frames)
        try:
            for index, frame in enumerate(source):
                if between is not None and not keyframes.model_sees(index):  # straight on, past the model
                    to, item = predicted, (index, frame, SKIPPED)
                else:
                    to, item = decoded, (index, frame)
                if not (stages.acquire(tickets) and stages.put(to, item)):
                    return
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator: InvokeAI's decoder process ends now, not when collected
                close()
            for _ in range(PREDICTORS):
                stages.put(decoded, _END)

    def predict() -> None:
        """A model thread: decoded frames -> (index, frame, the model's result), in any order."""
        while (item := stages.get(decoded)) is not _END:
            index, frame = item
            if not stages.put(predicted, (index, frame, matte_of(frame))):
                return
        stages.put(predicted, _END)

    def write(q: queue.Queue[Any], writer: Writer) -> None:
        """An encoder thread: the queue's frames -> the writer, closed at the end whatever happened."""
        try:
            while (item := stages.get(q)) is not _END:
                writer.append_data(item)
        finally:
            writer.close()

    stages.start("decode", decode)
    for i in range(PREDICTORS):
        stages.start(f"model {i}", predict)
    stages.start("video encoder", lambda: write(to_video, video))
    stages.start("matte encoder", lambda: write(to_matte, matte))
    written, ended, waiting = 0, 0, {}
    last: Found | None = None

    def later(index: int) -> int:
        """A frame's index -> the index of the next frame the model sees: its witness."""
        return keyframes.next_seen(index) if between is not None else index + 1

    def ready(index: int) -> bool:
        """Whether frame ``index`` can be finished now: found, with the next frame the model sees found too (for a
        frame skipped, to move its matte from; else as its witness), or the clip ended before it."""
        return index in waiting and (ended == PREDICTORS or later(index) in waiting)

    try:
        while not stages.stop.is_set():
            if ended < PREDICTORS:
                item = stages.get(predicted)
                if item is _END:
                    stages.raise_first()
                    if stages.stop.is_set():
                        break
                    ended += 1
                else:
                    index, frame, found = item
                    waiting[index] = (frame, found)
            elif written not in waiting:
                break
            while ready(written):  # the model finishes frames out of order; stabilising needs them in order
                frame, found = waiting.pop(written)
                seen = later(written)
                witness = waiting.get(seen)  # for a frame skipped, the frame after it to move its matte from
                if found is SKIPPED:
                    usable = between is not None and last is not None and witness is not None
                    found = between(last, frame, witness, seen - written) if usable else None
                    if found is None:  # the neighbours disagree, or there is no frame after: the model sees it
                        found = matte_of(frame)
                    else:  # moved from the frames on either side, it has seen the witness already
                        witness = None
                shown = max(total, written + 1)  # the total is the duration times the rate, an estimate
                step(f"Frame {written + 1} of {shown}", (written + 1) / shown)
                composite, final = finish(frame, found, witness)
                if not (stages.put(to_video, composite) and stages.put(to_matte, final)):
                    break
                last = (frame, found)
                tickets.release()
                written += 1
                if written % TRIM_EVERY == 0:
                    heap.trim()
        stages.raise_first()
        for q in (to_video, to_matte):
            stages.put(q, _END)
    except BaseException:
        stages.stop.set()
        raise
    finally:
        for thread in stages.threads:
            thread.join()
    stages.raise_first()
    return written
