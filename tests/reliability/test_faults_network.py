"""Faults on a real socket (no transport injection): a server in front of the local API that hangs, hangs up,
cuts the body short or answers garbage. Both BatchClient and AsyncBatchClient retry by the rules, give up with
a typed error in bounded time, and never create a batch twice."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from faults import ENDPOINT, SECRET, FakeClock, RawFaultServer, request_lines

from batch_widgets import errors
from batch_widgets.client import AsyncBatchClient, BatchClient

TIMEOUT = 0.3
WIRE_FAULTS = ["hang", "close_before_reply", "proxy_then_close", "proxy_half_body", "garbage"]
FINAL = {"hang": errors.APITimeoutError}


@pytest.fixture
def raw(server):
    proxy = RawFaultServer(server.base_url.removesuffix("/v1"))
    yield proxy
    proxy.close()


class AsyncClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _sync(raw, clock, **kw):
    return BatchClient(api_key=SECRET, base_url=raw.base_url, timeout=TIMEOUT, sleep=clock.sleep, **kw)


def _async(raw, clock, **kw):
    return AsyncBatchClient(api_key=SECRET, base_url=raw.base_url, timeout=TIMEOUT, sleep=clock.sleep, **kw)


@pytest.mark.parametrize("fault", WIRE_FAULTS)
def test_sync_client_rides_out_two_wire_faults(raw, fault):
    clock = FakeClock()
    raw.script(fault, times=2)
    with _sync(raw, clock) as client:
        page = client.list_batches()
    assert page.object == "list"
    assert [b for b, _, _ in raw.requests("GET", r"/batches$")] == [fault, fault, "proxy"]
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("fault", WIRE_FAULTS)
def test_async_client_rides_out_two_wire_faults(raw, fault):
    clock = AsyncClock()
    raw.script(fault, times=2)

    async def go():
        async with _async(raw, clock) as client:
            return await client.list_batches()

    assert asyncio.run(go()).object == "list"
    assert [b for b, _, _ in raw.requests("GET", r"/batches$")] == [fault, fault, "proxy"]
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("fault", WIRE_FAULTS)
def test_wire_fault_outlasting_retries_fails_fast_with_a_typed_error(raw, fault):
    clock = FakeClock()
    raw.script(fault, times=3)
    start = time.monotonic()
    with _sync(raw, clock) as client:
        with pytest.raises(FINAL.get(fault, errors.APIConnectionError)):
            client.list_batches()
    assert time.monotonic() - start < 3 * TIMEOUT + 2.0  # bounded by the timeout, no real backoff sleeping
    assert len(raw.requests()) == 3


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    clock = FakeClock()
    with BatchClient(
        api_key=SECRET, base_url=f"http://127.0.0.1:{port}/v1", timeout=TIMEOUT, sleep=clock.sleep
    ) as client:
        with pytest.raises(errors.APIConnectionError):
            client.list_batches()
    assert len(clock.sleeps) == 2


def _count_for(server, file_id):
    with BatchClient(api_key=SECRET, base_url=server.base_url) as plain:
        return [b.id for b in plain.iter_batches() if b.input_file_id == file_id]


@pytest.mark.parametrize("fault", ["proxy_then_close", "proxy_half_body", "close_before_reply", "hang"])
def test_sync_create_over_a_failing_wire_makes_one_batch(raw, server, fault):
    clock = FakeClock()
    with _sync(raw, clock) as client:
        file = client.upload_file(request_lines(2, prefix="wire-" + fault))
        raw.script(fault)
        batch = client.create_batch(file.id, ENDPOINT)
    assert _count_for(server, file.id) == [batch.id]


@pytest.mark.parametrize("fault", ["proxy_then_close", "proxy_half_body"])
def test_async_create_over_a_failing_wire_makes_one_batch(raw, server, fault):
    clock = AsyncClock()

    async def go():
        async with _async(raw, clock) as client:
            file = await client.upload_file(request_lines(2, prefix="awire-" + fault))
            raw.script(fault)  # the answer is lost; the tag lookup finds the batch, no second POST
            return file, await client.create_batch(file.id, ENDPOINT)

    file, batch = asyncio.run(go())
    assert _count_for(server, file.id) == [batch.id]
    assert len(raw.requests("POST", r"/batches$")) == 1
