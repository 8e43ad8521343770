"""model_store on real files in temporary folders, and real HTTP downloads from the loopback mirror."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from remove_background_node import catalog, model_store
from remove_background_node.catalog import ModelSpec
from remove_background_node.model_store import Downloader, ModelFileError
from tests.harness.mirror import Mirror

TOY_BYTES = b"toy onnx model " * 5000  # 75 kB: big enough to be sent in several pieces


def toy_spec(data: bytes = TOY_BYTES, algorithm: str = "md5") -> ModelSpec:
    """A catalog entry whose release file name differs from its local name, checksummed over ``data``."""
    digest = hashlib.new(algorithm, data).hexdigest()
    return ModelSpec("toy", "Toy", "", "Toy-epoch_1.onnx", f"{algorithm}:{digest}", 320, 1, "MIT")


def url_downloader(cache: Path) -> Downloader:
    """A plain urllib downloader that behaves like InvokeAI's cache: one folder per URL, <file>.downloading
    while it runs, and a file already in the folder is returned without network access."""

    def folder(url: str) -> Path:
        return cache / url.replace("/", "_").replace(":", "_")

    def fetch(url: str) -> Path:
        target = folder(url)
        if target.is_dir() and any(target.iterdir()):
            return next(target.iterdir())
        target.mkdir(parents=True, exist_ok=True)
        path = target / url.rsplit("/", 1)[-1]
        partial = path.with_name(path.name + ".downloading")
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as f:
            shutil.copyfileobj(response, f)
        partial.rename(path)
        return path

    return Downloader(fetch=fetch, folder=folder)


@pytest.fixture
def mirror():
    with Mirror() as m:
        yield m


@pytest.fixture
def env(tmp_path: Path, mirror: Mirror) -> dict[str, str]:
    """An environment with an empty rembg home and the loopback mirror as the model source."""
    return {"U2NET_HOME": str(tmp_path / "u2net-home"), model_store.MIRROR_ENV: mirror.url}


def test_source_url_uses_rembgs_release_or_the_mirror_base():
    spec = catalog.get("birefnet-general")
    assert model_store.source_url(spec, {}) == catalog.RELEASE_BASE_URL + "BiRefNet-general-epoch_244.onnx"
    mirrored = model_store.source_url(spec, {model_store.MIRROR_ENV: "http://mirror.lan/rembg"})
    assert mirrored == "http://mirror.lan/rembg/BiRefNet-general-epoch_244.onnx"


def test_rembg_home_follows_rembg_2_0_69():
    assert model_store.rembg_home({"U2NET_HOME": "/m"}) == Path("/m")
    assert model_store.rembg_home({"XDG_DATA_HOME": "/data"}) == Path("/data/.u2net")
    assert model_store.rembg_home({}) == Path("~/.u2net").expanduser()


@pytest.mark.parametrize("name", ["toy.onnx", "Toy-epoch_1.onnx"])
def test_hand_placed_file_is_found_under_local_or_release_name(tmp_path, env, mirror, name):
    models = tmp_path / "models" / "rembg"
    models.mkdir(parents=True)
    (models / name).write_bytes(TOY_BYTES)
    path = model_store.ensure_model(toy_spec(), models, url_downloader(tmp_path / "cache"), env)
    assert path == models / name
    assert mirror.total() == 0


def test_models_folder_wins_over_rembg_home_and_rembg_home_is_reused_in_place(tmp_path, env, mirror):
    models, home = tmp_path / "models" / "rembg", Path(env["U2NET_HOME"])
    home.mkdir()
    (home / "toy.onnx").write_bytes(TOY_BYTES)
    downloader = url_downloader(tmp_path / "cache")

    assert model_store.ensure_model(toy_spec(), models, downloader, env) == home / "toy.onnx"
    assert not models.exists(), "the rembg home copy must be reused, not copied into models/rembg"

    models.mkdir(parents=True)
    (models / "toy.onnx").write_bytes(TOY_BYTES)
    assert model_store.ensure_model(toy_spec(), models, downloader, env) == models / "toy.onnx"
    assert mirror.total() == 0


def test_wrong_file_in_rembg_home_is_skipped_and_the_model_downloaded(tmp_path, env, mirror):
    home = Path(env["U2NET_HOME"])
    home.mkdir()
    (home / "toy.onnx").write_bytes(b"an older, different model")
    mirror.serve("Toy-epoch_1.onnx", "good", TOY_BYTES)
    path = model_store.ensure_model(toy_spec(), tmp_path / "models", url_downloader(tmp_path / "cache"), env)
    assert path.read_bytes() == TOY_BYTES and path.is_relative_to(tmp_path / "cache")
    assert (home / "toy.onnx").read_bytes() == b"an older, different model", "rembg's home is never written"
    assert mirror.count("Toy-epoch_1.onnx") == 1


def test_checksum_is_computed_once_per_unchanged_file(tmp_path, env):
    models = tmp_path / "models"
    models.mkdir()
    (models / "toy.onnx").write_bytes(TOY_BYTES)
    spec, downloader = toy_spec(algorithm="sha256"), url_downloader(tmp_path / "cache")
    before = model_store.VERIFIED.hashed
    for _ in range(3):
        model_store.ensure_model(spec, models, downloader, env)
    assert model_store.VERIFIED.hashed == before + 1

    changed = models / "toy.onnx"
    stamp = changed.stat().st_mtime_ns
    changed.write_bytes(TOY_BYTES[:-1] + b"!")  # same size, new content...
    os.utime(changed, ns=(stamp + 10**9, stamp + 10**9))  # ...and a new mtime even where the clock is coarse
    with pytest.raises(ModelFileError):
        model_store.ensure_model(spec, models, downloader, env)
    assert model_store.VERIFIED.hashed == before + 2


def test_a_file_swapped_in_with_the_old_mtime_is_checked_again(tmp_path, env):
    """A different file of the same size moved into place with the verified file's mtime (as cp -p or touch -r
    leave it) is hashed again and refused, not taken on the old file's word."""
    models = tmp_path / "models"
    models.mkdir()
    placed = models / "toy.onnx"
    placed.write_bytes(TOY_BYTES)
    spec, downloader = toy_spec(algorithm="sha256"), url_downloader(tmp_path / "cache")
    model_store.ensure_model(spec, models, downloader, env)
    before = model_store.VERIFIED.hashed

    old = placed.stat()
    swapped = models / "toy.onnx.new"
    swapped.write_bytes(TOY_BYTES[:-1] + b"!")
    os.utime(swapped, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(swapped, placed)
    assert (placed.stat().st_size, placed.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    with pytest.raises(ModelFileError):
        model_store.ensure_model(spec, models, downloader, env)
    assert model_store.VERIFIED.hashed == before + 1


def test_bad_hand_placed_file_is_reported_and_left_in_place(tmp_path, env, mirror):
    models = tmp_path / "models" / "rembg"
    models.mkdir(parents=True)
    bad = models / "toy.onnx"
    bad.write_bytes(b"half a model")
    spec = toy_spec()
    with pytest.raises(ModelFileError) as error:
        model_store.ensure_model(spec, models, url_downloader(tmp_path / "cache"), env)
    text = str(error.value)
    assert str(bad) in text and spec.checksum in text and "left in place" in text
    assert bad.read_bytes() == b"half a model"
    assert mirror.total() == 0, "a bad hand-placed file must not trigger a download behind the user's back"


def test_real_u2netp_placed_by_hand_verifies(tmp_path, env, u2netp_file):
    models = tmp_path / "rembg"
    placed = model_store.copy_into(models, u2netp_file, catalog.get("u2netp"))
    assert model_store.ensure_model(catalog.get("u2netp"), models, url_downloader(tmp_path / "c"), env) == placed


def test_corrupt_download_is_deleted_and_the_error_names_the_checksum(tmp_path, env, mirror):
    spec, cache = toy_spec(), tmp_path / "cache"
    mirror.serve(spec.release_file, "corrupt", TOY_BYTES)
    with pytest.raises(ModelFileError) as error:
        model_store.ensure_model(spec, tmp_path / "models" / "rembg", url_downloader(cache), env)
    text = str(error.value)
    assert spec.checksum in text and spec.release_file in text and str(tmp_path / "models" / "rembg" / "toy.onnx") in text
    assert not any(p.is_file() for p in cache.rglob("*")), "the poisoned download must not stay in the cache"

    mirror.serve(spec.release_file, "good", TOY_BYTES)
    assert model_store.ensure_model(spec, tmp_path / "models" / "rembg", url_downloader(cache), env).read_bytes() == TOY_BYTES
    assert mirror.count(spec.release_file) == 2


def test_404_error_names_model_url_folder_and_checksum(tmp_path, env, mirror):
    spec, models = toy_spec(), tmp_path / "models" / "rembg"
    with pytest.raises(ModelFileError) as error:
        model_store.ensure_model(spec, models, url_downloader(tmp_path / "cache"), env)
    text = str(error.value)
    for part in ("toy", mirror.url + spec.release_file, str(models / "toy.onnx"), spec.checksum, "404"):
        assert part in text
    assert text.index("Put the file at") < text.index("Cause: HTTP Error 404"), "what to do first, the cause last"
    assert isinstance(error.value.__cause__, urllib.error.HTTPError)


def test_stalled_server_fails_with_a_bounded_wait(tmp_path, env, mirror):
    spec = toy_spec()
    mirror.serve(spec.release_file, "slow")
    env[model_store.TIMEOUT_ENV] = "1"
    errors: list[BaseException] = []

    def call() -> None:
        try:
            model_store.ensure_model(spec, tmp_path / "models", url_downloader(tmp_path / "cache"), env)
        except BaseException as error:  # noqa: BLE001 - inspected below
            errors.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(120)  # a wide margin over the 1 s stall timeout: only a wait without bound is still alive after it
    assert not caller.is_alive(), "the caller gave up on the stalled server"
    [error] = errors
    assert isinstance(error, ModelFileError)
    assert "sent nothing for 1 s" in str(error) and model_store.TIMEOUT_ENV in str(error)


def test_concurrent_callers_share_one_download_and_see_progress(tmp_path, env, mirror):
    """Four callers while one download is held half-sent: each reports progress from inside its wait, the mirror has
    one request, and once released all four get the same file from it."""
    spec = toy_spec()
    mirror.serve(spec.release_file, "gate", TOY_BYTES)
    downloader = url_downloader(tmp_path / "cache")
    results: list[Path] = []
    reports: list[list[tuple[str, int]]] = [[] for _ in range(4)]
    waiting = [threading.Event() for _ in range(4)]

    def call(n: int) -> None:
        def on_progress(url: str, done: int) -> None:
            reports[n].append((url, done))
            if len(reports[n]) >= 2:  # the first comes before the download starts, the next from waiting on it
                waiting[n].set()

        results.append(model_store.ensure_model(spec, tmp_path / "models", downloader, env, on_progress))

    threads = [threading.Thread(target=call, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    try:
        assert all(w.wait(120) for w in waiting), "every caller waits on the download in flight"
        assert mirror.wait_for_request(spec.release_file, 120), "the download's request reached the mirror"
        assert mirror.count(spec.release_file) == 1, "four callers, one request"
    finally:
        mirror.release(spec.release_file)
        for t in threads:
            t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert len(results) == 4 and len(set(results)) == 1 and results[0].read_bytes() == TOY_BYTES
    assert mirror.count(spec.release_file) == 1
    assert all(r[0] == (mirror.url + spec.release_file, 0) for r in reports)


def test_models_cli_lists_downloads_and_verifies(tmp_path, mirror, u2netp_file, monkeypatch, capsys):
    from remove_background_node import models_cli as models

    monkeypatch.setenv(model_store.MIRROR_ENV, mirror.url)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "empty-home"))
    assert models.main(["list", "--markdown"]) == 0
    listing = capsys.readouterr().out
    assert all(m.checksum in listing and m.release_file in listing for m in catalog.MODELS)

    target, good = tmp_path / "offline" / "rembg", u2netp_file.read_bytes()
    mirror.serve("u2netp.onnx", "corrupt", good)
    assert models.main(["download", "u2netp", "--dir", str(target)]) == 1
    assert "md5:8e83ca70e441ab06c318d82300c84806" in capsys.readouterr().err
    assert list(target.iterdir()) == [], "no corrupt or half-written file is left behind"

    mirror.serve("u2netp.onnx", "good", good)
    assert models.main(["download", "u2netp", "--dir", str(target)]) == 0
    assert (target / "u2netp.onnx").read_bytes() == good
    assert models.main(["download", "u2netp", "--dir", str(target)]) == 0
    assert mirror.count("u2netp.onnx") == 2, "a verified file is not fetched again"
    assert models.main(["verify", "--dir", str(target)]) == 0

    (target / "u2netp.onnx").write_bytes(good[:-10])
    assert models.main(["verify", "--dir", str(target)]) == 1
    assert "BAD" in capsys.readouterr().out and (target / "u2netp.onnx").exists()


def test_models_cli_finds_the_models_folder_where_invokeais_settings_put_it(tmp_path, monkeypatch):
    from remove_background_node import models_cli as models

    monkeypatch.delenv("INVOKEAI_MODELS_DIR", raising=False)
    monkeypatch.setenv("INVOKEAI_ROOT", str(tmp_path / "from-env"))
    assert models.models_dir(None, None) == tmp_path / "from-env" / "models" / "rembg"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INVOKEAI_ROOT", "~/invokeai")  # InvokeAI expands it
    assert models.models_dir(None, None) == tmp_path / "home" / "invokeai" / "models" / "rembg"
    root = tmp_path / "root"
    root.mkdir()
    assert models.models_dir(str(root), None) == root / "models" / "rembg"
    (root / "invokeai.yaml").write_text("schema_version: 4.0.2\nmodels_dir: elsewhere/weights\n")
    assert models.models_dir(str(root), None) == root / "elsewhere" / "weights" / "rembg"
    (root / "invokeai.yaml").write_text(f"schema_version: 4.0.2\nmodels_dir: {tmp_path / 'big-disk'}\n")
    assert models.models_dir(str(root), None) == tmp_path / "big-disk" / "rembg"
    monkeypatch.setenv("INVOKEAI_MODELS_DIR", str(tmp_path / "env-models"))  # InvokeAI's environment wins over its file
    assert models.models_dir(str(root), None) == tmp_path / "env-models" / "rembg"
    assert models.models_dir(str(root), str(tmp_path / "explicit")) == tmp_path / "explicit"
