"""Fixtures for the local batch server tests: real servers on 127.0.0.1, driven by the official openai SDK."""

from __future__ import annotations

import pytest
from server_helpers import API_KEY, make_client

from batch_widgets.server.local import LocalBatchServer


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory):
    """As fast as possible, 10 % failures (seeded: the same requests fail on every run), API key required."""
    with LocalBatchServer(
        tmp_path_factory.mktemp("fast"), api_key=API_KEY, rate=0, failure_rate=0.1, poll_interval=0.1, seed=11
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(fast_server):
    with make_client(fast_server) as c:
        yield c
