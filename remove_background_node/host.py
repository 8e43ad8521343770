"""The adapter between InvokeAI and the pipeline: the only module below invocation.py that imports InvokeAI.

It loads the input as PIL, resolves and loads the model (progress, download queue, providers),
reports progress and honours cancellation between steps, and saves the cutout and the mask.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from invokeai.app.services.session_processor.session_processor_common import CanceledException
from invokeai.invocation_api import ImageCategory, ImageField, InvocationContext
from PIL import Image

from . import catalog, model_store, providers
from .pipeline import Result
from .sessions import MANAGER

_warned: set[str] = set()
_warned_lock = threading.Lock()


class Host:
    """Everything one invocation needs from InvokeAI, behind plain Python types."""

    def __init__(self, context: InvocationContext):
        self._context = context

    def step(self, message: str, percentage: float | None = None) -> None:
        """Stop here if the user cancelled; otherwise show ``message`` on the node."""
        if self._context.util.is_canceled():
            raise CanceledException("Remove Background was cancelled")
        self._context.util.signal_progress(message, percentage)

    def load_image(self, image: ImageField) -> Image.Image:
        """The node's image input -> the stored PIL image, in its own mode."""
        from invokeai.app.services.image_files.image_files_common import ImageFileNotFoundException
        from invokeai.app.services.image_records.image_records_common import ImageRecordNotFoundException

        try:
            return self._context.images.get_pil(image.image_name)
        except (ImageRecordNotFoundException, ImageFileNotFoundException) as error:
            raise ValueError(
                f"The input image {image.image_name} is not in InvokeAI's gallery (it may have been "
                "deleted). Connect an existing image to the Remove Background node's image input."
            ) from error

    def models_dir(self) -> Path:
        """Where users place model files by hand: ``<InvokeAI models>/rembg``."""
        return Path(self._context.config.get().models_path) / model_store.FOLDER

    def _warn_once(self, message: str) -> None:
        with _warned_lock:
            if message in _warned:
                return
            _warned.add(message)
        self._context.logger.warning(message)

    def providers(self, device: providers.Device) -> list[str]:
        """The node's device choice -> onnxruntime providers, matching InvokeAI's own device."""
        import onnxruntime as ort  # imported on first use: InvokeAI may not have loaded it yet
        from invokeai.backend.util.devices import TorchDevice

        chosen, warning = providers.choose(
            ort.get_available_providers(), TorchDevice.choose_torch_device().type, device
        )
        if warning:
            self._warn_once(warning)
        return chosen

    def session(self, model: str, device: providers.Device = "auto") -> Any:
        """Model name -> its loaded rembg session, fetching and verifying the file on first use."""
        spec = catalog.get(model)

        def locate() -> Path:
            return model_store.ensure_model(
                spec,
                self.models_dir(),
                self._downloader(),
                on_progress=lambda url, done: self._download_progress(spec, url, done),
            )

        return MANAGER.get(
            spec, locate, self.providers(device), on_load=lambda: self.step(f"Loading model {spec.name}")
        )

    def _downloader(self) -> model_store.Downloader:
        """InvokeAI's download queue (via the public download_and_cache_model) and its cache folder per URL."""
        from invokeai.app.services.model_install.model_install_default import ModelInstallService

        config = self._context.config.get()
        return model_store.Downloader(
            fetch=self._context.models.download_and_cache_model,
            # the same folder download_and_cache_model writes into, watched for progress and partial files
            folder=lambda url: ModelInstallService._download_cache_path(url, config),
        )

    def _download_total(self, url: str) -> int:
        """URL -> the size its download-queue job got from the server, or 0 if unknown."""
        # The public API only signals "Downloading model <url>" without a size; the queue's job has
        # the server's Content-Length, reachable only through the services, so read it defensively.
        queue = getattr(getattr(self._context, "_services", None), "download_queue", None)
        try:
            jobs = queue.list_jobs() if queue is not None else []
        except Exception:
            return 0
        return max((j.total_bytes for j in jobs if str(j.source) == url and j.total_bytes > 0), default=0)

    def _download_progress(self, spec: catalog.ModelSpec, url: str, done: int) -> None:
        """Show the model, its size and how much of it arrived; stop here if the user cancelled."""
        total = self._download_total(url)
        size = f"{total / 1e6:.1f} MB" if total else f"about {spec.size_mb} MB"
        fraction = min(done / (total or spec.size_mb * 1e6), 0.99)  # the estimate must never claim 100 %
        self.step(f"Downloading model {spec.name} ({size}) from {url}", fraction)

    def save(self, result: Result) -> tuple[Any, Any]:
        """Pipeline result -> (cutout DTO, mask DTO); the mask goes into InvokeAI's mask category."""
        self.step("Saving")  # the last point to cancel: after it both images are written
        # One after the other: InvokeAI holds a process-wide lock (its image-mutation lock) across
        # each save, PNG encoding included, so saving from two threads would gain nothing.
        image_dto = self._context.images.save(image=result.cutout)
        mask_dto = self._context.images.save(image=result.mask, image_category=ImageCategory.MASK)
        return image_dto, mask_dto
