"""Soak: the server's memory item by item over a long run of mixed queue items in one headless InvokeAI.

    python -m benchmarks.soak [--items 500] [--seed 1] [--matting-rate 0.15] [--models u2netp,u2net]
                              [--quick] [--warmup 150] [--pool 40] [--out rows.jsonl]

One server; a pool of pictures (rembg's three fixtures resized to random sizes of 256..2048 px a
side) uploaded once; then --items queue items one after another, each a remove_background node on a
pool picture with a random model and random options (seeded: the same seed gives the same run).
After each item the server's resident memory (VmRSS, tests.harness.memory.rss_mb on its pid).
Printed: whether every item completed, RSS at the start, after the warm-up and at the end, the
least-squares slope in MB/item from the warm-up on, the growth over the last 200 items (raw, and
smoothed by a median of 10 at both ends) against the target, slopes per 100 items, and every line
that reached the server's console outside InvokeAI's log records (benchmarks.server_log), with any
"PERFORMANCE WARNING". --quick is 40 items with a warm-up of 10: a check that it all works, not a
figure for the target.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.headless import node, pid, start
from benchmarks.machine import header
from benchmarks.server_log import loud_lines, raw_lines
from benchmarks.targets import line
from tests.harness import fixtures
from tests.harness.memory import rss_mb
from tests.harness.server import Server

CLOTH = ("all", "upper", "lower", "full")  # the node's cloth_category choices (ignored by other models)
SETTLE_SECONDS = 0.2  # after an item completes the session processor still logs its stats and frees the session
LAST = 200  # the target's window, in items
SMOOTH = 10  # items in each end's median for the smoothed growth
SIDES = (256, 2048)  # the pool pictures' width and height are drawn from this range


def random_options(rng: random.Random, matting_rate: float) -> dict[str, Any]:
    """A seeded generator and the share of items with alpha matting -> node fields for one item."""
    o: dict[str, Any] = {"alpha_matting": rng.random() < matting_rate}
    if rng.random() < 0.3:
        o["mask_threshold"] = rng.randint(1, 255)
    if rng.random() < 0.3:
        o["mask_grow"] = rng.randint(-40, 40)
    if rng.random() < 0.3:
        o["mask_feather"] = round(rng.uniform(0, 24), 1)
    if rng.random() < 0.2:
        o["invert"] = True
    if rng.random() < 0.3:
        o["background_color"] = {"r": rng.randint(0, 255), "g": rng.randint(0, 255), "b": rng.randint(0, 255),
                                 "a": rng.choice([255, rng.randint(1, 254)])}
    if rng.random() < 0.3:
        o["refine_foreground"] = True
    if rng.random() < 0.2:
        o["post_process_mask"] = True
    if rng.random() < 0.2:
        o["cloth_category"] = rng.choice(CLOTH)
    return o


def upload_pool(server: Server, rng: random.Random, count: int, sides: tuple[int, int]) -> list[tuple[str, int, int]]:
    """A server, the generator, how many pictures and the side range -> [(image name, width, height)] uploaded."""
    photos = [Image.open(p).convert("RGB") for p in fixtures.PHOTOS]
    pool = []
    for i in range(count):
        w, h = rng.randint(*sides), rng.randint(*sides)
        pool.append((server.upload(rng.choice(photos).resize((w, h), Image.Resampling.BICUBIC), f"pool{i}.png"), w, h))
    return pool


def slope(ys: list[float]) -> float:
    """Values at consecutive items -> their least-squares slope per item."""
    xs = range(len(ys))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def growth(rss: list[float], window: int) -> tuple[float, float]:
    """RSS after each item and a window in items -> (raw growth over the window's items, growth between the
    medians of SMOOTH items centred on the window's start and of the last SMOOTH items)."""
    raw = rss[-1] - rss[-window - 1]
    start = len(rss) - window - 1
    lo = max(0, start - SMOOTH // 2)
    return raw, statistics.median(rss[-SMOOTH:]) - statistics.median(rss[lo : lo + SMOOTH])


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Parsed options -> {"rows": one dict per item, "start_rss", "log": the console text written during the items}."""
    rng = random.Random(args.seed)
    models = tuple(args.models.split(","))
    rows: list[dict[str, Any]] = []
    out = open(args.out, "w") if args.out else None
    with tempfile.TemporaryDirectory(prefix="rb-soak-") as tmp:
        server = start(Path(tmp) / "root", models)
        try:
            pool = upload_pool(server, rng, args.pool, SIDES)
            server_pid = pid(server)
            log_from = len(server.log())
            start_rss = rss_mb(server_pid)
            t0 = time.monotonic()
            for i in range(args.items):
                name, w, h = rng.choice(pool)
                model = rng.choice(models)
                options = random_options(rng, args.matting_rate)
                t = time.monotonic()
                item = server.run({"rb": node(name, model, **options)}, timeout=900)
                time.sleep(SETTLE_SECONDS)
                row = {"i": i, "status": item["status"], "size": [w, h], "model": model, "options": options,
                       "seconds": round(time.monotonic() - t, 2), "rss_mb": round(rss_mb(server_pid), 1)}
                if item["status"] != "completed":
                    row["error"] = f"{item.get('error_type')}: {item.get('error_message')}"[:500]
                rows.append(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                if i % 25 == 0 or i == args.items - 1:
                    print(f"# item {i:4d}  {time.monotonic() - t0:6.0f} s  RSS {row['rss_mb']:7.1f} MB  {item['status']}",
                          flush=True)
            log = server.log()[log_from:]
        finally:
            server.stop()
            if out:
                out.close()
    return {"rows": rows, "start_rss": start_rss, "log": log, "seconds": time.monotonic() - t0}


def report(result: dict[str, Any], warmup: int) -> None:
    """soak()'s result and the warm-up length -> prints the summary, the target and the console's raw lines."""
    rows = result["rows"]
    n = len(rows)
    rss = [r["rss_mb"] for r in rows]
    failed = [r for r in rows if r["status"] != "completed"]
    print(f"\n## {n} items in {result['seconds']:.0f} s: {'all completed' if not failed else f'{len(failed)} NOT completed'}")
    for r in failed[:10]:
        print(f"    item {r['i']}: {r['status']} {r.get('error', '')}")
    matting = sum(1 for r in rows if r["options"]["alpha_matting"])
    per_model = Counter(r["model"] for r in rows)
    print(f"items: {dict(per_model)}; with alpha matting: {matting}")
    print(f"RSS at start (pool uploaded, no item yet) {result['start_rss']:.1f} MB; after the warm-up (item {warmup}) "
          f"{rss[warmup]:.1f} MB; at the end {rss[-1]:.1f} MB")
    print(f"slope from item {warmup} on: {slope(rss[warmup:]):+.4f} MB/item (least squares)")
    for w0 in range(0, n, 100):
        if len(rss[w0 : w0 + 100]) > SMOOTH:
            print(f"    items {w0}..{min(n, w0 + 100) - 1}: {slope(rss[w0 : w0 + 100]):+.4f} MB/item")
    window = min(LAST, n - 1 - warmup)
    raw, smoothed = growth(rss, window)
    print(f"growth over the last {window} items: raw {raw:+.1f} MB, median-of-{SMOOTH} smoothed {smoothed:+.1f} MB")
    print(line("soak_growth", smoothed, f"{smoothed:+.1f} MB (smoothed; raw {raw:+.1f} MB)"))
    if window < LAST:
        print(f"(only {window} items after the warm-up: the target is stated for the last {LAST} of a long run)")
    raw_out = [x for x in raw_lines(result["log"]) if x.strip()]
    loud = loud_lines(result["log"])
    print(f"\nconsole lines outside InvokeAI's log records during the items: {len(raw_out)}; with "
          f"'PERFORMANCE WARNING': {len(loud)}")
    for text, count in Counter(raw_out).most_common(20):
        print(f"    {count:5d} x {text[:200]}")
    for text, count in Counter(x for x in loud if x not in raw_out).most_common(20):
        print(f"    {count:5d} x (in a log record) {text[:200]}")


def main(argv: list[str] | None = None) -> None:
    """Command line -> runs the soak and prints its summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--matting-rate", type=float, default=0.15, help="share of items with alpha_matting")
    parser.add_argument("--models", default="u2netp,u2net", help="comma-separated; each item picks one")
    parser.add_argument("--warmup", type=int, default=150, help="items before the slope is taken")
    parser.add_argument("--pool", type=int, default=40, help="pictures uploaded once and drawn from")
    parser.add_argument("--quick", action="store_true", help="40 items, warm-up 10")
    parser.add_argument("--out", type=Path, help="write one JSON line per item here")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.warmup = 40, 10
    if args.warmup >= args.items - 1:
        parser.error("--warmup must leave at least two items after it")
    header("Remove Background: soak in one headless InvokeAI")
    print(f"# {args.items} items, seed {args.seed}, models {args.models}, alpha matting in {args.matting_rate:.0%}, "
          f"pool of {args.pool} pictures {SIDES[0]}..{SIDES[1]} px a side", flush=True)
    report(soak(args), args.warmup)


if __name__ == "__main__":
    main()
