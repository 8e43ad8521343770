"""Lazy session manager: loads a model on first use, keeps a few loaded, least recently used out first.

Thread-safe: concurrent first calls for one model create one session; different models load in
parallel. rembg and onnxruntime are imported only when the first session is created.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .catalog import ModelSpec

MAX_LOADED = 2

Factory = Callable[[ModelSpec, Path, Sequence[str]], Any]
Locate = Callable[[], Path]


def create_rembg_session(spec: ModelSpec, path: Path, providers: Sequence[str]) -> Any:
    """Model spec, verified local file and providers -> a rembg session that reads exactly that file.

    rembg's own classes keep the model's pre- and post-processing; overriding ``download_models``
    stops rembg from looking in ~/.u2net, downloading, or re-hashing the file on every session.
    """
    import onnxruntime as ort
    from rembg.sessions import sessions as rembg_sessions

    base = rembg_sessions[spec.name]
    local = type(
        f"Local{base.__name__}",
        (base,),
        {"download_models": classmethod(lambda cls, *a, **k: str(path))},
    )
    return local(spec.name, ort.SessionOptions(), providers=list(providers))


def predictor(session: Any, **kwargs: Any) -> Callable[[Image.Image], Sequence[Image.Image]]:
    """rembg session and predict() keyword arguments -> a predict function for the pipeline.

    rembg resizes the whole image to the model's input with LANCZOS and the mask back with LANCZOS,
    which costs more than u2netp's inference from about 2K up. For images at least twice the model
    input in both directions (times SHRINK_MARGIN) the image is first box-reduced by an integer
    factor to about SHRINK_MARGIN times the model input, and the model's mask is scaled back up
    with bilinear interpolation; smaller images take rembg's own path unchanged.
    """
    side = model_input_side(session)

    def predict(image: Image.Image) -> Sequence[Image.Image]:
        factor = shrink_factor(image.size, side)
        if factor == 1:
            return session.predict(image, **kwargs)
        small = image.reduce(factor)
        return [upscale_mask(m, image.size) for m in session.predict(small, **kwargs)]

    return predict


SHRINK_MARGIN = 2  # keep the reduced image this many times the model input: rembg's LANCZOS still sees every pixel
DEFAULT_SIDE = 1024  # when the model's input is dynamic, assume the largest input size in the catalog


def model_input_side(session: Any) -> int:
    """rembg session -> the larger side of its model's fixed input (DEFAULT_SIDE when dynamic or unknown)."""
    try:
        shape = session.inner_session.get_inputs()[0].shape
        dims = [d for d in shape[-2:] if isinstance(d, int) and d > 0]
    except (AttributeError, IndexError, TypeError):
        dims = []
    return max(dims) if len(dims) == 2 else DEFAULT_SIDE


def shrink_factor(size: tuple[int, int], side: int) -> int:
    """Image (width, height) and model input side -> integer reduction factor; 1 means rembg's own path."""
    return max(1, min(size) // (side * SHRINK_MARGIN))


def upscale_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Small L mask and target (width, height) -> the mask at that size, bilinear (OpenCV, multithreaded)."""
    import cv2  # InvokeAI ships OpenCV; far faster than PIL for large bilinear upscales

    if mask.size == size:
        return mask
    if mask.mode != "L":
        mask = mask.convert("L")
    big = cv2.resize(np.asarray(mask), size, interpolation=cv2.INTER_LINEAR)
    return Image.fromarray(big)  # uint8 HxW: mode L


class SessionManager:
    """Keeps at most ``max_loaded`` sessions, keyed by model name and providers."""

    def __init__(self, factory: Factory = create_rembg_session, max_loaded: int = MAX_LOADED):
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self._factory = factory
        self._max_loaded = max_loaded
        self._sessions: OrderedDict[tuple[str, tuple[str, ...]], Any] = OrderedDict()
        self._key_locks: dict[tuple[str, tuple[str, ...]], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, spec: ModelSpec, locate: Locate, providers: Sequence[str], on_load: Callable[[], None] | None = None) -> Any:
        """Spec, a function that returns the verified model file, providers -> the loaded session.

        ``locate`` and ``on_load`` run only when the session is not loaded yet.
        """
        key = (spec.name, tuple(providers))
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._sessions:
                    self._sessions.move_to_end(key)
                    return self._sessions[key]
            path = locate()
            if on_load is not None:
                on_load()
            session = self._factory(spec, path, providers)
            with self._lock:
                self._sessions[key] = session
                while len(self._sessions) > self._max_loaded:
                    self._sessions.popitem(last=False)
            return session

    def loaded(self) -> list[str]:
        """The names of the loaded models, least recently used first."""
        with self._lock:
            return [name for name, _ in self._sessions]

    def clear(self) -> None:
        """Unload every session."""
        with self._lock:
            self._sessions.clear()


MANAGER = SessionManager()
