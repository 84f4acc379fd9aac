"""The widget store's poller under faults: it keeps running, reports each fault to its subscribers (the banner)
and recovers by itself once the faults stop; no exception ever escapes its thread."""

from __future__ import annotations

import pytest
from faults import ENDPOINT, FAULTS, SECRET, request_lines, wait_until

from batch_widgets.store import BatchStore

#: Faults a list refresh cannot get past (the others are absorbed by the paging guards).
FAILING = sorted(set(FAULTS) - {"stuck_cursor", "empty_page_has_more"})


@pytest.fixture
def store_client(unretried):
    """A client with no retry budget, so that every poll tick meets the fault head-on."""
    return unretried


@pytest.fixture(scope="module", autouse=True)
def one_batch(server):
    from batch_widgets.client import BatchClient

    with BatchClient(api_key=SECRET, base_url=server.base_url) as client:
        file = client.upload_file(request_lines(3, prefix="store"))
        return client.create_batch(file.id, ENDPOINT)


def test_every_fault_kind_becomes_an_error_event_then_recovers(store_client, thread_errors):
    client, transport = store_client
    store = BatchStore(client, max_backoff=30)
    events = []
    store.subscribe(events.append)  # no poll wanted: ticks are driven by hand
    assert store.poll_once().error is None and store.index.get(_newest(store)) is not None
    for n, fault in enumerate(FAILING, start=1):
        transport.inject(fault, times=None)
        event = store.poll_once()
        assert event.error and event.error.startswith("Refresh failed"), (fault, event)
        assert "Traceback" not in event.error and len(event.error) < 400
        assert SECRET not in event.error
        assert store.failures == n and store.last_error == event.error
        assert events[-1].error == event.error
        transport.clear()
    recovered = store.poll_once()
    assert recovered.error is None
    assert store.failures == 0 and store.last_error is None
    assert events[-1].error is None  # subscribers were told it is over (the banner goes)
    store.stop()
    assert thread_errors == []


@pytest.mark.parametrize("fault", ["stuck_cursor", "empty_page_has_more"])
def test_bad_paging_is_absorbed_by_the_poller(store_client, fault):
    client, transport = store_client
    store = BatchStore(client)
    store.subscribe(lambda e: None)
    transport.inject(fault, times=None)
    for _ in range(3):
        assert store.poll_once().error is None
    assert len(transport.attempts) <= 3 * 3
    store.stop()


def test_backoff_doubles_and_is_capped(store_client):
    client, transport = store_client
    store = BatchStore(client, max_backoff=10)
    wanted = [None]  # None while subscribing, so no thread starts: ticks are driven by hand
    store.subscribe(lambda e: None, wants=lambda: wanted[0])
    transport.inject("server_error", times=None)
    wanted[0] = 0.5
    intervals = []
    for _ in range(6):
        store.poll_once()
        intervals.append(store.poll_interval())
    assert intervals == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    transport.clear()
    wanted[0] = None
    store.poll_once()
    assert store.failures == 0
    wanted[0] = 0.5
    assert store.poll_interval() == 0.5  # back to the normal pace
    wanted[0] = None
    store.stop()


def test_poller_thread_keeps_running_through_faults_and_recovers(store_client, thread_errors):
    client, transport = store_client
    store = BatchStore(client, max_backoff=0.05)
    events = []
    broken_calls = []

    def broken_subscriber(event):  # one broken widget must not stop the poller or the others
        broken_calls.append(event)
        raise RuntimeError("a widget bug")

    store.subscribe(broken_subscriber)
    store.subscribe(events.append, wants=lambda: 0.01)
    try:
        assert wait_until(lambda: store.ticks >= 2 and store.loaded)
        for fault in ("server_error", "connect_error", "drop_mid_body", "malformed_json", "rate_limited"):
            transport.inject(fault, times=None)
            start = store.failures
            assert wait_until(lambda start=start: store.failures >= start + 2), fault
            assert store.polling
            transport.clear()
            assert wait_until(lambda: store.failures == 0 and store.last_error is None), fault
        assert any(e.error for e in events)
        assert wait_until(lambda: events[-1].error is None)  # the recovery is announced just after it happens
        assert broken_calls  # it was called, and raised, every time
    finally:
        store.stop()
    assert not store.polling
    assert thread_errors == []


def _newest(store):
    return store.batches()[0].id
