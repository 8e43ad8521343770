"""Which onnxruntime execution providers a session gets, from what is available and what InvokeAI uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Device = Literal["auto", "cpu"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

GPU_HINT = (
    "InvokeAI runs on CUDA but onnxruntime has no CUDA provider, so background removal runs on the "
    "CPU. To use the GPU, replace onnxruntime with onnxruntime-gpu of the same version in InvokeAI's "
    "environment: pip uninstall -y onnxruntime && pip install onnxruntime-gpu==<version>."
)


def choose(available: Sequence[str], torch_device: str, device: Device = "auto") -> tuple[list[str], str | None]:
    """Available ORT providers, InvokeAI's torch device type ('cuda', 'cpu', 'mps') and the node's
    device choice -> (providers in priority order, a warning to log once or None)."""
    if device == "cpu":
        return [CPU], None
    if torch_device == "cuda":
        if CUDA in available:
            return [CUDA, CPU], None
        return [CPU], GPU_HINT
    return [CPU], None
