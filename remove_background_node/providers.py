"""Which onnxruntime execution providers a session gets, from what is available and the device InvokeAI runs on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Union

import onnxruntime as ort

Device = Literal["auto", "cpu"]
Provider = Union[str, tuple[str, dict[str, Any]]]  # a name, or (name, provider options) as onnxruntime takes them

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

GPU_HINT = (
    "InvokeAI runs on CUDA but onnxruntime has no CUDA provider, so background removal runs on the "
    "CPU. To use the GPU, replace onnxruntime with onnxruntime-gpu of the same version in InvokeAI's "
    "environment: pip uninstall -y onnxruntime && pip install onnxruntime-gpu==<version>."
)


def available() -> list[str]:
    """-> the execution providers this onnxruntime build offers."""
    return ort.get_available_providers()


def choose(available: Sequence[str], torch_device: str, device: Device = "auto") -> tuple[list[Provider], str | None]:
    """Available ORT providers, InvokeAI's torch device for this worker ('cuda:1', 'cuda', 'cpu', 'mps') and
    the node's device choice -> (providers in priority order, a warning to log once or None).

    InvokeAI runs one session per GPU at once, each worker pinned to its GPU: a CUDA session goes
    on that worker's GPU (``device_id``), not always on the first.
    """
    kind, _, index = torch_device.partition(":")
    if device == "cpu":
        return [CPU], None
    if kind == "cuda":
        if CUDA in available:
            return [(CUDA, {"device_id": int(index or 0)}), CPU], None
        return [CPU], GPU_HINT
    return [CPU], None
