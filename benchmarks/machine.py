"""The header every benchmark prints: what ran, when, on which machine, and how loaded it was."""

from __future__ import annotations

import datetime
import os
import platform
from importlib.metadata import version

PACKAGES = ("invokeai", "onnxruntime", "rembg", "pymatting", "numpy", "pillow")


def machine() -> str:
    """-> one line naming the CPU, cores, RAM, and the versions that matter."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GB RAM, no GPU used; Python {platform.python_version()}, {versions}"


def load() -> str:
    """-> the 1, 5 and 15 minute load averages, as text."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(title: str) -> None:
    """A benchmark's title -> prints it with the time, the machine and its load."""
    print(f"# {title}, {datetime.datetime.now().isoformat(timespec='minutes')}")
    print(f"# {machine()}")
    print(f"# load average at start: {load()} on {os.cpu_count()} cores: other work on this machine skews times, so "
          "only ratios of figures measured back to back in this run mean anything", flush=True)
