"""The project's environment is InvokeAI's, unharmed: the pack's install changed nothing InvokeAI pins."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement


def _invokeai_pin(name: str) -> Requirement:
    return next(r for r in map(Requirement, requires("invokeai")) if r.name == name and r.marker is None)


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_numpy_and_onnxruntime_stay_at_invokeais_pins():
    assert int(version("numpy").split(".")[0]) < 2
    assert version("numpy") in _invokeai_pin("numpy").specifier
    assert version("onnxruntime") in _invokeai_pin("onnxruntime").specifier
    pack = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert version("rembg") in next(Requirement(r) for r in pack if Requirement(r).name == "rembg").specifier


def test_opencv_contrib_still_works():
    import cv2.ximgproc

    assert callable(cv2.ximgproc.thinning)
