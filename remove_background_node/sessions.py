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
    """rembg session and predict() keyword arguments -> a predict function for the pipeline."""
    return lambda image: session.predict(image, **kwargs)


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
