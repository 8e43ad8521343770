"""Threads sharing the session manager get correct results; only local, verified, catalogued models run."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from remove_background_node import catalog, model_store, pipeline
from remove_background_node.inference import predictor
from remove_background_node.sessions import LocalCache, SessionManager
from tests.harness import tiny_onnx

PACK = Path(__file__).resolve().parents[2] / "remove_background_node"


def test_threads_with_two_models_match_sequential_results(u2netp_file, rembg_fixtures, tmp_path):
    files = {"u2netp": u2netp_file, "silueta": tiny_onnx.write(catalog.get("silueta"), tmp_path)}
    manager, cache = SessionManager(), LocalCache(size=2)
    images = [Image.open(rembg_fixtures / n).convert("RGB") for n in ("anime-girl-1.jpg", "car-1.jpg", "cloth-1.jpg")]

    def run(model: str, image: Image.Image) -> np.ndarray:
        with manager.session(catalog.get(model), ["CPUExecutionProvider"], lambda: files[model], cache) as session:
            return np.asarray(pipeline.remove_background(image, predictor(session)).mask)

    jobs = [(m, i) for m in files for i in range(len(images))] * 2
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            results[k] = run(jobs[k][0], images[jobs[k][1]])
        except BaseException as e:  # surfaced below rather than lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors, errors
    assert sorted(name for name, _ in manager.created) == ["silueta", "u2netp"]
    assert sum(manager.created.values()) == 2
    for k, (model, i) in enumerate(jobs):
        assert np.array_equal(results[k], run(model, images[i])), (model, i)
    assert len(cache.keys()) == 2


def test_only_local_models_are_reachable():
    cloud_or_prompted = {"withoutbg", "atlascloud", "sam", "u2net_custom", "dis_custom", "ben_custom"}
    assert not cloud_or_prompted & set(catalog.MODEL_NAMES)
    for spec in catalog.MODELS:
        assert model_store.source_url(spec, env={}).startswith("https://")
        assert "/" not in spec.name and ".." not in spec.name


def test_pack_never_unpickles():
    source = "\n".join(p.read_text() for p in PACK.rglob("*.py"))
    assert not re.search(r"\bimport pickle\b|pickle\.load|torch\.load|\beval\(|\bexec\(", source)
