"""The node inside a real InvocationContext: real InvokeAI services, real rembg, real u2netp weights."""

from __future__ import annotations

from PIL import Image

from invokeai.invocation_api import ImageCategory, ImageField
from remove_background_node import RemoveBackgroundInvocation
from remove_background_node.sessions import MANAGER
from tests.reference import check_matches_rembg


def test_reproduces_rembgs_expected_u2netp_result(harness, peer):
    source = Image.open(peer / "anime-girl-1.jpg")
    name = harness.upload(source)
    out = harness.run(RemoveBackgroundInvocation(id="rb", image=ImageField(image_name=name), model="u2netp"))

    cutout, mask = harness.pil(out.image.image_name), harness.pil(out.mask.image_name)
    check_matches_rembg(cutout, mask, source, Image.open(peer / "anime-girl-1.u2netp.png"))
    assert (out.width, out.height) == source.size
    assert harness.dto(out.mask.image_name).image_category == ImageCategory.MASK
    assert harness.dto(out.image.image_name).image_category == ImageCategory.GENERAL


def test_progress_is_reported_and_the_session_is_reused(harness, peer):
    name = harness.upload(Image.open(peer / "car-1.jpg"))
    harness.events.events.clear()
    harness.run(RemoveBackgroundInvocation(id="rb1", image=ImageField(image_name=name), model="u2netp"))
    harness.run(RemoveBackgroundInvocation(id="rb2", image=ImageField(image_name=name), model="u2netp"))
    messages = harness.events.progress_messages()
    assert "Finding the subject" in messages and "Saving" in messages
    # loaded at most once in this process (the first test may have loaded it already), never per call
    assert messages.count("Loading model u2netp") <= 1
    assert "u2netp" in MANAGER.loaded()


def test_cancel_before_work_saves_nothing(harness, peer):
    import pytest
    from invokeai.app.services.session_processor.session_processor_common import CanceledException

    name = harness.upload(Image.open(peer / "car-1.jpg"))
    before = len(list((harness.root / "outputs" / "images").glob("*.png")))
    harness.canceled = lambda: True
    try:
        with pytest.raises(CanceledException):
            harness.run(RemoveBackgroundInvocation(id="rbc", image=ImageField(image_name=name), model="u2netp"))
    finally:
        harness.canceled = lambda: False
    assert len(list((harness.root / "outputs" / "images").glob("*.png"))) == before
