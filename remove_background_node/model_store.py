"""Where a model file comes from, and whether it is the right file.

Order: ``<models>/rembg/`` (placed by hand) -> an existing rembg home (``rembg_home``) -> a download through the
``Downloader`` the caller passes (InvokeAI's download queue).
Every file is checksummed once per process (keyed by path, inode, size, mtime and ctime) before it is used.
Nothing here imports InvokeAI, so all of it runs against plain folders and a loopback server in tests.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .catalog import RELEASE_BASE_URL, ModelSpec

MIRROR_ENV = "REMOVE_BACKGROUND_MODEL_URL"
TIMEOUT_ENV = "REMOVE_BACKGROUND_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 60.0  # seconds without a single new byte before a download is given up
FOLDER = "rembg"
PARTIAL_SUFFIX = ".downloading"  # InvokeAI's download queue writes <file>.downloading, then renames it; so do we
POLL = 0.5

DownloadProgress = Callable[[str, int], None]  # (URL, bytes received so far)


@dataclass(frozen=True)
class Downloader:
    """A blocking download (URL -> downloaded file) and the folder it writes that URL's file into."""

    fetch: Callable[[str], Path]
    folder: Callable[[str], Path]


class ModelFileError(RuntimeError):
    """A model file is missing, unreachable or corrupt; the message says what to do."""


def rembg_home(env: Mapping[str, str] = os.environ) -> Path:
    """Environment -> the folder rembg 2.0.69 keeps its models in (U2NET_HOME, else $XDG_DATA_HOME/.u2net, else
    ~/.u2net)."""
    default = os.path.join(env.get("XDG_DATA_HOME", "~"), ".u2net")
    return Path(os.path.expanduser(env.get("U2NET_HOME", default)))


def source_url(spec: ModelSpec, env: Mapping[str, str] = os.environ) -> str:
    """Model spec and environment -> the URL to download it from (the mirror, if one is set)."""
    base = env.get(MIRROR_ENV, "").strip() or RELEASE_BASE_URL
    return base.rstrip("/") + "/" + spec.release_file


def stall_timeout(env: Mapping[str, str] = os.environ) -> float:
    """Environment -> seconds a download may go without a new byte (InvokeAI's requests have no timeout)."""
    try:
        return max(float(env.get(TIMEOUT_ENV, "")), 0.1)
    except ValueError:
        return DEFAULT_TIMEOUT


def file_checksum(path: Path, algorithm: str) -> str:
    """File and 'md5' or 'sha256' -> hex digest, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_identity(path: Path) -> tuple[str, int, int, int, int]:
    """A file -> (its resolved path, inode, size, mtime and ctime in ns), which change when the file is replaced."""
    # mtime alone can be carried over (cp -p, touch -r); a file moved into place has a new inode, and any write or
    # utime sets ctime, which no user can set back
    st = path.stat()
    return str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class _VerifiedFiles:
    """Remembers which files were verified, so a file is hashed once per process."""

    def __init__(self) -> None:
        self._ok: set[tuple[tuple[str, int, int, int, int], str]] = set()
        self._lock = threading.Lock()
        self.hashed = 0  # how many files were actually read, for tests and benchmarks

    def check(self, path: Path, expected: str) -> bool:
        """File and 'algo:hex' -> whether it matches; a file seen unchanged before is not re-read."""
        key = (file_identity(path), expected)
        with self._lock:
            if key in self._ok:
                return True
            self.hashed += 1
        algorithm, _, want = expected.partition(":")
        ok = file_checksum(path, algorithm) == want
        if ok:
            with self._lock:
                self._ok.add(key)
        return ok


VERIFIED = _VerifiedFiles()


def placement_hint(spec: ModelSpec, models_dir: Path) -> str:
    """Spec and InvokeAI's rembg folder -> the sentence telling a person where to put the file by hand."""
    return (
        f"Put the file at {models_dir / spec.local_file} (rembg's release file "
        f"{spec.release_file}, checksum {spec.checksum}) and run the node again."
    )


def find_local(spec: ModelSpec, models_dir: Path, home: Path) -> Path | None:
    """Spec, InvokeAI's rembg models folder and rembg's home -> a verified local file, or None.

    A hand-placed file with the wrong checksum is an error and is left in place (the user put it
    there on purpose); a wrong file in rembg's home is skipped, as rembg itself would replace it.
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
        return candidate  # reused where it is: never copied, never downloaded again
    return None


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob("*" + PARTIAL_SUFFIX)) if folder.is_dir() else []


def _bytes_in(folder: Path) -> int:
    """Download folder -> bytes written into it so far (the growing partial file or the finished one)."""
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except FileNotFoundError:
        return 0


def _discard(path: Path) -> None:
    """Delete a downloaded file and its now-empty download-cache folder."""
    if path.is_file():
        path.unlink()
    try:
        path.parent.rmdir()
    except OSError:
        pass


def _download_error(spec: ModelSpec, url: str, models_dir: Path, error: BaseException, partial: int) -> ModelFileError:
    """A failed download -> an error naming the model, the URL, the cause, the folder and the checksum."""
    text = str(error).strip()
    # InvokeAI raises Exception(traceback text): its last line is the cause. An interrupted transfer
    # is "paused" by the queue and arrives as Exception(None).
    reason = text.splitlines()[-1] if text and text != "None" else ""
    reason = re.sub(r"^(?:\w+\.)+(?=\w+: )", "", reason).rstrip(".")  # "requests.exceptions.HTTPError: x." -> "HTTPError: x"
    if partial:
        reason = f"the transfer stopped after {partial} bytes ({reason or 'connection closed'}); the partial file was deleted"
    # what to do first, the cause last: a person reads the start of the message in InvokeAI's queue
    message = f"Could not download the {spec.name} model from {url}."
    if "allow_private_download_urls" in text or "non-public address" in text:
        message += (
            " InvokeAI refuses loopback and private-network download URLs by default: to use a "
            "mirror on your own network, set `allow_private_download_urls: true` in invokeai.yaml "
            "(or the environment variable INVOKEAI_ALLOW_PRIVATE_DOWNLOAD_URLS=true) and restart InvokeAI."
        )
    return ModelFileError(
        f"{message} Without network access: {placement_hint(spec, models_dir)} Cause: {reason or type(error).__name__}."
    )


def _download_and_verify(spec: ModelSpec, url: str, models_dir: Path, downloader: Downloader) -> Path:
    """Run one download and check it -> the verified file; a corrupt or partial file is deleted."""
    folder = downloader.folder(url)
    # A partial file left by an earlier failure would be handed back by InvokeAI as if it were the
    # model (its cache returns any file in the folder), so start clean. Only one download per URL
    # runs in this process, so the partial is nobody's live download.
    for stale in _partials(folder):
        stale.unlink(missing_ok=True)
    try:
        path = Path(downloader.fetch(url))
    except Exception as error:
        partial = sum(p.stat().st_size for p in _partials(folder))
        for p in _partials(folder):
            p.unlink(missing_ok=True)
        # InvokeAI's download queue raises Exception(its traceback as text), which it has logged already: not chained,
        # or InvokeAI's log and queue item show that traceback a second time
        cause = None if len(str(error).splitlines()) > 1 else error
        raise _download_error(spec, url, models_dir, error, partial) from cause
    if path.is_dir():  # the download cache returns a folder for some sources
        path = next(iter(sorted(path.iterdir())), path)
    if not path.is_file() or not VERIFIED.check(path, spec.checksum):
        _discard(path)
        raise ModelFileError(
            f"The {spec.name} model downloaded from {url} does not match its checksum "
            f"{spec.checksum}, so it was deleted ({path}). The server sent a corrupt or different file: "
            f"fix the mirror ({MIRROR_ENV}) or run the node again. {placement_hint(spec, models_dir)}"
        )
    return path


class _Downloads:
    """At most one download per URL in this process; later callers wait for the one in flight."""

    def __init__(self) -> None:
        self._inflight: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()

    def start(self, url: str, work: Callable[[], Path]) -> Future[Path]:
        """URL and the work that fetches it -> the future of the download already running or a new one."""
        with self._lock:
            future = self._inflight.get(url)
            if future is None:
                future = self._inflight[url] = Future()
                # A thread of its own, so the node can give up on a stuck server without waiting for it.
                threading.Thread(target=self._run, args=(url, future, work), daemon=True,
                                 name=f"remove-background-download {url}").start()
        return future

    def _run(self, url: str, future: Future[Path], work: Callable[[], Path]) -> None:
        try:
            result: Path | None = work()
            error: BaseException | None = None
        except BaseException as e:  # handed to every waiter
            result, error = None, e
        with self._lock:
            self._inflight.pop(url, None)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]


DOWNLOADS = _Downloads()


def _wait(future: Future[Path], folder: Path, url: str, timeout: float, on_progress: DownloadProgress | None) -> Path | None:
    """Wait for a download, reporting bytes as they arrive -> its file, or None once it stalled for ``timeout`` s."""
    last, since = -1, time.monotonic()
    while True:
        try:
            return future.result(timeout=POLL)
        except TimeoutError:
            pass
        done = _bytes_in(folder)
        if done != last:
            last, since = done, time.monotonic()
            if on_progress is not None:
                on_progress(url, done)
        elif time.monotonic() - since > timeout:
            return None


def ensure_model(
    spec: ModelSpec,
    models_dir: Path,
    downloader: Downloader,
    env: Mapping[str, str] = os.environ,
    on_progress: DownloadProgress | None = None,
) -> Path:
    """Spec, InvokeAI's rembg models folder and a downloader -> a verified model file path.

    ``on_progress(url, bytes)`` runs in the caller's thread while a download is under way, so it may
    raise (e.g. to cancel); the download itself goes on for the next caller.
    """
    local = find_local(spec, models_dir, rembg_home(env))
    if local is not None:
        return local
    url = source_url(spec, env)
    if on_progress is not None:
        on_progress(url, 0)
    future = DOWNLOADS.start(url, lambda: _download_and_verify(spec, url, models_dir, downloader))
    timeout = stall_timeout(env)
    path = _wait(future, downloader.folder(url), url, timeout, on_progress)
    if path is None:
        raise ModelFileError(
            f"Could not download the {spec.name} model from {url}: the server sent nothing for "
            f"{timeout:g} s (InvokeAI's downloads have no timeout of their own; set {TIMEOUT_ENV} "
            f"to wait longer). Without network access: {placement_hint(spec, models_dir)}"
        )
    return path


def copy_into(models_dir: Path, source: Path, spec: ModelSpec) -> Path:
    """Place ``source`` as ``models_dir/<model>.onnx`` atomically, after verifying it."""
    if not VERIFIED.check(source, spec.checksum):
        raise ModelFileError(f"{source} does not match the {spec.name} checksum {spec.checksum}.")
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.local_file
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
