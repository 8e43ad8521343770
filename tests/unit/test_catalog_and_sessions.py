"""The model table and the lazy session manager, with rembg's real session classes on generated ONNX files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog, pipeline
from remove_background_node.invocation import RemoveBackgroundInvocation
from remove_background_node.sessions import SessionManager, create_rembg_session, predictor
from tests.harness import tiny_onnx

REQUIRED = (
    "u2net u2netp u2net_human_seg u2net_cloth_seg silueta isnet-general-use isnet-anime birefnet-general "
    "birefnet-general-lite birefnet-portrait birefnet-dis birefnet-hrsod birefnet-cod birefnet-massive"
).split()


def test_dropdown_comes_from_the_catalog():
    schema = RemoveBackgroundInvocation.model_json_schema()["properties"]["model"]
    assert schema["enum"] == list(catalog.MODEL_NAMES)
    assert set(REQUIRED) <= set(catalog.MODEL_NAMES)
    assert schema["default"] == catalog.DEFAULT_MODEL == "u2net"
    assert "non-commercial" in schema["ui_choice_labels"]["bria-rmbg"]


def test_catalog_matches_rembgs_own_session_classes():
    from rembg.sessions import sessions

    for spec in catalog.MODELS:
        assert spec.name in sessions, spec.name
        algorithm, _, digest = spec.checksum.partition(":")
        assert algorithm in {"md5", "sha256"} and int(digest, 16) >= 0
        assert spec.release_file.endswith(".onnx") and spec.local_file == f"{spec.name}.onnx"


def test_unknown_model_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="u2netp"):
        catalog.get("sam")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny-models")
    return {spec.name: tiny_onnx.write(spec, folder) for spec in catalog.MODELS}


@pytest.mark.parametrize("name", catalog.MODEL_NAMES)
def test_every_model_runs_through_rembgs_session_class(name, tiny_models):
    """Each catalog model's own rembg pre/post-processing runs on an ONNX file of its shape, and the
    pipeline returns one RGBA cutout and one L mask of the input's size (cloth seg: never stacked)."""
    spec = catalog.get(name)
    session = create_rembg_session(spec, tiny_models[name], ["CPUExecutionProvider"])
    source = Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 130, 3), dtype=np.uint8))
    result = pipeline.remove_background(source, predictor(session))
    assert result.cutout.mode == "RGBA" and result.cutout.size == source.size
    assert result.mask.mode == "L" and result.mask.size == source.size


def test_manager_loads_once_keeps_a_bounded_lru_and_survives_concurrent_first_calls(tiny_models):
    created: list[str] = []
    lock = threading.Lock()

    def counting_factory(spec, path, providers):
        with lock:
            created.append(spec.name)
        return create_rembg_session(spec, path, providers)

    manager = SessionManager(counting_factory, max_loaded=2)
    cpu = ["CPUExecutionProvider"]
    specs = [catalog.get(n) for n in ("u2netp", "silueta", "u2net")]
    barrier = threading.Barrier(8)
    got: list[object] = []

    def first_call(spec):
        barrier.wait()
        got.append(manager.get(spec, lambda: tiny_models[spec.name], cpu))

    threads = [threading.Thread(target=first_call, args=(specs[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(created) == ["silueta", "u2netp"], "one session per model, however many first calls"
    assert len({id(s) for s in got}) == 2

    manager.get(specs[0], lambda: tiny_models["u2netp"], cpu)  # u2netp becomes most recent
    manager.get(specs[2], lambda: tiny_models["u2net"], cpu)  # evicts silueta, the least recent
    assert manager.loaded() == ["u2netp", "u2net"]
    manager.get(specs[0], lambda: pytest.fail("a loaded model must not be located again"), cpu)
    assert created.count("u2netp") == 1
