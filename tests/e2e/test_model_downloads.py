"""Model downloads through InvokeAI's real download queue, from a loopback mirror, with no model on disk.

The headless server tests share one server (a start costs ~20 s) and run in file order: the
u2netp story (missing -> corrupt -> good -> cached) and then a restart on the same root without
private URLs allowed. Each failure mode of the mirror uses its own model name, so no state leaks
between them; InvokeAI's model cache keeps a model once it loaded, which is why the
cache-across-restart check starts a new server process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from remove_background_node import RemoveBackgroundInvocation, catalog, model_store
from tests.harness import context as invoke_context
from tests.harness.server import Server
from tests.harness.mirror import Mirror

U2NETP = catalog.get("u2netp")
IMAGE = Image.new("RGB", (64, 48), (200, 30, 30))
STALL_SECONDS = 15

pytestmark = pytest.mark.invokeai("6.13.0", feature="allow_private_download_urls")


@pytest.fixture(scope="module")
def mirror():
    with Mirror() as m:
        yield m


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("download-root")


def server_env(root: Path, mirror: Mirror, allow_private: bool) -> dict[str, str]:
    """The server's environment: the mirror, an empty rembg home, a stall timeout short enough to wait for
    and long enough that a loaded machine never stalls a good loopback download that long."""
    env = {
        model_store.MIRROR_ENV: mirror.url,
        "U2NET_HOME": str(root / "empty-rembg-home"),  # a ~/.u2net on the machine must not help
        model_store.TIMEOUT_ENV: str(STALL_SECONDS),
    }
    if allow_private:
        env["INVOKEAI_ALLOW_PRIVATE_DOWNLOAD_URLS"] = "true"
    return env


@pytest.fixture(scope="module")
def dl_server(root: Path, mirror: Mirror):
    with Server(root, env=server_env(root, mirror, allow_private=True)) as srv:
        yield srv


def run(server: Server, model: str) -> dict:
    """Run the node with ``model`` on a small image -> the finished queue item."""
    name = server.upload(IMAGE)
    return server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": model}}, timeout=300)


def cache_files(root: Path, spec: catalog.ModelSpec) -> list[Path]:
    """Every file InvokeAI's download cache holds for this model's release file."""
    cache = root / "models" / ".download_cache"
    return [p for p in cache.rglob("*") if p.is_file() and spec.release_file in p.name] if cache.is_dir() else []


def test_u2netp_missing_then_corrupt_then_good_then_no_request(dl_server: Server, mirror: Mirror, root: Path, u2netp_file: Path):
    good = u2netp_file.read_bytes()
    folder = root / "models" / "rembg"
    assert not (folder / U2NETP.local_file).exists() and not cache_files(root, U2NETP)

    mirror.serve(U2NETP.release_file, "missing")
    item = run(dl_server, "u2netp")
    assert item["status"] == "failed"
    message = item["error_message"]
    for part in ("u2netp", "models/rembg", str(folder / U2NETP.local_file), mirror.url + U2NETP.release_file, U2NETP.checksum):
        assert part in message, message
    assert mirror.count(U2NETP.release_file) == 1

    mirror.serve(U2NETP.release_file, "corrupt", good)
    item = run(dl_server, "u2netp")
    assert item["status"] == "failed"
    assert U2NETP.checksum in item["error_message"] and "deleted" in item["error_message"], item["error_message"]
    assert cache_files(root, U2NETP) == [], "the corrupt download must not stay in InvokeAI's download cache"
    assert mirror.count(U2NETP.release_file) == 2

    mirror.serve(U2NETP.release_file, "good", good)
    item = run(dl_server, "u2netp")
    assert item["status"] == "completed", item.get("error_traceback")
    assert mirror.count(U2NETP.release_file) == 3, "the good file is fetched with exactly one request"
    [cached] = cache_files(root, U2NETP)
    assert cached.read_bytes() == good
    assert not (folder / U2NETP.local_file).exists(), "a download stays in InvokeAI's cache, not copied"

    item = run(dl_server, "u2netp")
    assert item["status"] == "completed", item.get("error_traceback")
    assert mirror.count(U2NETP.release_file) == 3, "a second run makes no request at all"


def test_connection_dropped_mid_body_fails_and_leaves_no_partial_file(dl_server: Server, mirror: Mirror, root: Path, u2netp_file: Path):
    spec = catalog.get("silueta")
    mirror.serve(spec.release_file, "drop", u2netp_file.read_bytes())
    item = run(dl_server, spec.name)
    assert item["status"] == "failed"
    message = item["error_message"]
    for part in ("silueta", mirror.url + spec.release_file, str(root / "models" / "rembg" / spec.local_file), spec.checksum):
        assert part in message, message
    assert "partial file was deleted" in message, message
    assert cache_files(root, spec) == []
    assert mirror.count(spec.release_file) == 1


def test_server_too_slow_to_answer_fails_after_the_stall_timeout(dl_server: Server, mirror: Mirror, root: Path, u2netp_file: Path):
    spec = catalog.get("isnet-anime")
    mirror.serve(spec.release_file, "slow")
    item = run(dl_server, spec.name)
    assert item["status"] == "failed"
    message = item["error_message"]
    assert f"sent nothing for {STALL_SECONDS} s" in message and model_store.TIMEOUT_ENV in message, message
    for part in ("isnet-anime", mirror.url + spec.release_file, str(root / "models" / "rembg" / spec.local_file), spec.checksum):
        assert part in message, message
    # the server still works: the stuck request holds one download worker, not the queue
    mirror.serve(U2NETP.release_file, "good", u2netp_file.read_bytes())  # as the first test left it, if run alone
    assert run(dl_server, "u2netp")["status"] == "completed"


def test_restart_without_private_urls_uses_the_cache_and_names_the_setting(dl_server: Server, mirror: Mirror, root: Path):
    assert cache_files(root, U2NETP), "needs the u2netp download from the first test in this file"
    dl_server.stop()
    before = mirror.total()
    with Server(root, env=server_env(root, mirror, allow_private=False)) as srv:
        item = run(srv, "u2netp")  # a new process: the file comes from InvokeAI's download cache
        assert item["status"] == "completed", item.get("error_traceback")

        spec = catalog.get("u2net_human_seg")
        mirror.serve(spec.release_file, "good", b"never sent")
        item = run(srv, spec.name)
        assert item["status"] == "failed"
        message = item["error_message"]
        for part in ("allow_private_download_urls", "INVOKEAI_ALLOW_PRIVATE_DOWNLOAD_URLS=true", mirror.url + spec.release_file):
            assert part in message, message
    assert mirror.total() == before, "neither the cached model nor the refused mirror may cause a request"


def test_progress_shows_model_size_and_percentage(tmp_path: Path, mirror: Mirror, u2netp_file: Path, monkeypatch):
    """In-process, the node on InvokeAI's real services and download queue: the events it sends.

    The mirror sends half of the file and holds the rest until the node has shown a percentage
    between 0 and 1, so the progress is seen mid-download however fast or slow the machine is.
    """
    monkeypatch.setenv(model_store.MIRROR_ENV, mirror.url)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "empty-rembg-home"))
    # the node's stall timer outlasts the test's wait below, so a slow machine fails the wait, not the download
    monkeypatch.setenv(model_store.TIMEOUT_ENV, str(3 * model_store.DEFAULT_TIMEOUT))
    mirror.serve(U2NETP.release_file, "gate", u2netp_file.read_bytes())
    before = mirror.count(U2NETP.release_file)
    (tmp_path / "models").mkdir()  # InvokeAI's installer expects the models folder of an existing root
    harness = invoke_context.build(tmp_path, allow_private_download_urls=True)

    def downloading(event) -> bool:
        return type(event).__name__ == "InvocationProgressEvent" and event.message.startswith("Downloading model u2netp")

    def midway(event) -> bool:
        return downloading(event) and event.percentage is not None and 0 < event.percentage < 1

    try:
        node = RemoveBackgroundInvocation(id="rb", image={"image_name": harness.upload(IMAGE)}, model="u2netp")
        with ThreadPoolExecutor(max_workers=1) as pool:
            finished = pool.submit(harness.run, node)
            try:
                # a bound for a broken node only: the node polls the partial file every model_store.POLL s
                seen_midway = harness.events.wait_for(midway, timeout=2 * model_store.DEFAULT_TIMEOUT)
            finally:
                mirror.release(U2NETP.release_file)  # the rest of the body, whatever was seen
            finished.result()
    finally:
        harness.stop()
    assert seen_midway is not None, "no progress with a percentage while half the file had arrived"
    assert mirror.count(U2NETP.release_file) == before + 1
    events = [e for e in harness.events.events if downloading(e)]
    assert any("(4.6 MB)" in e.message for e in events), [e.message for e in events]
    assert any(e.percentage is not None and 0 < e.percentage < 1 for e in events), [
        (e.message, e.percentage) for e in events
    ]
