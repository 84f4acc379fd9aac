"""A dashboard over several connections: rows name their connection, each connection polls on its own, a failing
one has its own banner and the others go on; actions reach the batch's own connection."""

from __future__ import annotations

import httpx
import pytest
from live_helpers import FakeBatchAPI, install_store, make_client, running

from batch_widgets import store as store_module
from batch_widgets.widgets.dashboard import BatchDashboard


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


class Outage:
    """Wraps a fake API; while ``down`` every request fails with a 503."""

    def __init__(self, api: FakeBatchAPI) -> None:
        self.api, self.down = api, False

    def transport(self) -> httpx.MockTransport:
        inner = self.api.transport()
        return httpx.MockTransport(
            lambda r: (
                httpx.Response(503, json={"error": {"message": "upstream down"}})
                if self.down
                else inner.handle_request(r)
            )
        )


def _run(api: FakeBatchAPI, name: str) -> dict:
    return running(api, id=f"batch_{name.lower()}{len(api.batches)}")  # ids differ across providers


def _three():
    apis = {name: FakeBatchAPI() for name in ("OpenAI", "Claude", "Local")}
    outage = Outage(apis["Claude"])
    clients = {
        "OpenAI": make_client(apis["OpenAI"], key="k-openai"),
        "Claude": make_client(outage, key="k-claude"),  # type: ignore[arg-type]  # Outage wraps a FakeBatchAPI: same transport()
        "Local": make_client(apis["Local"], key="k-local"),
    }
    stores = {name: install_store(c) for name, c in clients.items()}
    return apis, outage, clients, stores


def test_rows_name_their_connection_and_each_connection_polls_on_its_own():
    apis, _, clients, stores = _three()
    ids = {name: _run(api, name)["id"] for name, api in apis.items()}
    w = BatchDashboard(clients=clients)
    assert {w._rows[i]["connection"] for i in ids.values()} == {"OpenAI", "Claude", "Local"}
    assert all(w._rows[ids[name]]["connection"] == name for name in ids)
    assert all(s.subscriber_count == 1 and s.poll_interval() == 5.0 for s in stores.values())  # three pollers
    frame = w.to_dataframe()
    assert dict(zip(frame["id"], frame["connection"], strict=True)) == {ids[n]: n for n in ids}
    w.set_filters(connection="Claude")
    assert list(w.to_dataframe()["id"]) == [ids["Claude"]]


def test_a_failing_connection_has_its_own_banner_and_the_others_go_on():
    apis, outage, clients, stores = _three()
    _run(apis["OpenAI"], "OpenAI")
    w = BatchDashboard(clients=clients)
    outage.down = True
    stores["Claude"].poll_once()
    assert list(w._conn_banners) == ["Claude"] and "upstream down" in w._conn_banners["Claude"]
    assert w._banner == ""
    late = _run(apis["OpenAI"], "OpenAI")  # the healthy connection still updates
    stores["OpenAI"].poll_once()
    assert late["id"] in w._rows and list(w._conn_banners) == ["Claude"]
    assert stores["Claude"].poll_interval() == 10.0 and stores["OpenAI"].poll_interval() == 5.0  # only it backs off
    outage.down = False
    stores["Claude"].poll_once()
    assert w._conn_banners == {}


def test_actions_reach_the_batchs_own_connection():
    apis, _, clients, _ = _three()
    target = _run(apis["Local"], "Local")
    w = BatchDashboard(clients=clients)
    w._on_cancel({"ids": [target["id"]]}, [])
    assert target["status"] == "cancelling"  # the fake API changed its own record
    assert w._rows[target["id"]]["status"] == "cancelling" and w._rows[target["id"]]["connection"] == "Local"
    w.open_batch(target["id"])
    assert w._detail["id"] == target["id"] and w._client_for(target["id"]) is clients["Local"]


def test_client_and_clients_together_are_refused():
    apis, _, clients, _ = _three()
    with pytest.raises(ValueError, match="not both"):
        BatchDashboard(clients["OpenAI"], clients=clients)
    with pytest.raises(ValueError, match="at least one"):
        BatchDashboard(clients={})


def test_batch_history_over_several_connections_has_a_connection_column():
    from batch_widgets.history import batch_history

    apis, _, clients, _ = _three()
    ids = {name: _run(api, name)["id"] for name, api in apis.items()}
    frame = batch_history(clients=clients).to_dataframe()
    assert dict(zip(frame["id"], frame["connection"], strict=True)) == {ids[n]: n for n in ids}
    assert list(batch_history(clients=clients).filter(connection="Local").to_dataframe()["id"]) == [ids["Local"]]


def test_a_refused_key_stops_only_its_connection_and_retry_resumes_it():
    apis, _, clients, stores = _three()
    w = BatchDashboard(clients=clients)
    apis["Claude"].faults = [lambda r: httpx.Response(401, json={"error": {"message": "bad key"}})] * 3
    _run(apis["Claude"], "Claude")
    stores["Claude"].poll_once()
    assert w._conn_stopped == ["Claude"] and "The API key was refused" in w._conn_banners["Claude"]
    assert stores["Claude"].poll_interval() is None  # stopped; the others poll on
    apis["Claude"].faults = []
    w._dispatch_action(w, {"action": "reconnect"}, [])
    w.wait_idle(30)
    assert w._conn_stopped == [] and w._conn_banners == {} and stores["Claude"].poll_interval() == 5.0
