"""Widgets under faults: built while the API fails, they show the fault as a banner instead of raising, keep
polling, and clear the banner by themselves once the API answers again. Nothing escapes a thread."""

from __future__ import annotations

import pytest
from faults import ENDPOINT, SECRET, request_lines, wait_until

from batch_widgets.store import clear_stores

#: A rotation of faults the widgets meet while loading and polling.
WIDGET_FAULTS = ["server_error", "connect_error", "drop_mid_body", "malformed_json", "rate_limited", "read_timeout"]


@pytest.fixture
def fault_client(unretried):
    clear_stores()
    yield unretried
    clear_stores()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """This module's own server, slow (2 requests/s) so that its batch stays active throughout."""
    from batch_widgets.server.local import LocalBatchServer

    with LocalBatchServer(tmp_path_factory.mktemp("widgets"), api_key=SECRET, rate=2) as srv:
        yield srv


@pytest.fixture(scope="module")
def running_batch(server):
    """A batch that stays active for the whole module (so the widgets keep polling)."""
    from batch_widgets.client import BatchClient

    with BatchClient(api_key=SECRET, base_url=server.base_url) as client:
        file = client.upload_file(request_lines(2000, prefix="widget"))
        return client.create_batch(file.id, ENDPOINT, metadata={"description": "widget faults"})


def _make(kind, client, batch_id):
    from batch_widgets.widgets.active_list import BatchList
    from batch_widgets.widgets.dashboard import BatchDashboard
    from batch_widgets.widgets.details import BatchDetails

    if kind == "list":
        return BatchList(client, poll_interval=0.02)
    if kind == "dashboard":
        return BatchDashboard(client, poll_interval=0.02, details_interval=0.02)
    return BatchDetails(batch_id, client, details_interval=0.02)


@pytest.mark.parametrize("fault", WIDGET_FAULTS)
@pytest.mark.parametrize("kind", ["list", "dashboard"])
def test_widget_built_during_an_outage_shows_a_banner_and_recovers(
    fault_client, running_batch, thread_errors, kind, fault
):
    client, transport = fault_client
    transport.inject(fault, times=None)
    widget = _make(kind, client, running_batch.id)  # must not raise
    try:
        assert widget._banner.startswith("Refresh failed"), widget._banner
        assert SECRET not in widget._banner
        store = widget._store
        store.max_backoff = 0.05  # the real cap is 60 s; the test cannot wait that long
        store.wake()
        start = store.ticks
        assert wait_until(lambda: store.ticks >= start + 2), "the poller stopped polling during the outage"
        assert widget._banner.startswith("Refresh failed")
        transport.clear()
        assert wait_until(lambda: widget._banner == ""), f"banner stuck: {widget._banner!r}"
        assert store.failures == 0 and store.loaded
        assert wait_until(lambda: running_batch.id in widget._rows), "the list did not fill after recovery"
    finally:
        widget.close()
    assert thread_errors == []


def test_details_built_during_an_outage_loads_once_the_api_answers(fault_client, running_batch, thread_errors):
    client, transport = fault_client
    transport.inject("server_error", times=None)
    widget = _make("details", client, running_batch.id)
    try:
        assert widget._banner and SECRET not in widget._banner
        assert widget._detail == {}
        widget._store.max_backoff = 0.05
        transport.clear()
        widget._store.wake()
        assert wait_until(lambda: widget._detail.get("id") == running_batch.id), "details never loaded"
        assert wait_until(lambda: widget._banner == ""), f"banner stuck: {widget._banner!r}"
    finally:
        widget.close()
    assert thread_errors == []


def test_an_outage_after_load_keeps_the_rows_and_recovers(fault_client, running_batch, thread_errors):
    client, transport = fault_client
    widget = _make("list", client, running_batch.id)
    try:
        store = widget._store
        store.max_backoff = 0.05
        assert widget._banner == "" and running_batch.id in widget._rows
        rows = dict(widget._rows)
        for fault in WIDGET_FAULTS:
            transport.inject(fault, times=None)
            assert wait_until(lambda: widget._banner.startswith("Refresh failed")), fault
            assert widget._rows.keys() == rows.keys()  # what was on show stays on show
            transport.clear()
            assert wait_until(lambda: widget._banner == ""), fault
    finally:
        widget.close()
    assert thread_errors == []


def test_a_failing_action_becomes_a_banner_not_an_exception(fault_client, running_batch):
    """Browser->kernel actions that hit a fault report it in the banner; the comm handler never raises."""
    client, transport = fault_client
    widget = _make("dashboard", client, running_batch.id)
    try:
        shown: list[str] = []  # every banner (the poller's own refresh failures may replace an action's)
        widget.observe(lambda change: shown.append(change["new"]), "_banner")
        transport.inject("server_error", times=None)
        for action, says in (
            ({"action": "refresh"}, "refresh failed: HTTP 500"),
            ({"action": "cancel", "ids": [running_batch.id]}, f"Could not cancel {running_batch.id}: HTTP 500"),
        ):
            shown.clear()
            widget._dispatch_action(widget, action, [])
            widget.wait_idle(30)
            assert any(text.startswith(says) for text in shown), (action, shown)
            assert all(SECRET not in text for text in shown)
        for junk in ({"action": "no_such_action"}, {"not": "an action"}, "garbage"):
            shown.clear()
            widget._dispatch_action(widget, junk, [])  # ignored: no exception, no banner of its own
            widget.wait_idle(30)
            assert not any("no_such_action" in text or "garbage" in text for text in shown)
        transport.clear()
    finally:
        widget.close()


def test_history_built_during_an_outage_loads_everything_once_the_api_answers(
    fault_client, running_batch, thread_errors
):
    from batch_widgets.widgets.history_view import BatchHistoryView

    client, transport = fault_client
    transport.inject("server_error", times=None)
    widget = BatchHistoryView(client)
    try:
        assert wait_until(lambda: not widget._history_loading)
        assert widget._banner and SECRET not in widget._banner
        widget._store.max_backoff = 0.05
        transport.clear()
        widget._store.wake()
        assert wait_until(lambda: widget._banner == ""), f"banner stuck: {widget._banner!r}"
        assert wait_until(lambda: widget._store.index.complete), "the full history was never read"
        assert wait_until(lambda: running_batch.id in widget._history_rows), "rows never sent"
    finally:
        widget.close()
    assert thread_errors == []
