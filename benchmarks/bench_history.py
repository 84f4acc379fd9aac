"""History analytics on 100,000 batches, and the cost of refreshing a known batch list.

    .venv/bin/python benchmarks/bench_history.py [--batches 100000] [--known 10000] [--repeat 7]

Targets: stats() and filter() <= 100 ms each on 100,000 batches; refreshing 10,000 known, unchanged batches
<= 2 HTTP requests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx
from _table import Row, report

from batch_widgets.analytics import batches_frame, filter_frame, summary_stats
from batch_widgets.client import BatchClient
from batch_widgets.history import BatchHistory
from batch_widgets.index import BatchIndex
from batch_widgets.models import Batch

T0 = 1_764_400_000
STATUSES = ["completed"] * 14 + ["failed", "expired", "cancelled", "in_progress", "validating", "finalizing"]
MODELS = ["gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small", "my-llama"]


def synthetic(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        created = T0 - (n - i) * 300
        status = rng.choice(STATUSES)
        total = rng.randint(1, 50_000)
        failed = int(total * rng.random() * 0.1)
        d = {
            "id": f"batch_{i:08d}",
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": f"file-{i}",
            "completion_window": "24h",
            "status": status,
            "created_at": created,
            "model": rng.choice(MODELS),
            "expires_at": created + 86_400,
            "request_counts": {
                "total": total,
                "completed": total - failed if status == "completed" else 0,
                "failed": failed if status == "completed" else 0,
            },
            "metadata": {
                "description": f"job {i} {rng.choice(['eval', 'backfill', 'nightly'])}",
                "tags": rng.choice(["a,b", "prod", "", "eval,prod"]),
            },
        }
        if status not in ("validating", "failed"):
            d["in_progress_at"] = created + rng.randint(5, 600)
        if status == "completed":
            d["finalizing_at"] = d["in_progress_at"] + rng.randint(60, 20_000)
            d["completed_at"] = d["finalizing_at"] + rng.randint(1, 300)
            d["output_file_id"] = f"file-out-{i}"
            if rng.random() < 0.5:
                d["usage"] = {"input_tokens": total * 300, "output_tokens": total * 150, "total_tokens": total * 450}
        elif status == "failed":
            d["failed_at"] = created + 30
        elif status == "expired":
            d["expired_at"] = created + 86_400
        elif status == "cancelled":
            d["cancelling_at"] = created + 700
            d["cancelled_at"] = created + 760
        out.append(d)
    return out


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def refresh_requests(known: int) -> tuple[int, int, int, float]:
    """HTTP requests for: the first load, a refresh with nothing changed, a refresh after 3 new batches."""
    data = [d for d in synthetic(known, seed=5)]
    for d in data:  # a realistic account: nothing older than the newest few is still running
        if d["status"] in ("in_progress", "validating", "finalizing"):
            d["status"] = "completed"
    data.sort(key=lambda d: d["created_at"], reverse=True)
    requests = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        limit = int(request.url.params.get("limit", 20))
        after = request.url.params.get("after")
        start = 0 if not after else next(i for i, d in enumerate(data) if d["id"] == after) + 1
        page = data[start : start + limit]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": page,
                "has_more": start + limit < len(data),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            },
        )

    client = BatchClient(api_key="k", base_url="http://bench/v1", transport=httpx.MockTransport(handle))
    history = BatchHistory(client)
    history.refresh()
    history.to_dataframe()
    first = len(requests)
    history.refresh()
    unchanged = len(requests) - first
    for i in range(3):
        new = dict(data[0], id=f"batch_new_{i}", created_at=data[0]["created_at"] + 1, status="validating")
        data.insert(0, new)
    before = len(requests)
    start = time.perf_counter()
    history.refresh()
    rows = len(history.to_dataframe())
    update_ms = (time.perf_counter() - start) * 1000
    assert rows == known + 3
    return first, unchanged, len(requests) - before, update_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100_000)
    parser.add_argument("--known", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    start = time.perf_counter()
    batches = [Batch.model_validate(d) for d in synthetic(args.batches)]
    validate_s = time.perf_counter() - start
    start = time.perf_counter()
    frame = batches_frame(batches)
    frame_s = time.perf_counter() - start
    history = BatchHistory(index=BatchIndex(batches))
    history._view()  # build once, as a loaded history would

    rows = [
        ("stats()", median_ms(history.stats, args.repeat)),
        (
            "filter(status=[failed, expired])",
            median_ms(lambda: len(history.filter(status=["failed", "expired"])), args.repeat),
        ),
        ("filter(search='nightly')", median_ms(lambda: len(history.filter(search="nightly")), args.repeat)),
        (
            "filter(since, until, model, search)",
            median_ms(
                lambda: len(
                    history.filter(
                        since=T0 - 200 * 86_400, until=T0 - 100 * 86_400, model=["gpt-4.1", "o4-mini"], search="eval"
                    )
                ),
                args.repeat,
            ),
        ),
        (
            "summary_stats(filter_frame()) (cards)",
            median_ms(lambda: summary_stats(filter_frame(frame, status="completed")), args.repeat),
        ),
    ]
    print(
        f"{args.batches:,} synthetic batches (pydantic validation {validate_s:.2f} s, "
        f"frame build {frame_s:.2f} s, not targets)\n"
    )
    print(f"{'operation':<50}{'median ms':>11}{'target':>9}{'':>6}")
    for name, ms in rows:
        print(f"{name:<50}{ms:>11.1f}{'100':>9}{'ok' if ms <= 100 else 'SLOW':>6}")
    first, unchanged, after_new, update_ms = refresh_requests(args.known)
    report(
        "history",
        [
            *(
                Row(name, f"{ms:.1f} ms", f"{args.batches:,} batches", None, "<= 100 ms", ms <= 100)
                for name, ms in rows
            ),
            Row(
                f"refresh, {args.known:,} known unchanged",
                f"{unchanged} request(s)",
                f"first load {first}",
                None,
                "<= 2 requests",
                unchanged <= 2,
            ),
            Row(
                "refresh after 3 new (+ frame update)",
                f"{update_ms:.0f} ms",
                f"{after_new} request(s)",
                None,
                "info",
                None,
            ),
        ],
    )
    print(f"\nbatch_history over {args.known:,} known batches (BatchIndex, MockTransport, pages of 100):")
    print(
        f"  first load: {first} requests; refresh, nothing changed: {unchanged} request(s) (target <= 2: "
        f"{'met' if unchanged <= 2 else 'NOT met'}); refresh after 3 new batches: {after_new} request(s), "
        f"{update_ms:.0f} ms including the frame update"
    )


if __name__ == "__main__":
    main()
