"""Importing the pack as InvokeAI does is cheap: no rembg, numba or pymatting until the node runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from remove_background_node import OLDEST_INVOKEAI

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
    oldest = ".".join(map(str, OLDEST_INVOKEAI))
    assert f"needs InvokeAI {oldest} or later" in done.stdout + done.stderr and "4.2.9" in done.stdout + done.stderr


def test_the_oldest_supported_invokeai_is_the_one_make_test_compat_installs():
    """The pack cannot read pyproject.toml where users copy it, so it holds its own minimum: the two must agree."""
    groups = tomllib.loads((PACK.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pin = next(Requirement(r) for r in groups["oldest-host"] if Requirement(r).name == "invokeai")
    assert str(pin.specifier) == "==" + ".".join(map(str, OLDEST_INVOKEAI))


def test_plain_pytest_collects_and_registers_each_node_once():
    """`pytest` from the repository root (not `python -m pytest`) collects every test, and the pack is imported
    once: InvokeAI warns 'Overriding node' when a second copy registers the same node types."""
    repo = PACK.parent
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}  # the inner pytest sets its own
    done = subprocess.run(
        [str(Path(sys.executable).with_name("pytest")), "--collect-only", "-q", "-s", "-p", "no:cacheprovider"],
        cwd=repo, env=env, capture_output=True, text=True,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "tests/unit/test_pack_import.py::test_plain_pytest_collects_and_registers_each_node_once" in done.stdout
    assert "Overriding" not in output, [line for line in output.splitlines() if "Overriding" in line]
