"""Retry rules (SDK-like) and the ambiguous-create guard, with an injected sleep so nothing really waits."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from fake_batch_api import FakeBatchAPI

from batch_widgets import _retry, facts
from batch_widgets.client import BatchClient
from batch_widgets.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    RateLimitError,
    ServerError,
)

KEY = "sk-test-secret-0123456789"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(api: FakeBatchAPI, **kw):
    sleeps = Sleeps()
    return BatchClient(KEY, transport=api.transport(), sleep=sleeps, **kw), sleeps


def respond(status, headers=None, **kw):
    return lambda request: httpx.Response(status, headers=headers, **kw)


def raise_(exc_type, message="boom"):
    def fault(request):
        raise exc_type(message, request=request)

    return fault


def test_429_honours_retry_after_seconds():
    api = FakeBatchAPI(1)
    api.faults = [respond(429, {"retry-after": "3"}, json={"error": {"message": "slow down"}})]
    client, sleeps = make(api)
    assert client.retrieve_batch("batch_0000").id == "batch_0000"
    assert sleeps == [3.0] and len(api.requests) == 2


def test_retry_after_ms_wins_over_retry_after():
    api = FakeBatchAPI(1)
    api.faults = [respond(429, {"retry-after-ms": "250", "retry-after": "9"})]
    client, sleeps = make(api)
    client.list_batches()
    assert sleeps == [0.25]


def test_retry_after_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    delay = _retry.retry_after_seconds({"retry-after": format_datetime(when, usegmt=True)})
    assert 18 < delay <= 20


@pytest.mark.parametrize("value", ["0", "-1", "61", "3600", "soon"])
def test_retry_after_outside_0_60_falls_back_to_backoff(value):
    api = FakeBatchAPI(1)
    api.faults = [respond(503, {"retry-after": value})]
    client, sleeps = make(api)
    client.list_batches()
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


def test_503_then_success_with_exponential_backoff():
    api = FakeBatchAPI(1)
    api.faults = [respond(503), respond(502)]
    client, sleeps = make(api)
    assert client.retrieve_batch("batch_0000").id == "batch_0000"
    assert len(api.requests) == 3
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


def test_backoff_doubles_to_8_seconds_with_jitter():
    assert [_retry.retry_delay(n, rand=lambda: 0.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert [_retry.retry_delay(n, rand=lambda: 1.0) for n in range(5)] == [0.375, 0.75, 1.5, 3, 6]


def test_gives_up_after_max_retries_and_raises_typed_error():
    api = FakeBatchAPI(1)
    api.faults = [respond(500, json={"error": {"message": "oops"}})] * 5
    client, sleeps = make(api)
    with pytest.raises(ServerError, match="oops"):
        client.list_batches()
    assert len(api.requests) == 3 and len(sleeps) == 2  # max_retries=2 by default


def test_max_retries_is_configurable():
    api = FakeBatchAPI(1)
    api.faults = [respond(429)] * 5
    client, sleeps = make(api, max_retries=5)
    assert client.list_batches().data
    assert len(api.requests) == 6 and len(sleeps) == 5
    api.faults = [respond(429)]
    none, _ = make(api, max_retries=0)
    with pytest.raises(RateLimitError):
        none.list_batches()


def test_connect_error_is_retried():
    api = FakeBatchAPI(1)
    api.faults = [raise_(httpx.ConnectError)]
    client, sleeps = make(api)
    assert client.list_batches().data and len(sleeps) == 1


def test_timeout_is_retried_then_raised_as_timeout_error():
    api = FakeBatchAPI(1)
    api.faults = [raise_(httpx.ReadTimeout)] * 3
    client, sleeps = make(api)
    with pytest.raises(APITimeoutError, match="timed out") as info:
        client.retrieve_batch("batch_0000")
    assert isinstance(info.value, APIConnectionError) and isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(api.requests) == 3


def test_408_is_retried_but_409_and_400_are_not():
    api = FakeBatchAPI(1)
    api.faults = [respond(408)]
    client, sleeps = make(api)
    client.list_batches()
    assert len(api.requests) == 2
    for status, cls in [(409, ConflictError), (400, BadRequestError)]:
        api.requests.clear()
        api.faults = [respond(status, {"retry-after": "1", "x-should-retry": "true" if status == 409 else ""})]
        with pytest.raises(cls):
            client.cancel_batch("batch_0000")
        assert len(api.requests) == 1


def test_x_should_retry_overrides_status():
    api = FakeBatchAPI(1)
    api.faults = [respond(400, {"x-should-retry": "true"})]
    client, _ = make(api)
    client.list_batches()
    assert len(api.requests) == 2
    api.requests.clear()
    api.faults = [respond(503, {"x-should-retry": "false"})]
    with pytest.raises(ServerError):
        client.list_batches()
    assert len(api.requests) == 1


def test_seekable_upload_is_resent_whole(tmp_path):
    api = FakeBatchAPI()
    api.faults = [respond(503)]
    client, _ = make(api)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"line one\nline two\n")
    fo = client.upload_file(src)
    assert api.contents[fo.id] == b"line one\nline two\n" and len(api.requests) == 2


def test_non_seekable_upload_is_not_retried():
    class Pipe(io.RawIOBase):  # readable once, like a socket or a pipe
        def __init__(self):
            self.data = io.BytesIO(b"abc\n")

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buf):
            chunk = self.data.read(len(buf))
            buf[: len(chunk)] = chunk
            return len(chunk)

    api = FakeBatchAPI()
    api.faults = [respond(503)]
    client, sleeps = make(api)
    with pytest.raises(ServerError):
        client.upload_file(Pipe(), filename="p.jsonl")
    assert len(api.requests) == 1 and sleeps == []


# -- ambiguous create ---------------------------------------------------------------------------------------
def land_then_drop(api: FakeBatchAPI, exc_type=httpx.RemoteProtocolError):
    """The create reaches the server and is stored, then the connection drops before the answer arrives."""

    def fault(request):
        api.add_batch(**json.loads(request.content))
        raise exc_type("server disconnected without sending a response", request=request)

    return fault


@pytest.mark.parametrize("exc_type", [httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.ReadError])
def test_create_that_landed_then_dropped_creates_exactly_one_batch(exc_type, caplog):
    api = FakeBatchAPI(3)
    api.faults = [land_then_drop(api, exc_type)]
    client, sleeps = make(api)
    batch = client.create_batch("file-1", "/v1/chat/completions", metadata={"description": "once"})
    created = [b for b in api.batches if b["input_file_id"] == "file-1"]
    assert len(created) == 1 and batch.id == created[0]["id"]
    assert batch.metadata[facts.REQUEST_TAG_KEY] == created[0]["metadata"][facts.REQUEST_TAG_KEY]
    assert [r.method for r in api.requests] == ["POST", "GET"]  # create, look-up; no second create
    assert "not a duplicate" in caplog.text


def test_create_that_landed_then_500_creates_exactly_one_batch():
    api = FakeBatchAPI()

    def fault(request):
        api.add_batch(**json.loads(request.content))
        return httpx.Response(500, json={"error": {"message": "internal"}})

    api.faults = [fault]
    client, _ = make(api)
    client.create_batch("file-1", "/v1/chat/completions")
    assert len(api.batches) == 1


def test_create_that_did_not_land_is_sent_again():
    api = FakeBatchAPI(2)
    api.faults = [raise_(httpx.ReadError)]
    client, _ = make(api)
    batch = client.create_batch("file-1", "/v1/chat/completions")
    assert [r.method for r in api.requests] == ["POST", "GET", "POST"]
    assert len(api.batches) == 3 and api.batches[0]["id"] == batch.id


def test_create_that_failed_to_connect_is_resent_without_lookup():
    api = FakeBatchAPI()
    api.faults = [raise_(httpx.ConnectError)]
    client, _ = make(api)
    client.create_batch("file-1", "/v1/chat/completions")
    assert [r.method for r in api.requests] == ["POST", "POST"]


def test_create_found_even_when_retries_are_exhausted():
    api = FakeBatchAPI()
    api.faults = [land_then_drop(api)]
    client, sleeps = make(api, max_retries=0)
    assert client.create_batch("file-1", "/v1/chat/completions").input_file_id == "file-1"
    assert len(api.batches) == 1 and sleeps == []


def test_untagged_create_is_not_resent_after_ambiguous_failure():
    api = FakeBatchAPI()
    api.faults = [land_then_drop(api)]
    client, _ = make(api)
    full = {f"k{i}": "v" for i in range(facts.METADATA_MAX_KEYS)}
    with pytest.raises(APIConnectionError):
        client.create_batch("file-1", "/v1/chat/completions", metadata=full)
    assert len(api.batches) == 1 and [r.method for r in api.requests] == ["POST"]


def test_create_lookup_failure_raises_the_original_error():
    api = FakeBatchAPI()
    api.faults = [raise_(httpx.ReadError, "dropped")] + [respond(503)] * 3
    client, _ = make(api)
    with pytest.raises(APIConnectionError, match="dropped") as info:
        client.create_batch("file-1", "/v1/chat/completions")
    assert isinstance(info.value.__cause__, ServerError)
    assert [r.method for r in api.requests] == ["POST", "GET", "GET", "GET"]
