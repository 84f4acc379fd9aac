"""The live widgets' poll tick: HTTP requests, kernel time and kernel->browser bytes per tick.

    .venv/bin/python benchmarks/bench_live.py [--known 1000] [--active 20] [--ticks 50]

A connection with ``--known`` batches of which ``--active`` run, shown by a BatchDashboard. Baseline: what a
naive poller does (read every page, resend every row). Targets: an unchanged tick sends 0 bytes and costs 1
request; a tick where one batch moved sends one update carrying that batch only (the Active list's row patch
and the History panel's patch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from _table import Row, report  # noqa: E402 - after the sys.path insert above
from fake_batch_api import FakeBatchAPI, history_api  # noqa: E402 - after the sys.path insert above

from batch_widgets import store as store_module  # noqa: E402 - after the sys.path insert above
from batch_widgets.client import BatchClient  # noqa: E402 - after the sys.path insert above
from batch_widgets.store import BatchStore  # noqa: E402 - after the sys.path insert above
from batch_widgets.widgets import rowsync  # noqa: E402 - after the sys.path insert above
from batch_widgets.widgets._rows import batch_row  # noqa: E402 - after the sys.path insert above
from batch_widgets.widgets.dashboard import BatchDashboard  # noqa: E402 - after the sys.path insert above

T0 = 1_764_400_000


class TickStore(BatchStore):
    """No poller thread: the benchmark runs each tick itself."""

    def wake(self) -> None:
        pass


def build(known: int, active: int) -> FakeBatchAPI:
    return history_api(known, active, T0, {"total": 1000, "completed": 100, "failed": 0}, "bench")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--known", type=int, default=1000)
    ap.add_argument("--active", type=int, default=20)
    ap.add_argument("--ticks", type=int, default=50)
    args = ap.parse_args()

    api = build(args.known, args.active)
    client = BatchClient(api_key="sk-bench", base_url="http://bench.test/v1", transport=api.transport(), max_retries=0)
    store = TickStore(client)
    store_module._stores[client.connection_key] = store
    dash = BatchDashboard(client)
    if dash._history_loader:
        dash._history_loader.join()
    sent: list[int] = []
    original = dash.comm.send

    by_trait: dict[str, int] = {}

    def counting_send(data=None, metadata=None, buffers=None):
        sent.append(len(json.dumps(data, default=str)) + sum(len(b) for b in buffers or []))
        for key, value in ((data or {}).get("state") or {}).items():
            by_trait[key] = by_trait.get(key, 0) + len(json.dumps(value, default=str))
        return original(data=data, metadata=metadata, buffers=buffers)

    dash.comm.send = counting_send

    # Unchanged ticks.
    times, requests = [], []
    for _ in range(args.ticks):
        before = len(api.requests)
        start = time.perf_counter()
        store.poll_once()
        times.append((time.perf_counter() - start) * 1000)
        requests.append(len(api.requests) - before)
    idle_bytes = sum(sent)
    idle_ms = statistics.median(times)

    # Ticks where one running batch moved, in the steady state: the front end started more than
    # rowsync.CUMULATIVE_SECONDS ago (before that, patches are cumulative so a starting view misses none).
    for table in (dash._rows, dash._history_rows):
        table.clock = lambda: time.monotonic() + rowsync.CUMULATIVE_SECONDS
    running = [b for b in api.batches if b["status"] == "in_progress"]
    sent.clear()
    moved_ticks = min(args.ticks, 20)
    for i in range(moved_ticks):
        running[i % len(running)]["request_counts"] = {"total": 1000, "completed": 200 + i, "failed": 0}
        store.poll_once()
    moved_bytes = sum(sent) / moved_ticks
    rows_bytes = by_trait.get("_rows_patch", 0) / moved_ticks

    # Baseline: a naive poller reads every page and resends every shown row on every tick.
    pages = -(-args.known // 100)
    shown_rows = {b.id: batch_row(b, T0) for b in store.batches() if b.is_active}
    naive_bytes = len(json.dumps({"method": "update", "state": {"_rows": shown_rows}}))

    report(
        "live",
        [
            Row(
                "requests per unchanged tick",
                f"{statistics.median(requests):.0f}",
                f"{pages} (every page)",
                statistics.median(requests) / pages,
                "1",
                statistics.median(requests) <= 1,
            ),
            Row(
                "bytes sent per unchanged tick",
                f"{idle_bytes / args.ticks:.0f} B",
                f"{naive_bytes} B (all rows)",
                idle_bytes / args.ticks / naive_bytes,
                "0 B",
                idle_bytes == 0,
            ),
            Row("bytes per tick, 1 batch moved (all panels)", f"{moved_bytes:.0f} B", "-", None, "-", None),
            Row(
                "  of which the Active list's row patch",
                f"{rows_bytes:.0f} B",
                f"{naive_bytes} B (all rows)",
                rows_bytes / naive_bytes,
                "~1 row",
                rows_bytes <= 2 * naive_bytes / max(1, len(shown_rows)),
            ),
            Row(
                f"kernel ms per unchanged tick ({args.known} known)",
                f"{idle_ms:.1f} ms",
                "-",
                None,
                "< 50 ms",
                idle_ms < 50,
            ),
        ],
    )
    dash.close()


if __name__ == "__main__":
    main()
