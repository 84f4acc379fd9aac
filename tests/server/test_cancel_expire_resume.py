"""Cancel, expiry and restart-resume: partial output is kept and every request is accounted for exactly once."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import openai
import pytest
from server_helpers import make_client, read_lines, submit, wait_for

from batch_widgets.server.local import LocalBatchServer
from batch_widgets.server.storage import Storage


def outcome_ids(client, batch):
    output = read_lines(client, batch.output_file_id)
    errors = read_lines(client, batch.error_file_id)
    return output, errors, Counter(x["custom_id"] for x in output + errors)


def saved_state(data_dir, batch_id):
    storage = Storage(data_dir)
    try:
        return storage.get_batch(batch_id)
    finally:
        storage.close()


def test_cancel_running_batch_keeps_partial_output(tmp_path):
    with LocalBatchServer(tmp_path, rate=40, poll_interval=0.1) as server, make_client(server) as client:
        batch = submit(client, 80)
        wait_for(client, batch.id, statuses=("in_progress",))
        while client.batches.retrieve(batch.id).request_counts.completed < 5:
            time.sleep(0.05)
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and isinstance(cancelling.cancelling_at, int)
        assert client.batches.cancel(batch.id).status in ("cancelling", "cancelled")  # idempotent while cancelling
        done = wait_for(client, batch.id)
        assert done.status == "cancelled" and isinstance(done.cancelled_at, int)
        assert done.completed_at is None
        output, errors, ids = outcome_ids(client, done)
        assert 5 <= len(output) < 80
        assert len(output) == done.request_counts.completed
        skipped = [x for x in errors if x["error"] and x["error"]["code"] == "batch_cancelled"]
        assert len(skipped) == 80 - len(output) - done.request_counts.failed
        assert all(x["response"] is None for x in skipped)
        assert ids == Counter({f"req-{i}": 1 for i in range(80)})
        with pytest.raises(openai.ConflictError) as info:
            client.batches.cancel(batch.id)
        assert info.value.status_code == 409
        assert info.value.body["message"] == "Cannot cancel a batch with status 'cancelled'."
        assert info.value.body["type"] == "invalid_request_error"


def test_batch_past_its_window_expires_with_partial_output(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=10, window_seconds=2, poll_interval=0.1) as server,
        make_client(server) as client,
    ):
        batch = submit(client, 100)
        done = wait_for(client, batch.id, timeout=10)
        assert done.status == "expired" and isinstance(done.expired_at, int)
        assert done.expires_at == done.created_at + 2 and done.expired_at >= done.expires_at
        output, errors, ids = outcome_ids(client, done)
        assert 0 < len(output) < 100
        expired = [x for x in errors if x["error"] and x["error"]["code"] == "batch_expired"]
        assert len(expired) == 100 - len(output)
        assert expired[0]["error"]["message"].startswith("This request could not be executed")
        assert ids == Counter({f"req-{i}": 1 for i in range(100)})


def test_restart_resumes_without_running_anything_twice(tmp_path):
    server = LocalBatchServer(tmp_path, rate=50, poll_interval=0.1)
    with make_client(server) as client:
        batch = submit(client, 120)
        while client.batches.retrieve(batch.id).request_counts.completed < 20:
            time.sleep(0.05)
    server.close()  # mid-batch
    stopped = saved_state(tmp_path, batch.id)
    assert stopped["status"] == "in_progress" and 20 <= stopped["request_counts"]["completed"] < 120
    with LocalBatchServer(tmp_path, rate=0, poll_interval=0.1) as again, make_client(again) as client:
        done = wait_for(client, batch.id)
        assert done.status == "completed"
        assert done.request_counts.completed == 120 and done.request_counts.total == 120
        output, errors, ids = outcome_ids(client, done)
        assert ids == Counter({f"req-{i}": 1 for i in range(120)})
        assert len({x["id"] for x in output}) == 120


def test_killed_process_resumes(tmp_path):
    """kill -9 the CLI server mid-batch; a new one on the same data dir finishes the batch exactly once."""
    env = {**os.environ, "BATCH_WIDGETS_HOME": str(tmp_path)}

    def start(rate):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batch_widgets.server.cli",
                "serve",
                "--port",
                str(port),
                "--rate",
                str(rate),
                "--failure-rate",
                "0",
                "--api-key",
                "k",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.batches.list(limit=1)
                return proc, client
            except openai.APIConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.1)

    proc, client = start(rate=40)
    try:
        batch = submit(client, 100)
        while client.batches.retrieve(batch.id).request_counts.completed < 15:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        client.close()
    killed = saved_state(tmp_path, batch.id)
    assert killed["status"] == "in_progress" and 15 <= killed["request_counts"]["completed"] < 100
    proc, client = start(rate=0)
    try:
        done = wait_for(client, batch.id)
        assert done.status == "completed" and done.request_counts.completed == 100
        _, _, ids = outcome_ids(client, done)
        assert ids == Counter({f"req-{i}": 1 for i in range(100)})
    finally:
        proc.terminate()
        proc.wait(10)
        client.close()


def test_second_server_on_same_dir_serves_but_one_runs(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=0, poll_interval=0.1) as owner,
        LocalBatchServer(tmp_path, rate=0, poll_interval=0.1) as other,
        make_client(other) as client,
    ):
        batch = submit(client, 30)  # created through the second; the first owns the runner lock and runs it
        done = wait_for(client, batch.id)
        _, _, ids = outcome_ids(client, done)
        assert ids == Counter({f"req-{i}": 1 for i in range(30)})
        assert owner.app.state.runner._lock_file is not None and other.app.state.runner._lock_file is None
