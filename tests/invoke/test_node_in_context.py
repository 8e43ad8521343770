"""The node inside a real InvocationContext: real InvokeAI services, real rembg, real u2net and u2netp weights."""

from __future__ import annotations

import contextlib
import os
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from invokeai.backend.util.devices import TorchDevice
from invokeai.invocation_api import ImageCategory, ImageField
from remove_background_node import RemoveBackgroundInvocation, catalog, providers
from remove_background_node.mask_cache import MASKS
from remove_background_node.sessions import MANAGER
from tests.harness import fixtures
from tests.harness.reference import check_matches_rembg


@pytest.fixture
def sessions_handed_out(monkeypatch) -> list[tuple[str, tuple, object]]:
    """-> a list that gets (model, providers, the InferenceSession inside) for each session the manager hands out."""
    given: list[tuple[str, tuple, object]] = []
    real_session = MANAGER.session

    @contextlib.contextmanager
    def recording_session(spec, session_providers, locate, load):
        with real_session(spec, session_providers, locate, load) as session:
            given.append((spec.name, tuple(session_providers), session.inner_session))
            yield session

    monkeypatch.setattr(MANAGER, "session", recording_session)
    return given


@pytest.mark.parametrize("model", [None, "u2netp"], ids=["defaults-u2net", "u2netp"])
def test_reproduces_rembgs_expected_result(harness, model):
    """With no model chosen the node runs its default, u2net; both match rembg's own expected files."""
    source = Image.open(fixtures.ANIME)
    name = harness.upload(source)
    fields = {"model": model} if model else {}
    out = harness.run(RemoveBackgroundInvocation(id="rb", image=ImageField(image_name=name), **fields))

    cutout, mask = harness.pil(out.image.image_name), harness.pil(out.mask.image_name)
    check_matches_rembg(cutout, mask, source, Image.open(fixtures.expected(model or catalog.DEFAULT_MODEL)))
    assert (out.width, out.height) == source.size
    assert harness.dto(out.mask.image_name).image_category == ImageCategory.MASK
    assert harness.dto(out.image.image_name).image_category == ImageCategory.GENERAL


def test_progress_is_reported_and_the_session_is_reused(harness, rembg_fixtures, sessions_handed_out):
    name = harness.upload(Image.open(rembg_fixtures / "car-1.jpg"))
    key = ("u2netp", repr(("CPUExecutionProvider",)))
    harness.events.events.clear()
    MASKS.clear()  # an earlier test may have cut out this picture with this model: the first run must run it
    before = MANAGER.created[key]  # other tests' harnesses and model caches may have made some already
    harness.run(RemoveBackgroundInvocation(id="rb1", image=ImageField(image_name=name), model="u2netp"))
    after_first = MANAGER.created[key]
    MASKS.clear()  # or the second run takes the model's mask from the cache and never asks for a session
    harness.run(RemoveBackgroundInvocation(id="rb2", image=ImageField(image_name=name), model="u2netp"))
    messages = harness.events.progress_messages()
    assert messages.count("Finding the subject") == 2 and "Saving" in messages
    # at most once for this harness's model cache (an earlier test here may have loaded it), never per call
    assert after_first - before <= 1 and MANAGER.created[key] == after_first
    handed_out = [model for model, _, _ in sessions_handed_out]
    assert handed_out == ["u2netp", "u2netp"], "each call's session came through the manager"


def test_cancel_before_work_saves_nothing(harness, rembg_fixtures):
    from invokeai.app.services.session_processor.session_processor_common import CanceledException

    name = harness.upload(Image.open(rembg_fixtures / "car-1.jpg"))
    before = len(list((harness.root / "outputs" / "images").glob("*.png")))
    harness.canceled = lambda: True
    try:
        with pytest.raises(CanceledException):
            harness.run(RemoveBackgroundInvocation(id="rbc", image=ImageField(image_name=name), model="u2netp"))
    finally:
        harness.canceled = lambda: False
    assert len(list((harness.root / "outputs" / "images").glob("*.png"))) == before


def test_device_cpu_keeps_the_session_on_the_cpu(harness, monkeypatch, sessions_handed_out):
    """On a CUDA host whose onnxruntime offers CUDA, device="cpu" gets a session made with the CPU provider only.

    No GPU exists here: onnxruntime is made to list CUDA and InvokeAI's torch device to say cuda, and
    the test looks at what the node handed the session manager and at the real InferenceSession it got.
    Only device="cpu" runs; that "auto" would take the GPU under the same conditions is read from
    ``providers.choose``, so no CUDA session is ever built.
    """
    monkeypatch.setattr(providers, "available", lambda: [providers.CUDA, providers.CPU])
    monkeypatch.setattr(TorchDevice, "choose_torch_device", classmethod(lambda cls: torch.device("cuda")))

    chosen: list[tuple] = []  # (available, torch device, device) -> providers, each time the node chose
    real_choose = providers.choose

    def recording_choose(available, torch_device, device="auto"):
        result = real_choose(available, torch_device, device)
        chosen.append(((list(available), torch_device, device), result))
        return result

    monkeypatch.setattr(providers, "choose", recording_choose)

    given = sessions_handed_out  # (model, providers, the InferenceSession inside the session handed out)
    created_before = MANAGER.created.copy()
    # a picture no other test uses, so the model runs (no cached mask) and a session is handed out
    pixels = np.random.default_rng(20240611).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    name = harness.upload(Image.fromarray(pixels))
    harness.run(RemoveBackgroundInvocation(id="rb-cpu", image=ImageField(image_name=name), model="u2netp", device="cpu"))

    assert given, "the node asked the session manager for a session"
    for model, session_providers, inner in given:
        assert (model, session_providers) == ("u2netp", (providers.CPU,))
        assert isinstance(inner, ort.InferenceSession) and inner.get_providers() == [providers.CPU]
    new = MANAGER.created - created_before
    assert all(key[1] == repr((providers.CPU,)) for key in new), f"only CPU sessions were made: {dict(new)}"

    assert chosen, "the node chose its providers through providers.choose"
    for (available, torch_device, device), result in chosen:
        assert (available, torch_device, device) == ([providers.CUDA, providers.CPU], "cuda", "cpu")
        assert result == ([providers.CPU], None)
        # the same host with the node left on "auto" would put the session on the GPU
        assert real_choose(available, torch_device, "auto") == ([(providers.CUDA, {"device_id": 0}), providers.CPU], None)


def test_cloth_category_is_ignored_by_other_models(harness, rembg_fixtures):
    """u2netp run twice on one picture, once with a cloth category: the model runs both times, same mask."""
    name = harness.upload(Image.open(rembg_fixtures / "cloth-1.jpg"))
    masks = []
    for i, category in enumerate(("all", "upper")):
        MASKS.clear()  # the model runs each time instead of answering from the mask cache
        harness.events.events.clear()
        out = harness.run(RemoveBackgroundInvocation(id=f"rb-cc{i}", image=ImageField(image_name=name), model="u2netp",
                                                     cloth_category=category))
        assert "Finding the subject" in harness.events.progress_messages()
        masks.append(np.asarray(harness.pil(out.mask.image_name)))
    assert masks[0].any() and (masks[0] == masks[1]).all()


def test_a_model_file_replaced_under_the_same_name_is_run_again(harness, rembg_fixtures):
    """Cached masks are keyed by the model's file, not only its name: after u2netp's file is replaced (here by a copy
    carrying the old mtime, as cp -p leaves one), the same picture goes through the model again."""
    name = harness.upload(Image.open(rembg_fixtures / "car-1.jpg"))
    MASKS.clear()

    def model_ran(run_id: str) -> bool:
        harness.events.events.clear()
        harness.run(RemoveBackgroundInvocation(id=run_id, image=ImageField(image_name=name), model="u2netp"))
        return "Finding the subject" in harness.events.progress_messages()

    assert model_ran("rb-file1") and not model_ran("rb-file2"), "the second run answers from the cache"
    placed = harness.root / "models" / "rembg" / "u2netp.onnx"
    copy = placed.with_name("u2netp.onnx.copy")
    shutil.copy2(placed, copy)  # the same bytes (the checksum holds) and the same mtime
    os.replace(copy, placed)
    assert model_ran("rb-file3"), "a replaced model file is not answered for from the cache"
