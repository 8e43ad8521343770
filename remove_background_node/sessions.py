"""Lazy session manager: the one place that decides when a model is loaded and which session a call gets.

A session is an onnxruntime ``InferenceSession`` kept in a cache the caller names through ``load``:
in the node that is InvokeAI's model cache (``context.models.load_local_model``), so InvokeAI's
RAM budget counts it and evicts it beside the user's other models; outside InvokeAI it is a small
``LocalCache``. Around the cached ``InferenceSession`` each call gets rembg's own session class for
that model (its pre- and post-processing), built without reading the file again.
Thread-safe: concurrent first calls for one model and device load one session.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import onnxruntime as ort

from .catalog import ModelSpec
from .providers import Provider

Locate = Callable[[], Path]  # -> the verified model file (may download it)
Loader = Callable[[Path], Any]  # cache key -> a new InferenceSession
Load = Callable[[Path, Loader], AbstractContextManager[Any]]  # (cache key, loader) -> context holding the session


def create_inference_session(path: Path, providers: Sequence[Provider]) -> Any:
    """Verified model file and providers -> a new onnxruntime InferenceSession (every core for one run)."""
    options = ort.SessionOptions()
    # Idle threads sleep instead of spinning: a picture runs no slower (u2net 0.43 s either way on 2 cores), and a
    # video's runs, beside its decoder, steadying and encoders, stop burning CPU those need (1280x720, 96 frames,
    # u2netp, in-process: 13.8-14.0 s against 14.7-14.9 s spinning).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def wrap(spec: ModelSpec, inner: Any) -> Any:
    """Model spec and its InferenceSession -> rembg's session object for that model, around that InferenceSession.

    rembg's classes only read ``inner_session`` and ``model_name`` in ``predict``; their
    ``__init__`` would open the file again (and look in ~/.u2net, download, re-hash it), so it is
    not called.
    """
    try:
        from rembg.sessions import sessions as rembg_sessions
    except ImportError as error:  # rembg 2.0.64 and older name their sessions differently
        from importlib.metadata import version

        raise RuntimeError(
            f"Remove Background does not work with the rembg installed in InvokeAI's environment ({version('rembg')}): "
            "install the version the pack's pyproject.toml names by running tools/install_deps.py with InvokeAI's "
            "Python (README: Install into an existing InvokeAI), then restart InvokeAI."
        ) from error

    cls = rembg_sessions[spec.name]
    session = cls.__new__(cls)
    session.model_name = spec.name
    session.inner_session = inner
    return session


def create_rembg_session(spec: ModelSpec, path: Path, providers: Sequence[Provider]) -> Any:
    """Model spec, verified file and providers -> a rembg session reading exactly that file (for use outside InvokeAI)."""
    return wrap(spec, create_inference_session(path, providers))


def cache_key(path: Path, providers: Sequence[Provider]) -> Path:
    """Model file and providers -> the key its session is cached under: one entry per file and GPU.

    InvokeAI keys its model cache by path, one cache per execution device; a CPU session and a
    CUDA session of the same file on one worker must not share an entry.
    """
    gpus = [f"{name.removesuffix('ExecutionProvider').lower()}:{options.get('device_id', 0)}"
            for name, options in (p for p in providers if isinstance(p, tuple))]
    return path.with_name(f"{path.name}@{'+'.join(gpus)}") if gpus else path


class LocalCache:
    """A stand-in for InvokeAI's model cache outside InvokeAI: the last ``size`` sessions, least recent out first."""

    def __init__(self, size: int = 2):
        self._size = size
        self._models: OrderedDict[Path, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: Path, loader: Loader) -> AbstractContextManager[Any]:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return nullcontext(self._models[key])
        model = loader(key)
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return nullcontext(model)

    def keys(self) -> list[Path]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._models)


class SessionManager:
    """Hands out sessions per (model, providers), creating each through ``create`` at most once per load."""

    def __init__(self, create: Callable[[Path, Sequence[Provider]], Any] = create_inference_session):
        self._create = create
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.created: Counter[tuple[str, str]] = Counter()  # sessions made per (model, providers), for tests and benchmarks

    @contextmanager
    def session(self, spec: ModelSpec, providers: Sequence[Provider], locate: Locate, load: Load) -> Iterator[Any]:
        """Spec, providers, a function giving the verified file and the cache to load into -> the rembg session,
        held in that cache (InvokeAI cannot evict it) until the ``with`` block ends."""
        providers = tuple(providers)
        key = (spec.name, repr(providers))
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:  # one locate and one load per model and device at a time; the session is then shared
            path = locate()

            def loader(_key: Path) -> Any:
                with self._lock:
                    self.created[key] += 1
                return self._create(path, providers)

            loaded = load(cache_key(path, providers), loader)
        with loaded as inner:
            yield wrap(spec, inner)


MANAGER = SessionManager()
