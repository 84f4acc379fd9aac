"""BatchClient against a real local server behind a fault-injecting transport.

Every retryable fault is retried by the rules (attempts counted, waits recorded, never slept), paging always
ends, and a create whose answer was lost never makes a second batch.
"""

from __future__ import annotations

import logging

import pytest
from faults import AMBIGUOUS, ENDPOINT, FAULTS, RETRYABLE, SECRET, batch_json, request_lines

from batch_widgets import errors, facts
from batch_widgets.index import BatchIndex

BATCHES = r"/batches$"
ONE_BATCH = r"/batches/batch_[^/]+$"

#: The wait each fault asks for: the server's Retry-After when it sends a usable one, else backoff.
REQUESTED_WAIT = {"rate_limited": 7.0, "rate_limited_ms": 1.5, "unavailable": 2.0}
#: What the caller sees when the faults outlast the retries.
FINAL_ERROR = {
    "rate_limited": errors.RateLimitError,
    "rate_limited_ms": errors.RateLimitError,
    "rate_limited_date": errors.RateLimitError,
    "server_error": errors.ServerError,
    "bad_gateway_html": errors.ServerError,
    "unavailable": errors.ServerError,
    "gateway_timeout": errors.ServerError,
    "request_timeout": errors.APIError,
    "connect_error": errors.APIConnectionError,
    "connect_timeout": errors.APITimeoutError,
    "drop_after_send": errors.APIConnectionError,
    "drop_mid_body": errors.APIConnectionError,
    "read_timeout": errors.APITimeoutError,
}


@pytest.fixture(scope="module")
def input_file(server):
    from batch_widgets.client import BatchClient

    with BatchClient(api_key=SECRET, base_url=server.base_url) as client:
        return client.upload_file(request_lines(3), filename="small.jsonl")


@pytest.fixture(scope="module")
def some_batches(server, input_file):
    from batch_widgets.client import BatchClient

    with BatchClient(api_key=SECRET, base_url=server.base_url) as client:
        return [client.create_batch(input_file.id, ENDPOINT, metadata={"n": str(i)}) for i in range(5)]


def _check_backoff(waits):
    # Exponential backoff from 0.5 s, doubling, jittered down by at most 25 %.
    for n, wait in enumerate(waits):
        assert 0.5 * 2**n * 0.75 <= wait <= 0.5 * 2**n, waits


@pytest.mark.parametrize("fault", RETRYABLE)
def test_retryable_fault_is_retried_then_succeeds(faulty, clock, some_batches, fault):
    client, transport = faulty
    target = some_batches[0]
    transport.inject(fault, times=2, method="GET", path=ONE_BATCH)
    batch = client.retrieve_batch(target.id)
    assert batch.id == target.id
    attempts = transport.calls("GET", ONE_BATCH)
    assert [a.fault for a in attempts] == [fault, fault, None]  # max_retries=2: three attempts in all
    assert len(clock.sleeps) == 2
    if fault in REQUESTED_WAIT:
        assert clock.sleeps == [REQUESTED_WAIT[fault]] * 2
    else:
        _check_backoff(clock.sleeps)


@pytest.mark.parametrize("fault", RETRYABLE)
def test_fault_outlasting_retries_raises_a_typed_error(faulty, clock, some_batches, fault):
    client, transport = faulty
    transport.inject(fault, times=None, method="GET", path=BATCHES)
    with pytest.raises(FINAL_ERROR[fault]) as caught:
        client.list_batches(limit=5)
    assert isinstance(caught.value, errors.APIError)
    assert len(transport.calls("GET", BATCHES)) == 3
    assert len(clock.sleeps) == 2
    assert str(caught.value)  # a message a user can read


def test_malformed_json_is_an_api_error_not_a_crash(faulty, some_batches):
    client, transport = faulty
    transport.inject("malformed_json", times=None, method="GET", path=BATCHES)
    with pytest.raises(errors.APIError, match="not a valid BatchPage"):
        client.list_batches()


@pytest.mark.parametrize("status_fault", ["server_error", "unavailable"])
def test_no_retry_budget_means_one_attempt(server, clock, status_fault):
    from faults import FaultTransport

    from batch_widgets.client import BatchClient

    transport = FaultTransport().inject(status_fault, times=None)
    with BatchClient(
        api_key=SECRET, base_url=server.base_url, transport=transport, sleep=clock.sleep, max_retries=0
    ) as client:
        with pytest.raises(errors.ServerError):
            client.list_batches()
    assert len(transport.attempts) == 1 and clock.sleeps == []


def test_conflict_and_not_found_are_never_retried(faulty, plain, clock, input_file):
    client, transport = faulty
    batch = plain.create_batch(input_file.id, ENDPOINT)
    _wait_terminal(plain, batch.id)  # the server runs at full speed: it completes at once
    with pytest.raises(errors.ConflictError):
        client.cancel_batch(batch.id)
    assert len(transport.calls("POST", r"/cancel$")) == 1
    with pytest.raises(errors.NotFoundError):
        client.retrieve_batch("batch_doesnotexist0000")
    assert len(transport.calls("GET", ONE_BATCH)) == 1
    assert clock.sleeps == []


def _wait_terminal(client, batch_id, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.retrieve_batch(batch_id)
        if batch.is_terminal:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} did not finish in {timeout} s")


def _batches_for(plain, file_id):
    return [b for b in plain.iter_batches() if b.input_file_id == file_id]


@pytest.mark.parametrize("fault", [*AMBIGUOUS, "server_error", "bad_gateway_html", "rate_limited", "connect_error"])
def test_create_is_never_doubled(faulty, plain, fault):
    """The answer to a create is lost (or refused) once: the caller still gets exactly one batch."""
    client, transport = faulty
    file = plain.upload_file(request_lines(2, prefix=fault))
    transport.inject(fault, times=1, method="POST", path=BATCHES)
    batch = client.create_batch(file.id, ENDPOINT, metadata={"description": fault})
    on_server = _batches_for(plain, file.id)
    assert [b.id for b in on_server] == [batch.id], on_server
    creates = transport.calls("POST", BATCHES)
    if fault in AMBIGUOUS:  # the first attempt reached the server: found by its tag, not sent again
        assert len(creates) == 1
    else:
        assert len(creates) == 2


@pytest.mark.parametrize("fault", AMBIGUOUS)
def test_create_lost_every_time_still_makes_one_batch(faulty, plain, fault):
    client, transport = faulty
    file = plain.upload_file(request_lines(2, prefix="every-" + fault))
    transport.inject(fault, times=None, method="POST", path=BATCHES)
    batch = client.create_batch(file.id, ENDPOINT)
    assert [b.id for b in _batches_for(plain, file.id)] == [batch.id]


def test_untaggable_create_is_not_resent_after_an_ambiguous_failure(faulty, plain):
    """With every metadata key taken there is no room for the tag: the client must not guess."""
    client, transport = faulty
    file = plain.upload_file(request_lines(2, prefix="full-metadata"))
    metadata = {f"k{i}": "v" for i in range(facts.METADATA_MAX_KEYS)}
    transport.inject("drop_after_send", times=None, method="POST", path=BATCHES)
    with pytest.raises(errors.APIConnectionError):
        client.create_batch(file.id, ENDPOINT, metadata=metadata)
    assert len(transport.calls("POST", BATCHES)) == 1
    assert len(_batches_for(plain, file.id)) == 1  # created once, by the only attempt


def test_create_lookup_failing_too_reports_the_create_error(faulty, plain):
    client, transport = faulty
    file = plain.upload_file(request_lines(2, prefix="lookup-fails"))
    transport.inject("drop_after_send", times=None, method="POST", path=BATCHES)
    transport.inject("server_error", times=None, method="GET", path=BATCHES)
    with pytest.raises(errors.APIError):
        client.create_batch(file.id, ENDPOINT)
    transport.clear()
    assert len(_batches_for(plain, file.id)) <= 1


@pytest.mark.parametrize("fault", ["stuck_cursor", "empty_page_has_more"])
def test_paging_terminates_on_a_bad_cursor(faulty, fault, caplog):
    client, transport = faulty
    transport.inject(fault, times=None, method="GET", path=BATCHES)
    with caplog.at_level(logging.WARNING):
        batches = list(client.iter_batches(page_size=2))
    assert len(transport.calls("GET", BATCHES)) <= 2
    if fault == "stuck_cursor":
        assert [b.id for b in batches] == ["batch_stuck_1", "batch_stuck_2"]
    else:
        assert batches == []
    assert "stopped early" in caplog.text


@pytest.mark.parametrize("fault", ["stuck_cursor", "empty_page_has_more"])
def test_batch_index_refresh_terminates_on_a_bad_cursor(faulty, fault):
    client, transport = faulty
    transport.inject(fault, times=None, method="GET", path=BATCHES)
    index = BatchIndex()
    index.refresh(client)
    index.refresh(client)
    assert index.requests_made <= 6


def test_paging_through_faults_loses_and_repeats_nothing(faulty, plain, some_batches):
    client, transport = faulty
    expected = [b.id for b in plain.iter_batches(page_size=100)]
    for fault in ("server_error", "drop_mid_body", "rate_limited", "connect_error"):
        transport.inject(fault, times=1, method="GET", path=BATCHES)
        transport.inject("server_error", times=1, method="GET", path=BATCHES)  # two in a row, within budget
        transport.inject("pass", times=1, method="GET", path=BATCHES)
    got = [b.id for b in client.iter_batches(page_size=2)]
    assert got == expected
    assert len(got) == len(set(got)) >= 5


def test_page_that_never_ends_is_capped(server, clock):
    """A server that invents a new batch on every page (has_more forever) is stopped by the page cap."""
    import itertools

    import httpx

    from batch_widgets.client import BatchClient

    counter = itertools.count()

    def endless(request):
        n = next(counter)
        data = [batch_json(f"batch_endless{n}", 1_700_000_000 - n)]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": True})

    with BatchClient(
        api_key="k", base_url="http://127.0.0.1:9/v1", transport=httpx.MockTransport(endless), sleep=clock.sleep
    ) as client:
        batches = list(client.iter_batches(page_size=1, max_pages=50))
    assert len(batches) == 50


def test_upload_retried_on_connect_error_uploads_once(faulty, plain):
    client, transport = faulty
    content = request_lines(5, prefix="upload")
    transport.inject("connect_error", times=2, method="POST", path=r"/files$")
    file = client.upload_file(content, filename="up.jsonl")
    assert plain.file_content(file.id) == content
    assert len(transport.calls("POST", r"/files$")) == 3


def test_download_dropped_mid_body_is_retried_and_complete(faulty, plain, tmp_path):
    client, transport = faulty
    content = request_lines(2000, prefix="download")
    file = plain.upload_file(content, filename="big.jsonl")
    transport.inject("drop_mid_body", times=2, method="GET", path=r"/content$")
    path = client.download_file(file.id, tmp_path / "out.jsonl")
    assert path.read_bytes() == content
    assert not [p for p in tmp_path.iterdir() if p.name != "out.jsonl"]  # no partial files left behind


def test_download_failing_leaves_no_partial_file(faulty, plain, tmp_path):
    client, transport = faulty
    file = plain.upload_file(request_lines(500, prefix="partial"), filename="p.jsonl")
    transport.inject("drop_mid_body", times=None, method="GET", path=r"/content$")
    with pytest.raises(errors.APIConnectionError):
        client.download_file(file.id, tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_every_fault_kind_is_exercised():
    """Bookkeeping for the report: the fault kinds this module injects."""
    assert set(FAULTS) == set(RETRYABLE) | {"malformed_json", "stuck_cursor", "empty_page_has_more"}
    assert len(FAULTS) == 16
