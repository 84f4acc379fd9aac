"""BatchDashboard: tabs, navigation (row -> details -> back), one store shared with other panels."""

from __future__ import annotations

import pytest
import traitlets
from live_helpers import FakeBatchAPI, finished, install_store, make_client, running

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
    raw["request_counts"] = {"total": 100, "completed": 99, "failed": 0}
    requests_before = len(api.requests)
    store.poll_once()
    assert len(api.requests) - requests_before == 1  # one list request serves both panels
    assert w._rows[raw["id"]]["completed"] == other._rows[raw["id"]]["completed"] == 99
    w.close()
    other.close()
    assert store.subscriber_count == 0 and store.poll_interval() is None
