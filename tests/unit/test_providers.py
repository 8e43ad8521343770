"""Which onnxruntime providers a session gets, given what onnxruntime offers and what InvokeAI runs on."""

from __future__ import annotations

import pytest

from remove_background_node.providers import CPU, CUDA, GPU_HINT, choose

CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
WITH_ROCM = ["ROCMExecutionProvider", "CPUExecutionProvider"]


def test_cuda_host_with_cuda_provider_uses_the_gpu_then_cpu() -> None:
    assert choose(WITH_CUDA, "cuda") == ([(CUDA, {"device_id": 0}), CPU], None)


@pytest.mark.parametrize(("torch_device", "index"), [("cuda:0", 0), ("cuda:1", 1), ("cuda:3", 3)])
def test_each_gpu_worker_gets_its_own_gpu(torch_device: str, index: int) -> None:
    assert choose(WITH_CUDA, torch_device) == ([(CUDA, {"device_id": index}), CPU], None)


def test_never_picks_tensorrt_even_when_offered_first() -> None:
    providers, _ = choose(WITH_CUDA, "cuda")
    assert "TensorrtExecutionProvider" not in [p[0] if isinstance(p, tuple) else p for p in providers]


def test_cuda_host_without_cuda_provider_falls_back_to_cpu_with_the_hint() -> None:
    providers, warning = choose(CPU_ONLY, "cuda")
    assert providers == [CPU]
    assert warning == GPU_HINT
    assert "onnxruntime-gpu" in warning


@pytest.mark.parametrize("torch_device", ["cpu", "mps"])
def test_non_cuda_host_uses_cpu_silently_even_if_cuda_is_offered(torch_device: str) -> None:
    assert choose(WITH_CUDA, torch_device) == ([CPU], None)


def test_device_cpu_keeps_vram_free_on_a_cuda_host() -> None:
    assert choose(WITH_CUDA, "cuda", "cpu") == ([CPU], None)


def test_device_cpu_gives_no_gpu_hint() -> None:
    assert choose(CPU_ONLY, "cuda", "cpu") == ([CPU], None)


def test_rocm_is_not_chosen_for_a_cuda_host() -> None:
    # ROCm builds of torch report "cuda"; without the CUDA provider we stay on the CPU and explain
    providers, warning = choose(WITH_ROCM, "cuda")
    assert providers == [CPU] and warning == GPU_HINT


def test_cpu_is_always_last() -> None:
    for available in (CPU_ONLY, WITH_CUDA, WITH_ROCM):
        for device in ("cuda", "cpu", "mps"):
            providers, _ = choose(available, device)
            assert providers[-1] == CPU


def test_returns_a_fresh_list_each_time() -> None:
    first, _ = choose(WITH_CUDA, "cuda")
    first.append("X")
    first[0][1]["device_id"] = 7
    assert choose(WITH_CUDA, "cuda")[0] == [(CUDA, {"device_id": 0}), CPU]
