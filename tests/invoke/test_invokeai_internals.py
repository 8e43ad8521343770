"""The private InvokeAI names the pack leans on (host._download_internals), checked against InvokeAI's real
download queue: this fails when an InvokeAI release moves the download cache or renames the queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from remove_background_node import host
from remove_background_node.invocations.remove_background import RemoveBackgroundInvocation
from tests.harness.mirror import Mirror

pytestmark = pytest.mark.invokeai("6.13.0", feature="allow_private_download_urls")

DATA = bytes(range(256)) * 400  # 100 kB


def test_download_internals_name_invokeais_own_cache_folder_and_size(tmp_path: Path) -> None:
    from tests.harness import context

    (tmp_path / "models").mkdir()
    harness = context.build(tmp_path, allow_private_download_urls=True)
    try:
        with Mirror() as mirror:
            mirror.serve("toy.onnx", "good", DATA)
            url = mirror.url + "toy.onnx"
            _, ctx = harness.context(RemoveBackgroundInvocation(id="rb", image={"image_name": "unused"}))
            folder, total = host._download_internals(ctx)  # noqa: SLF001
            assert total(url) == 0, "nothing is queued for this URL yet"
            downloaded = Path(ctx.models.download_and_cache_model(url))
            assert downloaded.read_bytes() == DATA
            assert downloaded.parent == folder(url), "the partial file is looked for where InvokeAI writes it"
            assert total(url) == len(DATA), "the size comes from the download queue's own job"
    finally:
        harness.stop()
