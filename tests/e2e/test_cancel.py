"""Cancelling the node during 4K alpha matting: the queue item ends canceled, nothing is saved,
and the server goes on to the next item. The cancel is sent once the node has said it is matting."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _soft_subject(size: int = 4096) -> Image.Image:
    """A large picture with a soft-edged subject, so matting has a wide band to solve."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = np.hypot(x - 0.5, y - 0.5)
    subject = np.clip((0.3 - r) * 40, 0, 1)[..., None]
    rgb = subject * np.array([230, 180, 40]) + (1 - subject) * np.dstack([x * 255, y * 255, 90 + 0 * x])
    return Image.fromarray(rgb.astype(np.uint8))


def test_cancel_during_alpha_matting_saves_nothing_and_frees_the_queue(server):
    name = server.upload(_soft_subject())
    images = server.root / "outputs" / "images"
    before = set(images.rglob("*.png"))
    with server.events() as events:
        r = server.enqueue({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp",
                                   "alpha_matting": True, "alpha_matting_erode_size": 4}})
        assert r.status_code == 200, r.text
        item_id = server.item_id(r)
        # under way: the matting reported progress past its start, so the solve is running
        events.wait_for(lambda n, d: n == "invocation_progress" and d.get("item_id") == item_id
                        and d["message"] == "Alpha matting" and (d.get("percentage") or 0) > 0)
        server.cancel(item_id)
        assert server.wait(item_id, 600)["status"] == "canceled"
        matting = [p for m, p in events.progress(item_id) if m == "Alpha matting"]
        assert max(p or 0 for p in matting) < 1, "cancelled before the matting finished"

    small = server.upload(Image.new("RGB", (40, 40), (200, 0, 0)))
    follow = server.run({"rb": {"type": "remove_background", "image": {"image_name": small}, "model": "u2netp"}})
    assert follow["status"] == "completed", follow.get("error_traceback")
    new = set(images.rglob("*.png")) - before
    follow_out = server.output(follow, "rb")
    expected = {follow_out["image"]["image_name"], follow_out["mask"]["image_name"], small}
    assert {p.name for p in new} <= expected, "the canceled node saved nothing"
