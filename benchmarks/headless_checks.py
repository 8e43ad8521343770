"""Every check that runs inside a real headless InvokeAI (invokeai-web on loopback), one after another.

    python -m benchmarks.headless_checks [--quick] [--only floor,matting,retweak,background]

Each check is its own module and command; this runs them in turn with their full-size defaults
(or, with --quick, small sizes that only show the checks work: the targets are stated for the
full sizes). Figures and ratios only: nothing here passes or fails on time.
  floor       benchmarks.floor: the node vs core-node I/O + inference at 2048x2048, input cached
              and evicted from InvokeAI's image cache, and where the node's time goes
  matting     benchmarks.matting_headless: alpha matting at 4096x4096 vs rembg's
  retweak     benchmarks.retweak: a 4096x4096 matting call, then reruns with only mask_grow changed
  background  benchmarks.background_memory: 12000x12000, opaque background_color vs plain cutout memory
The soak (benchmarks.soak) runs for long on its own and is not part of this.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from benchmarks import background_memory, floor, matting_headless, retweak

# check -> (its main, its arguments in full, its arguments with --quick)
CHECKS: dict[str, tuple[Callable[[list[str]], None], list[str], list[str]]] = {
    "floor": (floor.main, [], ["--rounds", "3"]),
    "matting": (matting_headless.main, [], ["--size", "2048", "--repeat", "1"]),
    "retweak": (retweak.main, [], ["--size", "2048", "--grows", "8"]),
    "background": (background_memory.main, [], ["--size", "4000"]),
}


def main(argv: list[str] | None = None) -> None:
    """Command line -> runs the chosen checks in order, each printing its own header and figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds: a check that all runs")
    parser.add_argument("--only", default=",".join(CHECKS), help=f"comma-separated, of {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    started = time.monotonic()
    for name in args.only.split(","):
        run, full, quick = CHECKS[name]
        print(f"\n\n######## {name}", flush=True)
        run(quick if args.quick else full)
    print(f"\n# all checks: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
