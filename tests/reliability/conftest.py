"""Fixtures of the reliability tier: a real LocalBatchServer (with a key) and clients behind a fault transport."""

from __future__ import annotations

import threading

import httpx
import pytest
from faults import SECRET, FakeClock, FaultTransport


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from batch_widgets.server.local import LocalBatchServer

    srv = LocalBatchServer(tmp_path_factory.mktemp("srv"), api_key=SECRET, rate=0)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def faulty(server, clock):
    """(client, transport): a BatchClient whose every request passes through a FaultTransport; no real sleeping."""
    from batch_widgets.client import BatchClient

    transport = FaultTransport(httpx.HTTPTransport())
    client = BatchClient(
        api_key=SECRET, base_url=server.base_url, transport=transport, sleep=clock.sleep, max_retries=2, timeout=10.0
    )
    try:
        yield client, transport
    finally:
        client.close()


@pytest.fixture
def unretried(server):
    """(client, transport): a BatchClient with no retry budget, so that every poll tick meets the fault head-on."""
    from batch_widgets.client import BatchClient

    transport = FaultTransport()
    client = BatchClient(
        api_key=SECRET,
        base_url=server.base_url,
        transport=transport,
        sleep=FakeClock().sleep,
        max_retries=0,
        timeout=5.0,
    )
    try:
        yield client, transport
    finally:
        client.close()


@pytest.fixture
def plain(server):
    """A client with no faults, to see what the server really holds."""
    from batch_widgets.client import BatchClient

    client = BatchClient(api_key=SECRET, base_url=server.base_url, timeout=10.0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped any thread during the test (a poller must never let one out)."""
    caught: list[BaseException] = []
    previous = threading.excepthook

    def hook(args):
        caught.append(args.exc_value)
        previous(args)

    monkeypatch.setattr(threading, "excepthook", hook)
    return caught


def pytest_configure(config):
    # Slow tests still run in `make test`; `-m "not slow"` skips them for a quick local loop.
    config.addinivalue_line("markers", "slow: slow reliability tests (subprocess crash runs)")
