"""BatchDashboard: tabs, navigation (row -> details -> back), one store shared with other panels."""

from __future__ import annotations

import pytest
import traitlets
from live_helpers import FakeBatchAPI, finished, install_store, make_client, running

from batch_widgets import facts
from batch_widgets import store as store_module
from batch_widgets.widgets.active_list import BatchList
from batch_widgets.widgets.dashboard import BatchDashboard


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


def _dash(api, **kwargs):
    client = make_client(api)
    store = install_store(client)
    return BatchDashboard(client, **kwargs), store, client


def test_view_navigation_opens_details_and_back_returns():
    api = FakeBatchAPI()
    raw = running(api)
    w, store, _ = _dash(api)
    assert w._view == "dashboard" and w._tab == "active" and raw["id"] in w._rows
    w._detail_id = raw["id"]  # what the view does when a row is opened
    assert w._detail["id"] == raw["id"]
    assert store.poll_interval() == 3.0  # an open details view polls faster than the list
    w.back()
    assert w._detail == {} and store.poll_interval() == 5.0


def test_opening_an_old_batch_not_in_the_list():
    api = FakeBatchAPI()
    old = finished(api)
    w, _, _ = _dash(api)
    assert old["id"] not in w._rows
    w.open_batch(old["id"])
    assert w._detail["status"] == "completed"


def test_idle_dashboard_sees_new_batches_on_refresh():
    api = FakeBatchAPI()
    finished(api)
    w, store, _ = _dash(api)
    assert store.poll_interval() is None  # nothing running: no polling at all
    new = running(api)  # created elsewhere (another cell, another tool)
    w.refresh()
    assert new["id"] in w._rows and store.poll_interval() == 5.0  # now it polls again


def test_tabs_are_validated():
    api = FakeBatchAPI()
    w, _, _ = _dash(api)
    w.show("history")
    assert w._tab == "history"
    with pytest.raises(traitlets.TraitError, match="unknown tab"):
        w.show("settings")


def test_panels_on_one_connection_share_one_store():
    api = FakeBatchAPI()
    raw = running(api)
    w, store, client = _dash(api)
    other = BatchList(client)
    assert other._store is store and store.subscriber_count == 2
    w.wait_loaded()  # the history's first load (a worker) is done: the tick below is the only reader
    raw["request_counts"] = {"total": 100, "completed": 99, "failed": 0}
    requests_before = len(api.requests)
    store.poll_once()
    assert len(api.requests) - requests_before == 1  # one list request serves both panels
    assert w._rows[raw["id"]]["completed"] == other._rows[raw["id"]]["completed"] == 99
    w.close()
    other.close()
    assert store.subscriber_count == 0 and store.poll_interval() is None


@pytest.mark.timeout(120)
def test_live_against_the_local_server(tmp_path):
    """The real thing: LocalBatchServer + BatchClient + the store's poller thread, no test doubles."""
    import threading
    import time

    from batch_widgets.client import BatchClient
    from batch_widgets.demo import start_demo_batches
    from batch_widgets.server.local import LocalBatchServer

    with LocalBatchServer(tmp_path, rate=20.0, latency=0.01, failure_rate=0.5, poll_interval=0.1) as server:
        client = BatchClient(api_key=server.api_key, base_url=server.base_url)
        finished_ids = []
        all_done = threading.Event()

        def on_complete(batch):
            finished_ids.append(batch.id)
            if len(finished_ids) == 2:
                all_done.set()

        w = BatchDashboard(client, on_complete=on_complete, poll_interval=0.2, details_interval=0.1)
        store = w._store
        created = start_demo_batches(client, 2, requests_per_batch=20)
        for batch in created:
            store.put(batch)
        assert {b.id for b in created} <= set(w._rows) and store.polling
        w._detail_id = created[0].id
        assert all_done.wait(60), f"batches did not finish: {w._rows}"
        assert sorted(finished_ids) == sorted(b.id for b in created)
        assert all(w._rows[b.id]["status"] == "completed" for b in created)
        row = w._rows[created[0].id]
        assert row["completed"] + row["failed"] == 20
        deadline = time.monotonic() + 5
        while w._detail.get("status") != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w._detail["output_file_id"]
        got = []
        w.send = lambda content, buffers=None: got.append((content, buffers))
        w._dispatch_action(w, {"action": "download", "kind": "output"}, [])
        w.wait_idle(30)  # the download runs in a worker, off the shell thread
        assert got and got[0][1][0].count(b"\n") == row["completed"]
        w._dispatch_action(w, {"action": "results_frame"}, [])
        w.wait_idle(30)
        assert len(w.results_frame) == 20 and "20 result rows" in w._notice["text"]
        deadline = time.monotonic() + 5
        while store.polling and time.monotonic() < deadline:  # nothing active: the poller stops by itself
            time.sleep(0.05)
        assert not store.polling
        w._dispatch_action(w, {"action": "retry_failed"}, [])
        w.wait_idle(30)
        retry_id = w._detail_id
        assert retry_id != created[0].id and w._banner == ""
        assert store.get(retry_id).request_counts.total in (0, row["failed"])  # counted once validated
        assert store.get(retry_id).metadata[facts.PARENT_KEY] == created[0].id
        assert retry_id in w._rows and store.polling  # the new batch is live in the list
        w.close()
        client.close()


def test_the_dashboard_is_never_behind_the_cell_below_it():
    """client.wait() returned "completed": the dashboard above already says so, with no poll tick in between
    (each wait poll reaches the store through the client's "batch" event hook; it used to lag up to 5 s)."""
    api = FakeBatchAPI()
    raw = running(api)
    w, store, client = _dash(api)
    w.open_batch(raw["id"])
    assert w._rows[raw["id"]]["status"] == "in_progress"
    ticks = store.ticks
    raw.update(
        status="completed",
        completed_at=raw["created_at"] + 60,
        request_counts={"total": 100, "completed": 95, "failed": 5},
    )
    done = client.wait(raw["id"], progress=False)
    assert done.status == "completed" and store.ticks == ticks  # no poll ran
    assert w._rows[raw["id"]]["status"] == "completed" and w._detail["status"] == "completed"
    assert w._detail["completed"] == 95


def test_two_dashboards_with_different_clients_for_one_account_each_use_their_own():
    """One store (one poller) per account, but each widget acts with the client it was given: its transport,
    timeout and retries, not the first client's."""
    import httpx

    from batch_widgets.client import BatchClient

    api = FakeBatchAPI()
    raw = running(api)

    def client_with(paths):
        def handle(request):
            paths.append(request.url.path)
            return api.handle(request)

        return BatchClient(
            api_key="sk-same-account",
            base_url="http://fake.test/v1",
            transport=httpx.MockTransport(handle),
            max_retries=0,
        )

    paths_a, paths_b = [], []
    a, b = client_with(paths_a), client_with(paths_b)
    install_store(a)
    wa, wb = BatchDashboard(a), BatchDashboard(b)
    try:
        assert wa._store is wb._store and wb._client is b and wa._client is a
        del paths_a[:], paths_b[:]
        wb._dispatch_action(wb, {"action": "cancel", "ids": [raw["id"]]}, [])
        wb.wait_idle(30)
        assert any(p.endswith("/cancel") for p in paths_b) and not paths_a
        assert wa._rows[raw["id"]]["status"] == "cancelling"  # and the other dashboard shows it at once
    finally:
        wa.close()
        wb.close()


def test_a_wrong_key_stops_polling_with_one_banner_and_retry_recovers(caplog):
    import httpx

    api = FakeBatchAPI()
    raw = running(api)

    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}
        return httpx.Response(401, json=body)

    api.faults = [refuse] * 5
    with caplog.at_level("WARNING", logger="batch_widgets"):
        w, store, _ = _dash(api)
    assert not caplog.records  # nothing printed under this cell or a later one
    assert w._fatal["title"] == "The API key was refused (HTTP 401)"
    assert "OPENAI_API_KEY" in w._fatal["fix"] and "invalid_api_key" in w._fatal["detail"]
    assert w._banner == ""  # one banner: the fatal one, not a "retrying in 10 s" line as well
    assert store.poll_interval() is None and w._loaded is False  # stopped, not retried every 10/20/40 s
    assert w._connection == {"provider": "OpenAI-compatible", "host": "fake.test", "local": False}
    api.faults = []  # the key is fixed
    w._dispatch_action(w, {"action": "reconnect"}, [])
    w.wait_idle(30)  # HTTP runs in a worker, never on the shell thread
    assert w._fatal == {} and w._loaded is True and raw["id"] in w._rows
    assert store.poll_interval() == 5.0  # polling resumed for the running batch


def test_the_local_server_is_named_in_the_header():
    from batch_widgets.widgets.base import connection_info

    local = type("C", (), {"base_url": "http://127.0.0.1:8765/v1", "is_local": True})()
    assert connection_info(local) == {"provider": "Local simulated server", "host": "127.0.0.1:8765", "local": True}
    openai = type("C", (), {"base_url": "https://user:secret@api.openai.com/v1?k=1", "is_local": False})()
    assert connection_info(openai) == {"provider": "OpenAI", "host": "api.openai.com", "local": False}
