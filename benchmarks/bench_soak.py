"""Soak: three dashboards on one connection through 10,000 poll ticks while batches move.

    .venv/bin/python benchmarks/bench_soak.py [--ticks 10000] [--known 200] [--active 20]

One client, one store (one poller thread for the connection), three ``BatchDashboard``s subscribed to it. The
benchmark runs the ticks itself (``store.poll_once()``, the poller's own tick) so it can tell unchanged ticks
from moving ones: every other tick, five running batches advance. The real poller thread runs too (every 5 s
while something is active); what it sends is its own tick's, not counted against the benchmark's ticks.
Targets (the issue's):

- kernel RSS grows at most 5 MB from the end of warm-up (the first 500 ticks) to the last tick;
- the thread count is back to its baseline once the dashboards are closed (poller, history loaders, workers);
- an unchanged tick sends 0 bytes to the browser, from all three dashboards together.

Baseline for the bytes: what one naive tick would send (every shown row, three times).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from _table import Row, report  # noqa: E402 - after the sys.path insert above
from fake_batch_api import FakeBatchAPI, history_api  # noqa: E402 - after the sys.path insert above

from batch_widgets.client import BatchClient  # noqa: E402 - after the sys.path insert above
from batch_widgets.store import clear_stores, get_store  # noqa: E402 - after the sys.path insert above
from batch_widgets.widgets._rows import batch_row  # noqa: E402 - after the sys.path insert above
from batch_widgets.widgets.dashboard import BatchDashboard  # noqa: E402 - after the sys.path insert above

T0 = 1_764_400_000
WARMUP = 500
MOVING = 5  # batches that advance on a moving tick


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(known: int, active: int) -> FakeBatchAPI:
    return history_api(known, active, T0, {"total": 10**9, "completed": 0, "failed": 0}, "soak")


def wait_threads(baseline: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return threading.active_count()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=10_000)
    ap.add_argument("--known", type=int, default=200)
    ap.add_argument("--active", type=int, default=20)
    args = ap.parse_args()

    api = build(args.known, args.active)
    running = [b for b in api.batches if b["status"] == "in_progress"]
    client = BatchClient(api_key="sk-soak", base_url="http://soak.test/v1", transport=api.transport(), max_retries=0)
    threads_before = threading.active_count()

    store = get_store(client)
    # A long poll interval: the real poller thread runs (and must end at close), the ticks are ours.
    dashboards = [BatchDashboard(client, poll_interval=3600, details_interval=3600) for _ in range(3)]
    for dash in dashboards:
        dash.wait_loaded()
    dashboards[0].open_batch(running[0]["id"])  # one details view open too
    tick_bytes = [0]
    bench_thread = threading.current_thread()
    idle_traits: dict[str, int] = {}  # what an unchanged tick sent, by trait (should stay empty)
    moving_now = [False]

    def counting(original):
        def send(data=None, metadata=None, buffers=None):
            if threading.current_thread() is not bench_thread:  # the real poller's own ticks (every 5 s)
                return original(data=data, metadata=metadata, buffers=buffers)
            tick_bytes[0] += len(json.dumps(data, default=str)) + sum(len(b) for b in buffers or [])
            if not moving_now[0]:
                for key in (data or {}).get("state") or {"<message>": None}:
                    idle_traits[key] = idle_traits.get(key, 0) + 1
            return original(data=data, metadata=metadata, buffers=buffers)

        return send

    for dash in dashboards:
        dash.comm.send = counting(dash.comm.send)

    unchanged_bytes = moving_bytes = 0
    unchanged_ticks = moving_ticks = 0
    rss_warm = 0
    start = time.perf_counter()
    ticks_before = store.ticks
    for tick in range(args.ticks):
        moving = moving_now[0] = tick % 2 == 0
        if moving:
            for k in range(MOVING):
                batch = running[(tick // 2 * MOVING + k) % len(running)]
                counts = batch["request_counts"]
                batch["request_counts"] = {**counts, "completed": counts["completed"] + 1}
        tick_bytes[0] = 0
        api.requests.clear()  # the fake API's request log is the harness's memory, not the kernel's
        store.poll_once()
        if moving:
            moving_bytes += tick_bytes[0]
            moving_ticks += 1
        else:
            unchanged_bytes += tick_bytes[0]
            unchanged_ticks += 1
        if tick + 1 == WARMUP:
            gc.collect()
            rss_warm = rss_bytes()
    elapsed = time.perf_counter() - start
    poller_ticks = store.ticks - ticks_before - args.ticks
    gc.collect()
    rss_end = rss_bytes()
    threads_open = threading.active_count()

    for dash in dashboards:
        dash.close()
    threads_after = wait_threads(threads_before)
    growth = rss_end - rss_warm
    shown = {b.id: batch_row(b, T0) for b in store.batches() if b.is_active}
    naive = 3 * len(json.dumps({"method": "update", "state": {"_rows": shown}}))
    clear_stores()

    if idle_traits:
        print(f"sent on unchanged ticks: {idle_traits}")
    report(
        "soak",
        [
            Row(
                f"RSS growth over {args.ticks - WARMUP:,} ticks (3 dashboards)",
                f"{growth / 2**20:.2f} MB",
                f"{rss_warm / 2**20:.0f} MB after warm-up",
                None,
                "<= 5 MB",
                growth <= 5 * 2**20,
            ),
            Row(
                "threads after the dashboards close",
                f"{threads_after}",
                f"{threads_before} before ({threads_open} open)",
                None,
                "= baseline",
                threads_after <= threads_before,
            ),
            Row(
                "bytes sent per unchanged tick (3 dashboards)",
                f"{unchanged_bytes / max(1, unchanged_ticks):.0f} B",
                f"{naive} B (all rows x3)",
                unchanged_bytes / max(1, unchanged_ticks) / naive,
                "0 B",
                unchanged_bytes == 0,
            ),
            Row(
                f"bytes per moving tick ({MOVING} batches moved)",
                f"{moving_bytes / max(1, moving_ticks):.0f} B",
                f"{naive} B (all rows x3)",
                moving_bytes / max(1, moving_ticks) / naive,
                "-",
                None,
            ),
            Row("kernel ms per tick (mean)", f"{1000 * elapsed / args.ticks:.2f} ms", "-", None, "-", None),
            Row("ticks the real poller thread ran meanwhile", f"{poller_ticks}", "-", None, "-", None),
        ],
    )


if __name__ == "__main__":
    main()
