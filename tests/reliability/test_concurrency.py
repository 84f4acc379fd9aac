"""Ten threads creating, listing, retrieving and cancelling at once against one LocalBatchServer: no errors
(409 on a cancel that lost the race with the batch finishing is the only one allowed), no lost update (every
created batch is listed, once), and every batch's counts and files add up to its input."""

from __future__ import annotations

import collections
import json
import random
import threading
import time

import pytest
from faults import ENDPOINT, request_lines

from batch_widgets import errors

THREADS = 10
PER_THREAD = 5
LINES = 40


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory):
    """Slow enough (20 requests/s per batch: 2 s for 40) that batches are still running when the cancels arrive."""
    from batch_widgets.server.local import LocalBatchServer

    with LocalBatchServer(
        tmp_path_factory.mktemp("conc"), api_key="conc-key", rate=20, failure_rate=0.1, poll_interval=0.05
    ) as srv:
        yield srv


def _client(server):
    from batch_widgets.client import BatchClient

    return BatchClient(api_key="conc-key", base_url=server.base_url, timeout=30.0)


def _run_threads(target, n=THREADS):
    barrier = threading.Barrier(n)
    failures: list[BaseException] = []

    def run(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return failures


def _wait_all_terminal(client, ids, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batches = {b.id: b for b in client.iter_batches() if b.id in ids}
        if len(batches) == len(ids) and all(b.is_terminal for b in batches.values()):
            return batches
        time.sleep(0.1)
    raise AssertionError("batches did not finish")


def test_ten_threads_create_list_cancel(busy_server):
    shared = _client(busy_server)  # half the threads share one client (httpx pools are thread-safe)
    with _client(busy_server) as setup:
        file = setup.upload_file(request_lines(LINES, prefix="conc"))
    created: list[str] = []
    created_lock = threading.Lock()
    conflicts = collections.Counter()
    rng = random.Random(9)

    def work(i):
        client = shared if i % 2 else _client(busy_server)
        try:
            for k in range(PER_THREAD):
                batch = client.create_batch(file.id, ENDPOINT, metadata={"thread": str(i), "k": str(k)})
                with created_lock:
                    created.append(batch.id)
                    victim = rng.choice(created)
                # Read-your-writes: the new batch is on the first page (newest first, at most 50 exist).
                listed = {b.id for b in client.list_batches(limit=100).data}
                assert batch.id in listed
                assert client.retrieve_batch(batch.id).metadata["thread"] == str(i)
                for target in ([batch.id] if k % 2 == 0 else []) + [victim]:
                    try:
                        cancelled = client.cancel_batch(target)
                        assert cancelled.status.value in ("cancelling", "cancelled")
                    except errors.ConflictError:
                        conflicts["409"] += 1
        finally:
            if client is not shared:
                client.close()

    failures = _run_threads(work)
    assert failures == [], failures[:3]
    assert len(created) == len(set(created)) == THREADS * PER_THREAD

    with _client(busy_server) as client:
        batches = _wait_all_terminal(client, set(created))
        listed = [b.id for b in client.iter_batches(page_size=7)]
        assert sorted(listed) == sorted(created)  # every created batch listed, exactly once, nothing else
        statuses = collections.Counter(b.status.value for b in batches.values())
        assert set(statuses) <= {"completed", "cancelled"} and statuses["cancelled"] > 0
        for batch in batches.values():
            _check_counts_add_up(client, batch)
    shared.close()


def _check_counts_add_up(client, batch):
    """Each input custom_id is in the output or the error file exactly once; counts match the files."""
    counts = batch.request_counts
    ok = client.file_content(batch.output_file_id).splitlines() if batch.output_file_id else []
    bad = client.file_content(batch.error_file_id).splitlines() if batch.error_file_id else []
    ids = collections.Counter(json.loads(line)["custom_id"] for line in ok + bad)
    if batch.status.value == "completed":
        assert counts.total == LINES and counts.completed + counts.failed == LINES
        assert (counts.completed, counts.failed) == (len(ok), len(bad))
    else:  # cancelled: lines never run are in the error file as batch_cancelled, or absent if never validated
        assert counts.completed == len(ok) and counts.completed + counts.failed <= len(ok) + len(bad)
    assert max(ids.values(), default=1) == 1
    assert set(ids) <= {f"conc-{i}" for i in range(LINES)}
    if counts.total:
        assert set(ids) == {f"conc-{i}" for i in range(LINES)}


def test_ten_threads_cancel_one_batch(busy_server):
    with _client(busy_server) as setup:
        file = setup.upload_file(request_lines(400, prefix="one"))
        batch = setup.create_batch(file.id, ENDPOINT)
    outcomes = collections.Counter()
    lock = threading.Lock()

    def cancel(_i):
        with _client(busy_server) as client:
            try:
                result = client.cancel_batch(batch.id).status.value
            except errors.ConflictError:
                result = "409"
        with lock:
            outcomes[result] += 1

    assert _run_threads(cancel) == []
    assert sum(outcomes.values()) == THREADS
    assert set(outcomes) <= {"cancelling", "cancelled", "409"} and outcomes["cancelling"] >= 1
    with _client(busy_server) as client:
        final = _wait_all_terminal(client, {batch.id})[batch.id]
        assert final.status.value == "cancelled"
        _check_cancelled_file(client, final, 400)


def _check_cancelled_file(client, batch, n):
    ok = client.file_content(batch.output_file_id).splitlines() if batch.output_file_id else []
    bad = client.file_content(batch.error_file_id).splitlines() if batch.error_file_id else []
    ids = collections.Counter(json.loads(line)["custom_id"] for line in ok + bad)
    assert max(ids.values(), default=1) == 1
    if batch.request_counts.total:
        assert len(ids) == n


def test_ten_threads_upload_at_once(busy_server):
    contents = {i: request_lines(50 + i, prefix=f"up{i}") for i in range(THREADS)}
    ids = {}

    def upload(i):
        with _client(busy_server) as client:
            ids[i] = client.upload_file(contents[i], filename=f"t{i}.jsonl").id

    assert _run_threads(upload) == []
    with _client(busy_server) as client:
        for i, file_id in ids.items():
            assert client.file_content(file_id) == contents[i]
        listed = {f.id for f in client.list_files(purpose="batch").data}
        assert set(ids.values()) <= listed
