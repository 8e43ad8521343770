"""Importing the pack as InvokeAI does is cheap: no rembg, numba or pymatting until the node runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[2] / "remove_background_node"

PROBE = f"""
import json, sys, time
from importlib.util import module_from_spec, spec_from_file_location
import invokeai.invocation_api  # InvokeAI has imported this before it loads any pack
before = set(sys.modules)
start = time.perf_counter()
spec = spec_from_file_location("remove_background_node", {str(PACK / "__init__.py")!r})
module = module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
seconds = time.perf_counter() - start
new = sorted(set(sys.modules) - before)
print(json.dumps({{"seconds": seconds, "new": new}}))
"""


def test_loading_the_pack_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    heavy = [m for m in report["new"] if m.split(".")[0] in {"rembg", "numba", "pymatting", "skimage", "pooch", "llvmlite"}]
    assert heavy == []
    assert "scipy.ndimage" not in report["new"]
    print(f"pack load took {report['seconds'] * 1000:.1f} ms and imported {len(report['new'])} new modules")


def test_an_invokeai_older_than_supported_gets_a_clear_line_and_no_nodes():
    """On InvokeAI 4.x the node ran but failed every run (no signal_progress); the pack says what it needs instead."""
    probe = f"""
import invokeai.version
invokeai.version.__version__ = "4.2.9"
from importlib.util import module_from_spec, spec_from_file_location
spec = spec_from_file_location("remove_background_node", {str(PACK / "__init__.py")!r})
module = module_from_spec(spec)
spec.loader.exec_module(module)
print("nodes:", module.__all__)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "nodes: []" in done.stdout
    assert "needs InvokeAI 5.0.0 or later" in done.stdout + done.stderr and "4.2.9" in done.stdout + done.stderr
