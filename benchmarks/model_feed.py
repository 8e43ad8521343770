"""The model part of a floor: onnxruntime on exactly the tensor the node feeds it, without the node around it.

The tensor is recorded from one real call of the pack's predictor (the node's own reduction, rembg's
resize and normalisation), so the floor's inference can never drift from what the node runs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image

from remove_background_node import catalog
from remove_background_node.inference import predictor
from remove_background_node.sessions import create_rembg_session

PROVIDERS = ["CPUExecutionProvider"]  # the node's session on a machine without a GPU


class _Recorder:
    """Stands in for an InferenceSession: remembers every feed, runs the real session."""

    def __init__(self, inner: Any):
        """The real InferenceSession -> a recorder around it."""
        self.inner = inner
        self.feeds: list[dict[str, Any]] = []

    def run(self, outputs: Any, feed: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """InferenceSession.run's arguments -> its result; the feed is kept."""
        self.feeds.append(feed)
        return self.inner.run(outputs, feed, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Any other attribute -> the real session's."""
        return getattr(self.inner, name)


class ModelRun:
    """One model's InferenceSession and the feed the node gives it for one picture; ``seconds`` times the run alone."""

    def __init__(self, model: str, model_file: Path, image: Image.Image, warm: int = 3):
        """Model name, its verified file, the picture and warm-up runs -> a session and the node's feed for it."""
        session = create_rembg_session(catalog.get(model), model_file, PROVIDERS)
        recorder = _Recorder(session.inner_session)
        session.inner_session = recorder
        predictor(session)(image.convert("RGB"))
        self.session, self.feed = recorder.inner, recorder.feeds[0]
        for _ in range(warm):
            self.run()

    def run(self) -> None:
        """-> nothing; one inference on the recorded feed."""
        self.session.run(None, self.feed)

    def seconds(self, repeat: int) -> float:
        """A repeat count -> median seconds of that many inferences."""
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            self.run()
            times.append(time.perf_counter() - t)
        return statistics.median(times)
