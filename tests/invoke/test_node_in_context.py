"""The node inside a real InvocationContext: real InvokeAI services, real rembg, real u2netp weights."""

from __future__ import annotations

import pytest
from PIL import Image

from invokeai.invocation_api import ImageCategory, ImageField
from remove_background_node import RemoveBackgroundInvocation, catalog
from remove_background_node.sessions import MANAGER
from tests.harness import fixtures
from tests.harness.reference import check_matches_rembg


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


def test_progress_is_reported_and_the_session_is_reused(harness, rembg_fixtures):
    name = harness.upload(Image.open(rembg_fixtures / "car-1.jpg"))
    key = ("u2netp", repr(("CPUExecutionProvider",)))
    harness.events.events.clear()
    before = MANAGER.created[key]  # other tests' harnesses and model caches may have made some already
    harness.run(RemoveBackgroundInvocation(id="rb1", image=ImageField(image_name=name), model="u2netp"))
    after_first = MANAGER.created[key]
    harness.run(RemoveBackgroundInvocation(id="rb2", image=ImageField(image_name=name), model="u2netp"))
    messages = harness.events.progress_messages()
    assert "Finding the subject" in messages and "Saving" in messages
    # at most once for this harness's model cache (an earlier test here may have loaded it), never per call
    assert after_first - before <= 1 and MANAGER.created[key] == after_first
    assert MANAGER.created[key] >= 1, "the session came through the manager"


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
