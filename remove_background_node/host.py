"""The adapter between InvokeAI and the pipeline: whatever the nodes do with InvokeAI while they run goes through here.

It loads inputs as PIL, resolves the model file and loads its session into InvokeAI's model cache,
reports progress and honours cancellation between steps, logs through InvokeAI's logger, and
saves the outputs. Below the invocations, only this module, the models command line
(``models_cli``, which asks InvokeAI's public config for its root folder) and the package's
``__init__`` (its version check and logger) import InvokeAI.
Private InvokeAI names are used in one place only: ``_download_internals``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invokeai.app.services.session_processor.session_processor_common import CanceledException
from invokeai.invocation_api import ImageCategory, ImageField, InvocationContext
from PIL import Image

from . import catalog, inference, model_store, providers
from .pipeline import Result
from .sessions import MANAGER

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _download_internals(context: InvocationContext) -> tuple[Callable[[str], Path], Callable[[str], int]]:
    """An invocation context -> (URL -> the folder InvokeAI's download cache writes it into,
    URL -> the size the download queue got from the server, 0 if unknown).

    The public API downloads (``download_and_cache_model``) but tells neither where the partial
    file grows nor how big it will be; both come from InvokeAI's internals, so they live here
    alone, and tests/invoke/test_invokeai_internals.py fails when InvokeAI changes them.
    """
    from invokeai.app.services.model_install.model_install_default import ModelInstallService

    def folder(url: str) -> Path:
        return ModelInstallService._download_cache_path(url, context.config.get())  # noqa: SLF001

    def total(url: str) -> int:
        try:
            jobs = context._services.download_queue.list_jobs()  # noqa: SLF001
        except AttributeError:  # only the size shown while downloading depends on it
            return 0
        return max((j.total_bytes for j in jobs if str(j.source) == url and j.total_bytes > 0), default=0)

    return folder, total


class Host:
    """Everything one invocation needs from InvokeAI, behind plain Python types."""

    def __init__(self, context: InvocationContext, node: str = "Remove Background"):
        self._context = context
        self._node = node
        self._shown: tuple[str, int] | None = None

    def step(self, message: str, fraction: float | None = None) -> None:
        """Stop here if the user cancelled; otherwise show ``message`` (and the fraction done) on the node."""
        if self._context.util.is_canceled():
            raise CanceledException(f"{self._node} was cancelled")
        shown = (message, -1 if fraction is None else int(fraction * 100))
        if shown != self._shown:  # a solve checks in far more often than a person can read
            self._shown = shown
            self._context.util.signal_progress(message, fraction)

    def warn(self, message: str) -> None:
        """Something the user should know about this run -> a warning in InvokeAI's log, and on the node."""
        self._context.logger.warning(f"{self._node}: {message}")
        self.step(message)

    def warn_once(self, message: str) -> None:
        """A warning in InvokeAI's log, once per process."""
        with _warned_lock:
            if message in _warned:
                return
            _warned.add(message)
        self._context.logger.warning(message)

    def load_image(self, image: ImageField, what: str = "image") -> Image.Image:
        """An image input and the input's name -> the stored PIL image, in its own mode."""
        from invokeai.app.services.image_files.image_files_common import ImageFileNotFoundException
        from invokeai.app.services.image_records.image_records_common import ImageRecordNotFoundException

        try:
            return self._context.images.get_pil(image.image_name)
        except (ImageRecordNotFoundException, ImageFileNotFoundException) as error:
            raise self._not_in_gallery(image.image_name, "image", what) from error

    def _not_in_gallery(self, name: str, kind: str, what: str) -> ValueError:
        """A missing image's or video's name, "image" or "video", and the input's name -> the error saying what to do."""
        return ValueError(
            f"The {what} {name} is not in InvokeAI's gallery (it may have been deleted). "
            f"Connect an existing {kind} to the {self._node} node's {what} input."
        )

    def models_dir(self) -> Path:
        """Where users place model files by hand: ``<InvokeAI models>/rembg``."""
        return Path(self._context.config.get().models_path) / model_store.FOLDER

    def providers(self, device: providers.Device) -> list[providers.Provider]:
        """The node's device choice -> onnxruntime providers, on the GPU this worker runs on."""
        from invokeai.backend.util.devices import TorchDevice

        chosen, warning = providers.choose(providers.available(), str(TorchDevice.choose_torch_device()), device)
        if warning:
            self.warn_once(warning)
        return chosen

    def _locate(self, spec: catalog.ModelSpec) -> Path:
        """Model spec -> its verified file: placed by hand, in rembg's home, or downloaded through InvokeAI's queue."""
        folder, total = _download_internals(self._context)
        return model_store.ensure_model(
            spec,
            self.models_dir(),
            model_store.Downloader(fetch=self._context.models.download_and_cache_model, folder=folder),
            on_progress=lambda url, done: self._download_progress(spec, url, done, total(url)),
        )

    @contextmanager
    def session(self, model: str, device: providers.Device = "auto") -> Iterator[Any]:
        """Model name and device -> its rembg session, held in InvokeAI's model cache while the block runs."""
        spec = catalog.get(model)
        chosen = self.providers(device)
        with MANAGER.session(spec, chosen, lambda: self._locate(spec), self._context.models.load_local_model) as session:
            yield session

    def model(self, model: str, device: providers.Device = "auto", cloth_category: str = "all") -> tuple[inference.Predict, Hashable]:
        """Model, device and cloth category -> (a predict function that holds the model only while it predicts,
        a key naming the model file, device and options, under which its results may be cached)."""
        options = inference.predict_options(model, cloth_category)
        path = self._locate(catalog.get(model))
        key = (model, model_store.file_identity(path), repr(self.providers(device)), repr(sorted(options.items())))

        def predict(image: Image.Image) -> Sequence[Image.Image]:
            with self.session(model, device) as session:
                return inference.predictor(session, **options)(image)

        return predict, key

    def _download_progress(self, spec: catalog.ModelSpec, url: str, done: int, total: int) -> None:
        """Show the model, its size and how much of it arrived; stop here if the user cancelled."""
        size = f"{total / 1e6:.1f} MB" if total else f"about {spec.size_mb:g} MB"
        fraction = min(done / (total or spec.size_mb * 1e6), 0.99)  # the estimate must never claim 100 %
        self.step(f"Downloading model {spec.name} ({size}) from {url}", fraction)

    # Videos (InvokeAI 6.14 and later)

    def video_path(self, video: Any) -> Path:
        """The node's video input -> the file on disk."""
        from invokeai.app.services.video_files.video_files_common import VideoFileNotFoundException
        from invokeai.app.services.video_records.video_records_common import VideoRecordNotFoundException

        try:
            path = Path(self._context.videos.get_path(video.video_name))
        except (VideoRecordNotFoundException, VideoFileNotFoundException) as error:
            raise self._not_in_gallery(video.video_name, "video", "video") from error
        if not path.is_file():
            raise self._not_in_gallery(video.video_name, "video", "video")
        return path

    def probe(self, path: Path) -> tuple[int, int, float, float]:
        """A video file -> (width, height, average fps, duration in seconds), as InvokeAI's own decoder reads them."""
        from invokeai.app.util.video_thumbnails import probe_video

        width, height, duration, fps = probe_video(path)
        if not fps:
            raise ValueError(f"The video {path.name} does not say its frame rate, so its frames cannot be timed.")
        if width % 2 or height % 2:
            raise ValueError(f"The video is {width}x{height}; H.264 needs an even width and height. Crop or resize it first.")
        return width, height, fps, duration

    def frames(self, path: Path) -> Iterator[Any]:
        """A video file -> its frames (HxWx3 uint8 RGB), decoded one at a time by InvokeAI's bounded decoder."""
        from invokeai.app.util.video_thumbnails import iter_video_frames

        return iter_video_frames(path, is_canceled=self._context.util.is_canceled)

    def save_video(self, path: Path, width: int, height: int, frames: int, fps: float) -> Any:
        """A finished MP4 (moved into InvokeAI's storage) and its size, frame count and fps -> its VideoDTO."""
        return self._context.videos.save(source_path=path, width=width, height=height, duration=frames / fps, fps=fps)

    def save(self, result: Result) -> tuple[Any, Any]:
        """Pipeline result -> (cutout DTO, mask DTO); the mask goes into InvokeAI's mask category."""
        self.step("Saving")  # the last point to cancel: after it both images are written
        # One after the other: InvokeAI holds a process-wide lock (its image-mutation lock) across
        # each save, PNG encoding included, so saving from two threads would gain nothing.
        image_dto = self._context.images.save(image=result.cutout)
        mask_dto = self._context.images.save(image=result.mask, image_category=ImageCategory.MASK)
        return image_dto, mask_dto
