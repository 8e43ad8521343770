"""The model table and the lazy session manager, with rembg's real session classes on generated ONNX files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from remove_background_node import catalog, model_store, pipeline
from remove_background_node import RemoveBackgroundInvocation, providers
from remove_background_node.inference import predictor
from remove_background_node.sessions import LocalCache, SessionManager, cache_key, create_inference_session, create_rembg_session
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


class _Retrieved(Exception):
    """Stops rembg's download_models at pooch.retrieve, carrying what it was asked to fetch."""


def test_catalog_matches_rembgs_own_session_classes(monkeypatch):
    """Every model's URL, checksum and local file name are the ones rembg 2.0.69's own class would fetch."""
    from importlib.metadata import version

    import pooch
    from rembg.sessions import sessions

    assert version("rembg") == "2.0.69", "the catalog was checked against rembg 2.0.69, the newest the pin allows"
    assert set(catalog.MODEL_NAMES) <= set(sessions), "every catalog model has a session class in rembg"

    def retrieve(url, known_hash, fname=None, **_):
        raise _Retrieved(url, known_hash, fname)

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    monkeypatch.delenv("MODEL_CHECKSUM_DISABLED", raising=False)
    for spec in catalog.MODELS:
        with pytest.raises(_Retrieved) as asked:
            sessions[spec.name].download_models()
        url, known_hash, fname = asked.value.args
        assert url == model_store.source_url(spec, env={}), spec.name
        assert known_hash == spec.checksum, spec.name
        assert fname == spec.local_file, spec.name


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


def test_manager_loads_once_per_model_whatever_the_concurrent_first_calls(tiny_models):
    manager, cache = SessionManager(), LocalCache(size=2)
    cpu = ["CPUExecutionProvider"]
    specs = [catalog.get(n) for n in ("u2netp", "silueta", "u2net")]
    barrier = threading.Barrier(8)
    got: list[object] = []

    def first_call(spec):
        barrier.wait()
        with manager.session(spec, cpu, lambda: tiny_models[spec.name], cache) as session:
            got.append(session.inner_session)

    threads = [threading.Thread(target=first_call, args=(specs[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(name for name, _ in manager.created) == ["silueta", "u2netp"]
    assert sum(manager.created.values()) == 2, "one session per model, however many first calls"
    assert len({id(s) for s in got}) == 2

    with manager.session(specs[0], cpu, lambda: tiny_models["u2netp"], cache):
        pass  # u2netp becomes the most recent
    with manager.session(specs[2], cpu, lambda: tiny_models["u2net"], cache):
        pass  # the cache evicts silueta, the least recent
    assert [key.name for key in cache.keys()] == ["u2netp.onnx", "u2net.onnx"]
    with manager.session(specs[0], cpu, lambda: tiny_models["u2netp"], cache) as session:
        assert session.inner_session in got, "a cached session is handed out again, not rebuilt"
    assert sum(manager.created.values()) == 3


def test_a_session_is_rembgs_class_around_the_cached_inference_session(tiny_models):
    spec = catalog.get("u2net_cloth_seg")
    inner = create_inference_session(tiny_models[spec.name], ["CPUExecutionProvider"])
    with SessionManager().session(spec, ["CPUExecutionProvider"], lambda: tiny_models[spec.name], lambda key, loader: _held(inner)) as session:
        from rembg.sessions import sessions

        assert type(session) is sessions[spec.name] and session.inner_session is inner
        assert len(session.predict(Image.new("RGB", (64, 48)))) == 3, "rembg's own cloth post-processing"


def test_a_rembg_older_than_the_pin_is_named_with_what_to_do(monkeypatch):
    """rembg 2.0.59 to 2.0.64 list their session classes (sessions_class) and have no ``sessions`` dict."""
    import sys
    import types
    from importlib.metadata import version

    from remove_background_node.sessions import wrap

    old = types.ModuleType("rembg.sessions")
    old.sessions_class, old.sessions_names = [], []
    monkeypatch.setitem(sys.modules, "rembg.sessions", old)
    with pytest.raises(RuntimeError, match=r"tools/install_deps.py") as raised:
        wrap(catalog.get("u2netp"), object())
    assert f"({version('rembg')})" in str(raised.value), "names the rembg installed"


def _held(model):
    from contextlib import nullcontext

    return nullcontext(model)


def test_a_worker_pinned_to_the_second_gpu_gets_a_session_of_its_own_on_it(tiny_models, monkeypatch):
    """InvokeAI pins each generation worker to its GPU; no GPU exists here, so the session factory
    records the providers it is given instead of building a CUDA session."""
    from invokeai.backend.util.devices import TorchDevice

    from remove_background_node.host import Host

    monkeypatch.setattr(providers, "available", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    given: dict[str, list] = {}
    manager, cache = SessionManager(create=lambda path, chosen: ("session", tuple(map(str, chosen)))), LocalCache()
    spec = catalog.get("u2netp")

    def worker(device: str) -> None:
        TorchDevice.set_session_device(device)
        try:
            chosen = Host(context=None).providers("auto")
            with manager.session(spec, chosen, lambda: tiny_models["u2netp"], cache) as session:
                given[device] = [chosen, session.inner_session]
        finally:
            TorchDevice.clear_session_device()

    for device in ("cuda:1", "cuda:0", "cuda:1"):
        t = threading.Thread(target=worker, args=(device,))
        t.start()
        t.join(60)
    chosen, inner = given["cuda:1"]
    assert chosen == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert given["cuda:0"][0][0] == ("CUDAExecutionProvider", {"device_id": 0})
    assert inner is not given["cuda:0"][1], "each GPU has a session of its own"
    assert sum(manager.created.values()) == 2, "the second cuda:1 call reuses its session"
    assert cache_key(tiny_models["u2netp"], chosen).name == "u2netp.onnx@cuda:1"
    assert cache_key(tiny_models["u2netp"], ["CPUExecutionProvider"]) == tiny_models["u2netp"]
