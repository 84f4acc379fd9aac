"""A job's merged frame against one batch's, per line: time and peak memory of what the user calls.

Over the local server (rate 0, 3 % transient failures, seeded): one batch of ``--lines`` requests, and a job of
twice as many (two full parts plus their retry rounds). Each harvest runs in a fresh subprocess (peak memory is
that harvest alone, measured above the process's own baseline after imports):

- baseline: ``client.results(batch_id).to_dataframe()`` of the single batch;
- ours: ``job.results().to_dataframe()`` of ``job = client.job(job_id)`` (every part and round downloaded, merged
  into one row per request with ``attempts`` and ``batch_id``); the rebuild itself is timed apart (information).

Target: per line, the job within 1.25x of the single batch in time and in peak memory.

    .venv/bin/python benchmarks/bench_jobs.py [--lines 50000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from _table import Row, report

HARVEST = r"""
import json, sys, time
from batch_widgets.client import BatchClient
import pandas, pyarrow  # noqa: F401 - imported before the baseline

def status(field):  # kB, from /proc (Linux)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

base_url, key, kind, ident = sys.argv[1:5]
with BatchClient(api_key=key, base_url=base_url) as client:
    client.list_batches(limit=1)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the present RSS: the import's own peak does not count
    before = status("VmRSS")
    start = time.perf_counter()
    job = client.job(ident) if kind == "job" else None  # rebuilt from the API: timed on its own
    rebuilt = time.perf_counter()
    frame = (job.results() if job is not None else client.results(ident)).to_dataframe()
    end = time.perf_counter()
    peak = status("VmHWM")
print(json.dumps({"rows": len(frame), "seconds": end - rebuilt, "rebuild": rebuilt - start,
                  "peak_kib": peak - before}))
"""


def harvest(base_url: str, key: str, kind: str, ident: str) -> dict:
    out = subprocess.run([sys.executable, "-c", HARVEST, base_url, key, kind, ident], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the {kind} harvest failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from batch_widgets.client import BatchClient
    from batch_widgets.jsonl import build_requests
    from batch_widgets.server.local import LocalBatchServer

    key = "bench-jobs"
    n = args.lines
    with (
        tempfile.TemporaryDirectory() as data,
        LocalBatchServer(data, api_key=key, rate=0, failure_rate=0.03, seed=5, poll_interval=0.05) as server,
        BatchClient(api_key=key, base_url=server.base_url) as client,
    ):
        prompts = [f"ticket {i:06d}: my order arrived late and the box was damaged, what now?" for i in range(2 * n)]
        requests = build_requests(prompts, model="gpt-4o-mini")
        single = client.wait(client.submit(requests[:n]), poll_interval=0.1, progress=False)
        job = client.submit_job(requests, max_part_requests=n, max_attempts=3)
        job.wait(poll_interval=0.1, max_poll_interval=0.5, progress=False)
        runs: dict[str, list[dict]] = {"single": [], "job": []}
        for _ in range(args.repeat):  # round-robin, so noise falls on both alike
            runs["single"].append(harvest(server.base_url, key, "batch", single.id))
            runs["job"].append(harvest(server.base_url, key, "job", job.id))

    def per_line(kind: str, field: str) -> float:
        return statistics.median(r[field] / r["rows"] for r in runs[kind])

    t_single, t_job = per_line("single", "seconds") * 1e6, per_line("job", "seconds") * 1e6
    m_single, m_job = per_line("single", "peak_kib") * 1024, per_line("job", "peak_kib") * 1024
    rows_job = runs["job"][0]["rows"]
    rounds = len(job.batches) - job.parts
    rebuild = statistics.median(r["rebuild"] for r in runs["job"])
    report(
        "jobs",
        [
            Row(
                f"job frame time per line ({rows_job:,} rows, {job.parts} parts + {rounds} retries)",
                f"{t_job:.1f} µs",
                f"{t_single:.1f} µs (1 batch)",
                t_job / t_single,
                "<= 1.25x",
                t_job / t_single <= 1.25,
            ),
            Row(
                "job frame peak memory per line",
                f"{m_job:.0f} B",
                f"{m_single:.0f} B (1 batch)",
                m_job / m_single,
                "<= 1.25x",
                m_job / m_single <= 1.25,
            ),
            Row("client.job(id): rebuilt from the API", f"{rebuild * 1000:.0f} ms", "", None, "", None),
        ],
    )


if __name__ == "__main__":
    main()
