"""The jobs' done-when test: a job of more than 100,000 requests (3 parts) over the local server (rate 0, a few %
failures) is driven by a separate Python process that is killed (SIGKILL) while parts are still to be created
and retries are due; a new process rebuilds the job from the API alone, resumes it, and gets a frame with every
custom_id exactly once, the retryable failures retried, and attempts that match the batches that ran each request.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from faults import SECRET

from batch_widgets import facts

pytestmark = pytest.mark.slow

N_REQUESTS = 100_200  # three parts: 50,000 + 50,000 + 200
FAILURE_RATE = 0.03
MAX_ATTEMPTS = 3

DRIVER = textwrap.dedent(
    """
    import sys
    from batch_widgets.client import BatchClient
    from batch_widgets.jobs import estimate_tokens
    from batch_widgets.jsonl import build_requests, encode_line

    base_url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Every request the same size, so each holds the same estimated tokens.
    requests = build_requests([f"ticket {i:06d}: my order is late" for i in range(n)], model="gpt-4o-mini")
    for line in requests[::5000]:  # the server answers these 400 (a role it does not know): never retried
        line["body"]["messages"][0]["role"] = "robot"
    per_request = estimate_tokens(encode_line(requests[0]))
    with BatchClient(api_key=key, base_url=base_url) as client:
        # Room for one full part and not a request more: part 2 waits for part 1 and its retries.
        job = client.submit_job(requests, description="done-when", max_attempts=%d,
                                max_enqueued_tokens=per_request * 50_100)
        print(job.id, flush=True)
        job.wait(poll_interval=0.05, max_poll_interval=0.2, progress=False)
        print("finished", flush=True)
"""
    % MAX_ATTEMPTS
)


def _job_batches(client, job_id):
    return [b for b in client.iter_batches() if (b.metadata or {}).get(facts.JOB_ID_KEY) == job_id]


RESUME = textwrap.dedent("""
    import json, sys
    from batch_widgets.client import BatchClient

    base_url, key, job_id, out = sys.argv[1:5]
    with BatchClient(api_key=key, base_url=base_url) as client:
        job = client.job(job_id)  # from the API alone: this process never saw the job
        print(job.status, flush=True)
        job.resume()
        job.wait(poll_interval=0.05, max_poll_interval=0.2, progress=False, timeout=300)
        print(job.status, flush=True)
        frame = job.results().to_dataframe()
        frame[["custom_id", "status", "status_code", "error_code", "ok", "attempts", "batch_id"]].to_parquet(out)
        print(json.dumps([{"id": b.id, "status": str(b.status), "metadata": b.metadata} for b in job.batches]))
""")


def _job_batches(client, job_id):
    return [b for b in client.iter_batches() if (b.metadata or {}).get(facts.JOB_ID_KEY) == job_id]


def test_killed_driver_resumed_from_a_new_process(tmp_path):
    import pandas as pd

    from batch_widgets.client import BatchClient
    from batch_widgets.jobs import DEFAULT_RETRY_ON, retryable_mask
    from batch_widgets.server.local import LocalBatchServer

    out = tmp_path / "frame.parquet"
    with (
        LocalBatchServer(
            tmp_path / "srv", api_key=SECRET, rate=0, failure_rate=FAILURE_RATE, poll_interval=0.05
        ) as server,
        BatchClient(api_key=SECRET, base_url=server.base_url) as api,
    ):
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, server.base_url, SECRET, str(N_REQUESTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            job_id = driver.stdout.readline().strip()
            assert job_id.startswith("job_"), driver.stderr.read()
            # Kill it once part 1 has ended: its retries are due and part 2 is not created yet.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(b.is_terminal for b in _job_batches(api, job_id)):
                time.sleep(0.02)
            driver.send_signal(signal.SIGKILL)
            driver.wait(10)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait(10)
            driver.stdout.close()
            driver.stderr.close()
        parts_created = {b.metadata[facts.JOB_PART_KEY] for b in _job_batches(api, job_id)}
        assert "2/3" not in parts_created, "the driver was killed too late to leave a part uncreated"

        done = subprocess.run(
            [sys.executable, "-c", RESUME, server.base_url, SECRET, job_id, str(out)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    status_before, status_after, batches_json = done.stdout.strip().splitlines()
    assert (status_before, status_after) == ("incomplete", "completed")
    batches = json.loads(batches_json)

    frame = pd.read_parquet(out)
    assert len(frame) == N_REQUESTS and frame["custom_id"].is_unique
    assert frame["custom_id"].tolist() == [f"request-{i}" for i in range(N_REQUESTS)]  # input order
    live = [b for b in batches if b["status"] != "failed"]  # a batch refused for the token limit never ran
    slots = [(b["metadata"][facts.JOB_PART_KEY], b["metadata"][facts.JOB_ROUND_KEY]) for b in live]
    assert len(slots) == len(set(slots)), f"a part or round was created twice: {slots}"
    assert {p for p, _ in slots} == {"1/3", "2/3", "3/3"}
    # attempts = the round of the batch that produced the row + 1 (a round runs only what failed before it).
    round_of = {b["id"]: int(b["metadata"][facts.JOB_ROUND_KEY]) for b in live}
    assert (frame["attempts"] == frame["batch_id"].map(round_of) + 1).all()
    retried = frame["attempts"] > 1
    assert retried.sum() > 0.01 * N_REQUESTS
    assert frame.loc[retried, "ok"].mean() > 0.9  # the retried 5xx/429s came back answered
    still = retryable_mask(frame, [str(c) for c in DEFAULT_RETRY_ON])
    assert (frame.loc[still, "attempts"] == MAX_ATTEMPTS).all()  # nothing retryable left with attempts to spare
    never = frame["status_code"].isin([400, 401, 403, 404, 422]).fillna(False)
    assert frame.index[never].tolist() == list(range(0, N_REQUESTS, 5000))  # the bad requests, and only them
    assert (frame.loc[never, "attempts"] == 1).all()  # were not sent again
