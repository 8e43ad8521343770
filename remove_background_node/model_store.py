"""Where a model file comes from, and whether it is the right file.

Order: ``<models>/rembg/`` (placed by hand) -> an existing rembg home (``U2NET_HOME`` or
``~/.u2net``) -> a download through the function the caller passes (InvokeAI's download queue).
Every file is checksummed once per process (keyed by path, size and mtime) before it is used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from .catalog import RELEASE_BASE_URL, ModelSpec

MIRROR_ENV = "REMOVE_BACKGROUND_MODEL_URL"
FOLDER = "rembg"

Download = Callable[[str], Path]


class ModelFileError(RuntimeError):
    """A model file is missing, unreachable or corrupt; the message says what to do."""


def rembg_home(env: Mapping[str, str] = os.environ) -> Path:
    """Environment -> the folder rembg 2.0.69 keeps its models in (U2NET_HOME, else ~/.u2net)."""
    default = os.path.join(env.get("XDG_DATA_HOME", "~"), ".u2net")
    return Path(os.path.expanduser(env.get("U2NET_HOME", default)))


def source_url(spec: ModelSpec, env: Mapping[str, str] = os.environ) -> str:
    """Model spec and environment -> the URL to download it from (the mirror, if one is set)."""
    base = env.get(MIRROR_ENV, "").strip() or RELEASE_BASE_URL
    return base.rstrip("/") + "/" + spec.release_file


def file_checksum(path: Path, algorithm: str) -> str:
    """File and 'md5' or 'sha256' -> hex digest, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _VerifiedFiles:
    """Remembers which (path, size, mtime) were verified, so a file is hashed once per process."""

    def __init__(self) -> None:
        self._ok: set[tuple[str, int, int, str]] = set()
        self._lock = threading.Lock()

    def check(self, path: Path, expected: str) -> bool:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, expected)
        with self._lock:
            if key in self._ok:
                return True
        algorithm, _, want = expected.partition(":")
        ok = file_checksum(path, algorithm) == want
        if ok:
            with self._lock:
                self._ok.add(key)
        return ok


VERIFIED = _VerifiedFiles()
_download_locks: dict[str, threading.Lock] = {}
_download_locks_guard = threading.Lock()


def _placement_hint(spec: ModelSpec, models_dir: Path) -> str:
    return (
        f"Put the file at {models_dir / spec.local_file} (rembg's release file "
        f"{spec.release_file}, checksum {spec.checksum}) and run the node again."
    )


def find_local(spec: ModelSpec, models_dir: Path, home: Path) -> Path | None:
    """Spec, InvokeAI's rembg models folder and rembg's home -> a verified local file, or None.

    A hand-placed file with the wrong checksum is an error (and is left in place); a wrong file
    in rembg's home is skipped.
    """
    for name in spec.file_names:
        candidate = models_dir / name
        if candidate.is_file():
            if VERIFIED.check(candidate, spec.checksum):
                return candidate
            raise ModelFileError(
                f"The model file {candidate} does not match the {spec.name} checksum "
                f"{spec.checksum}: it is incomplete or a different model. It was left in place. "
                f"Replace it with a good copy of {spec.release_file} or delete it so the node "
                "can download the model."
            )
    candidate = home / spec.local_file
    if candidate.is_file() and VERIFIED.check(candidate, spec.checksum):
        return candidate
    return None


def _download_error(spec: ModelSpec, url: str, models_dir: Path, error: BaseException) -> ModelFileError:
    text = str(error)
    reason = text.strip().splitlines()[-1] if text.strip() else type(error).__name__
    message = f"Could not download the {spec.name} model from {url}: {reason}."
    if "allow_private_download_urls" in text or "non-public address" in text:
        message += (
            " InvokeAI refuses loopback and private-network download URLs by default: to use a "
            "mirror on your own network, set `allow_private_download_urls: true` in invokeai.yaml "
            "(or the environment variable INVOKEAI_ALLOW_PRIVATE_DOWNLOAD_URLS=true) and restart InvokeAI."
        )
    message += f" Without network access: {_placement_hint(spec, models_dir)}"
    return ModelFileError(message)


def _discard(path: Path) -> None:
    """Delete a downloaded file and its now-empty download-cache folder."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


def download_verified(spec: ModelSpec, url: str, models_dir: Path, download: Download) -> Path:
    """Spec, URL, models folder and a download function -> the downloaded, verified file.

    A file that fails its checksum is deleted so nothing poisoned stays in the download cache.
    Concurrent calls for one URL share a single download.
    """
    with _download_locks_guard:
        lock = _download_locks.setdefault(url, threading.Lock())
    with lock:
        try:
            path = Path(download(url))
        except Exception as error:  # InvokeAI raises a bare Exception holding the queue's traceback
            raise _download_error(spec, url, models_dir, error) from error
        if path.is_dir():  # the download cache returns a folder for some sources
            path = next(iter(sorted(path.iterdir())), path)
        if not VERIFIED.check(path, spec.checksum):
            _discard(path)
            raise ModelFileError(
                f"The {spec.name} model downloaded from {url} does not match its checksum "
                f"{spec.checksum}, so it was deleted. The server sent a corrupt or different file; "
                f"fix the mirror or try again. {_placement_hint(spec, models_dir)}"
            )
        return path


def ensure_model(
    spec: ModelSpec,
    models_dir: Path,
    download: Download,
    env: Mapping[str, str] = os.environ,
    on_download: Callable[[str], None] | None = None,
) -> Path:
    """Spec, InvokeAI's rembg models folder and a download function -> a verified model file path."""
    local = find_local(spec, models_dir, rembg_home(env))
    if local is not None:
        return local
    url = source_url(spec, env)
    if on_download is not None:
        on_download(url)
    return download_verified(spec, url, models_dir, download)


def copy_into(models_dir: Path, source: Path, spec: ModelSpec) -> Path:
    """Place ``source`` as ``models_dir/<model>.onnx`` atomically, after verifying it."""
    if not VERIFIED.check(source, spec.checksum):
        raise ModelFileError(f"{source} does not match the {spec.name} checksum {spec.checksum}.")
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.local_file
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
