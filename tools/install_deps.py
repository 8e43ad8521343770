"""Install the pack's dependencies into an InvokeAI environment without changing anything InvokeAI has.

Run it with InvokeAI's own Python:  <invokeai python> tools/install_deps.py [--host [GROUP]] [--test]
  --host  first install InvokeAI itself, for a fresh venv: the version pinned in pyproject.toml's
          "host" group (the newest supported), or in another group such as "oldest-host"
  --test  also install the test tools

Every package already installed is pinned to its current version with a constraints file, so pip
either adds new packages or fails; it never upgrades numpy, onnxruntime, torch or opencv. The pack's own
requirements (rembg) are not pinned: an older rembg, say from another pack, is lifted into the range. rembg
2.0.69 also pulls in opencv-python-headless, whose files overwrite the shared cv2 folder of
InvokeAI's opencv-contrib-python: the contrib files are put back afterwards (same version).
Afterwards it checks that no version changed, that `pip check` is clean and that cv2.ximgproc works.
Uses only the standard library.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def freeze() -> dict[str, str]:
    """The current environment -> {normalised name: version} of every installed distribution."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    ).stdout
    versions = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            versions[name.lower().replace("_", "-")] = version
    return versions


def requirements(*groups: str) -> list[str]:
    """pyproject.toml and group names ('' = the pack's own, or an optional group) -> requirements."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [r for g in groups for r in (project["optional-dependencies"][g] if g else project["dependencies"])]


def names(reqs: list[str]) -> set[str]:
    """Requirements ("rembg>=2.0.65,<2.0.70") -> their normalised distribution names."""
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def install(reqs: list[str], before: dict[str, str], own: set[str]) -> None:
    """Requirements, the versions installed now and the pack's own requirement names -> installs the requirements,
    changing none of those versions but the pack's own."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{name}=={version}\n" for name, version in sorted(before.items()) if name not in own))
        constraints = f.name
    try:
        _pip("install", "--constraint", constraints, *reqs)
    finally:
        Path(constraints).unlink(missing_ok=True)
    after = freeze()
    contrib = before.get("opencv-contrib-python")
    if contrib and "opencv-python-headless" in after and "opencv-python-headless" not in before:
        _pip("install", "--force-reinstall", "--no-deps", f"opencv-contrib-python=={contrib}")


def verify(before: dict[str, str], own: set[str]) -> list[str]:
    """Versions before and the pack's own requirement names -> a list of problems with the environment now (empty
    when all is well)."""
    problems = []
    after = freeze()
    for name, version in before.items():
        if name not in own and after.get(name) != version:
            problems.append(f"{name} changed from {version} to {after.get(name, 'not installed')}")
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    if check.returncode != 0:
        problems.append("pip check: " + check.stdout.strip())
    if "opencv-contrib-python" in after:
        probe = subprocess.run(
            [sys.executable, "-c", "import cv2.ximgproc; cv2.ximgproc.thinning"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            problems.append("cv2.ximgproc (opencv-contrib-python) is broken: " + probe.stderr.strip()[-300:])
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", nargs="?", const="host", help="install InvokeAI first (fresh venv only), from this group")
    parser.add_argument("--test", action="store_true", help="also install the test tools")
    args = parser.parse_args()
    if args.host:
        _pip("install", *requirements(args.host))
    before = freeze()
    own = names(requirements(""))
    install(requirements("", *(["test"] if args.test else [])), before, own)
    problems = verify(before, own)
    for problem in problems:
        print(f"install_deps: {problem}", file=sys.stderr)
    if not problems:
        print(f"install_deps: OK, {len(before)} existing packages unchanged, pip check clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
