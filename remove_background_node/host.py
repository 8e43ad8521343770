"""The adapter between InvokeAI and the pipeline: the only module below invocation.py that imports InvokeAI.

It loads the input as PIL, resolves and loads the model (progress, download queue, providers),
reports progress and honours cancellation between steps, and saves the cutout and the mask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
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
        return self._context.images.get_pil(image.image_name)

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
                self._context.models.download_and_cache_model,
                on_download=lambda url: self.step(f"Downloading {spec.name} (about {spec.size_mb} MB) from {url}"),
            )

        return MANAGER.get(
            spec, locate, self.providers(device), on_load=lambda: self.step(f"Loading model {spec.name}")
        )

    def save(self, result: Result) -> tuple[Any, Any]:
        """Pipeline result -> (cutout DTO, mask DTO); the mask goes into InvokeAI's mask category."""
        self.step("Saving")  # the last point to cancel: after it both images are written
        image_dto = self._context.images.save(image=result.cutout)
        mask_dto = self._context.images.save(image=result.mask, image_category=ImageCategory.MASK)
        return image_dto, mask_dto


def predictor(session: Any, **kwargs: Any) -> Callable[[Image.Image], Sequence[Image.Image]]:
    """rembg session and predict() keyword arguments -> a predict function for the pipeline."""
    return lambda image: session.predict(image, **kwargs)
