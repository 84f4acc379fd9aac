"""BatchStore: change events, actions, the one poller (start/stop/backoff), one store per connection."""

from __future__ import annotations

import threading
import time

import pytest
from live_helpers import FakeBatchAPI, ManualStore, finished, make_client, running

from batch_widgets import store as store_module
from batch_widgets.store import BatchStore, get_store


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


def _store(api):
    return ManualStore(make_client(api), clock=lambda: 1234.5)


def test_refresh_notifies_only_changes():
    api = FakeBatchAPI()
    running(api)
    store = _store(api)
    events = []
    store.subscribe(events.append)
    assert [b.id for b in store.refresh()] == ["batch_0000"]
    assert len(events) == 1 and events[0].changed[0].id == "batch_0000"
    assert store.seen_at("batch_0000") == 1234.5
    assert store.refresh() == []
    assert len(events) == 1  # nothing changed: nobody is told


def test_finished_batches_are_reported_once():
    api = FakeBatchAPI()
    raw = running(api)
    store = _store(api)
    events = []
    store.subscribe(events.append)
    store.refresh()
    raw.update(status="completed", completed_at=raw["created_at"] + 60)
    store.refresh()
    assert [b.id for b in events[-1].finished] == ["batch_0000"]
    store.refresh()
    assert len(events) == 2


def test_cancel_accepted_conflict_and_missing():
    api = FakeBatchAPI()
    running(api)  # batch_0000
    finished(api)  # batch_0001
    store = _store(api)
    store.refresh()
    result = store.cancel(["batch_0000", "batch_0001", "batch_nope"])
    assert result["batch_0000"] is None
    assert store.get("batch_0000").status.value == "cancelling"
    assert result["batch_0001"] == "already completed"  # 409: re-read, not an error page
    assert "batch_nope" in result["batch_nope"] or "No batch" in result["batch_nope"]


def test_poll_interval_follows_subscribers_and_backs_off():
    api = FakeBatchAPI()
    store = _store(api)
    assert store.poll_interval() is None  # nobody subscribed
    a = store.subscribe(lambda e: None, wants=lambda: 5.0)
    store.subscribe(lambda e: None, wants=lambda: 3.0)
    assert store.poll_interval() == 3.0
    api.faults = [lambda r: __import__("httpx").Response(500, json={"error": {"message": "boom"}})] * 10
    delays = []
    for _ in range(6):
        event = store.poll_once()
        delays.append(store.poll_interval())
    assert delays == [6.0, 12.0, 24.0, 48.0, 60.0, 60.0]
    assert "Refresh failed" in event.error and "retrying in 60 s" in event.error
    api.faults = []
    events = []
    store.subscribe(events.append)
    store.poll_once()
    assert store.failures == 0 and events and events[-1].error is None  # success clears the banner
    assert store.poll_interval() == 3.0
    a.unsubscribe()


def test_failed_refresh_is_announced_to_subscribers():
    api = FakeBatchAPI()
    api.faults = [lambda r: __import__("httpx").Response(503, json={"error": {"message": "down for maintenance"}})]
    store = _store(api)
    events = []
    store.subscribe(events.append)
    store.poll_once()
    assert events[-1].error.startswith("Refresh failed:") and "down for maintenance" in events[-1].error


@pytest.mark.parametrize(
    ("status", "title", "fix"),
    [
        (401, "The API key was refused (HTTP 401)", "To fix: check api_key= or OPENAI_API_KEY"),
        (403, "This API key may not use the Batch API here (HTTP 403)", "To fix: check that this key (api_key="),
        (404, "No Batch API at this base URL (HTTP 404)", "To fix: http://fake.test/v1 has no /batches route"),
    ],
)
def test_a_fatal_error_stops_polling_says_why_and_logs_no_warning(status, title, fix, caplog):
    import httpx

    api = FakeBatchAPI()
    api.faults = [lambda r: httpx.Response(status, json={"error": {"message": "no", "code": "nope"}})] * 3
    store = _store(api)
    events = []
    store.subscribe(events.append, wants=lambda: 5.0)
    with caplog.at_level("WARNING", logger="batch_widgets"):
        store.poll_once()
    assert not caplog.records  # a background refresh never prints under another cell: the banner says it
    assert events[-1].error is None and events[-1].fatal["title"] == title and fix in events[-1].fatal["fix"]
    assert events[-1].fatal["detail"] == f"HTTP {status}: nope: no"
    assert store.poll_interval() is None  # stopped: no retry every 10/20/40 s
    api.faults = []
    store.reconnect()  # the Retry button, once the key is fixed
    assert store.fatal is None and events[-1].fatal is None and store.poll_interval() == 5.0


def test_watched_batch_off_the_first_page_is_fetched():
    api = FakeBatchAPI()
    old = running(api, created_at=1)
    for i in range(120):  # push the running batch off the first live page
        finished(api, created_at=10_000 + i)
    store = _store(api)
    sub = store.subscribe(lambda e: None)
    store.watch(sub, [old["id"]])
    store.refresh()
    assert store.get(old["id"]) is not None


def test_poller_thread_runs_while_wanted_and_stops():
    api = FakeBatchAPI()
    running(api)
    store = BatchStore(make_client(api))
    wanted = {"interval": 0.02}
    ticks = threading.Event()
    sub = store.subscribe(lambda e: ticks.set(), wants=lambda: wanted["interval"])
    assert store.polling
    assert ticks.wait(2.0)
    wanted["interval"] = None  # nothing active on show any more
    store.wake()
    deadline = time.monotonic() + 2
    while store.polling and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not store.polling
    ticks_before = store.ticks
    wanted["interval"] = 0.02
    store.wake()  # something became active again: the poller comes back
    deadline = time.monotonic() + 2
    while store.ticks == ticks_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.ticks > ticks_before
    sub.unsubscribe()  # the last subscriber leaves: the poller ends
    deadline = time.monotonic() + 2
    while store.polling and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not store.polling and store.subscriber_count == 0


def test_one_store_per_connection_and_no_key_in_the_registry():
    api = FakeBatchAPI()
    a, b = make_client(api), make_client(api)
    other = make_client(api, key="sk-other")
    assert get_store(a) is get_store(b)
    assert get_store(other) is not get_store(a)
    assert all("sk-test-secret" not in repr(key) for key in store_module._stores)


def test_subscribers_coming_and_going_while_it_polls():
    api = FakeBatchAPI()
    running(api)
    store = BatchStore(make_client(api))
    errors = []

    def churn():
        try:
            for _ in range(40):
                sub = store.subscribe(lambda e: None, wants=lambda: 0.005)
                time.sleep(0.002)
                sub.unsubscribe()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    deadline = time.monotonic() + 2
    while store.polling and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors == [] and store.subscriber_count == 0
    assert not store.polling  # the last one to leave stopped it
    assert store.ticks > 0


def test_batches_a_given_client_creates_reach_the_store_without_polling():
    """A dashboard idles (nothing active); a batch submitted from another cell with a client given to its store
    still shows up at once, through that client's "batch" event hook. No module-global listener is involved."""
    from batch_widgets.client import BatchClient
    from batch_widgets.server.local import LocalBatchServer
    from batch_widgets.store import clear_stores, get_store

    line = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\n'
    with LocalBatchServer(rate=0) as server:
        viewer = BatchClient(api_key=server.api_key, base_url=server.base_url)
        store = get_store(viewer)
        store.refresh()
        seen = []
        sub = store.subscribe(lambda event: seen.extend(b.id for b in event.changed))
        try:
            other = BatchClient(api_key=server.api_key, base_url=server.base_url)  # same account, own settings
            assert get_store(other) is store and store.put in other.event_hooks["batch"]
            batch = other.create_batch(other.upload_file(line).id, "/v1/chat/completions")
            assert batch.id in seen and store.get(batch.id) is not None
            loner = BatchClient(api_key=server.api_key, base_url=server.base_url)  # never given to a store
            unseen = loner.create_batch(loner.upload_file(line).id, "/v1/chat/completions")
            assert unseen.id not in seen and loner.event_hooks["batch"] == []
            stranger = BatchClient(api_key="another-key", base_url=server.base_url)
            assert get_store(stranger) is not store  # other credentials: another store, not told
        finally:
            sub.unsubscribe()
            clear_stores()
        assert other.event_hooks["batch"] == []  # a stopped store lets go of its clients


def test_an_async_client_cannot_feed_a_live_store():
    from batch_widgets.client import AsyncBatchClient
    from batch_widgets.widgets.active_list import BatchList

    aclient = AsyncBatchClient(api_key="sk-a", base_url="http://fake.test/v1")
    with pytest.raises(TypeError, match="sync client"):
        get_store(aclient)
    with pytest.raises(TypeError, match="sync client"):
        BatchList(aclient)
