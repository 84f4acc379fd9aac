"""BatchHistoryView / HistoryMixin: rows sent once as columns, patches only for changes, filters shared with
the browser (the same rule, checked against the JS code itself), open-details, export."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone

import httpx
import pytest
from live_helpers import FakeBatchAPI, comm_messages, finished, install_store, make_client, run_node, running

from batch_widgets import facts
from batch_widgets.history import BatchHistory
from batch_widgets.models import Batch
from batch_widgets.store import clear_stores
from batch_widgets.widgets.history_view import (
    STATUSES,
    BatchHistoryView,
    encode_rows,
    history_filter_args,
    normalize_filters,
)

DAY = 86400
T0 = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())


@pytest.fixture(autouse=True)
def fresh_stores():
    clear_stores()
    yield
    clear_stores()


def populated(n: int = 250) -> FakeBatchAPI:
    """n batches over n hours: a mix of statuses, endpoints, descriptions and tags."""
    api = FakeBatchAPI()
    for i in range(n):
        created = T0 + i * 3600
        meta = {
            "description": f"eval run {i}" if i % 10 == 0 else f"job {i}",
            "tags": "eval,nightly" if i % 3 == 0 else "adhoc",
        }
        endpoint = "/v1/embeddings" if i % 5 == 0 else "/v1/chat/completions"
        if i % 4 == 0:
            running(api, created_at=created, in_progress_at=created + 10, metadata=meta, endpoint=endpoint)
        else:
            finished(
                api,
                "completed" if i % 4 != 1 else "failed",
                created_at=created,
                in_progress_at=created + 10,
                **{"completed_at" if i % 4 != 1 else "failed_at": created + 600},
                metadata=meta,
                endpoint=endpoint,
                model="gpt-4o-mini",
            )
    return api


def view(api: FakeBatchAPI, **kw) -> BatchHistoryView:
    client = make_client(api)
    install_store(client)
    w = BatchHistoryView(client, **kw)
    w.wait_loaded(10)
    return w


def test_every_batch_is_sent_once_as_columns():
    api = populated(250)  # three pages of 100
    w = view(api)
    rows = w.get_state("_history_rows")["_history_rows"]  # what the browser receives
    assert rows["n"] == 250 and len(rows["id"]) == 250 and w._history_loading is False
    assert rows["statuses"] == list(STATUSES)
    assert rows["endpoints"] == ["/v1/chat/completions", "/v1/embeddings"]
    newest = api.batches[0]
    assert rows["id"][0] == newest["id"]  # newest first
    i = rows["id"].index(api.batches[-1]["id"])  # the oldest: i == 0 in populated(), running
    assert STATUSES[rows["status"][i]] == "in_progress"
    assert rows["desc"][i] == "eval run 0" and rows["tags"][i] == "eval,nightly"
    assert rows["endpoints"][rows["endpoint"][i]] == "/v1/embeddings"
    assert rows["completed_at"][i] is None and rows["in_progress_at"][i] == T0 + 10
    j = rows["id"].index(api.batches[-3]["id"])  # i == 2: completed
    assert rows["completed_at"][j] - rows["created_at"][j] == 600
    assert rows["cost_sources"][rows["cost_source"][j]] == "estimate" and rows["cost"][j] == pytest.approx(0.01)
    # compact: a list per field, not an object per row
    assert all(isinstance(v, list) for k, v in rows.items() if k not in ("n", "version"))


def test_a_change_sends_only_a_patch_and_no_change_sends_nothing():
    api = populated(30)
    w = view(api)
    sent = comm_messages(w)
    w._store.refresh()
    assert sent == []  # nothing changed: no message at all
    api.batches[0]["status"] = "completed"
    api.batches[0]["completed_at"] = api.batches[0]["created_at"] + 100
    w._store.refresh()
    states = [data["state"] for data, _ in sent if data and data.get("method") == "update"]
    assert states and all("_history_rows" not in s for s in states)
    patch = w._history_patch
    assert patch["id"] == [api.batches[0]["id"]] and STATUSES[patch["status"][0]] == "completed"
    api.add_batch(created_at=T0 + 999 * 3600)
    w._store.refresh()
    # the next patch is cumulative: every row changed since the snapshot was sent, so its latest value alone
    # brings a front end up to date (one that started while earlier patches came keeps only the last one)
    assert w._history_patch["id"] == [patch["id"][0], api.batches[0]["id"]]
    assert w._history_patch["version"] > patch["version"]
    # a front end that starts now gets both changes in the snapshot, which the last patch is already part of
    state = w.get_state()
    assert state["_history_rows"]["n"] == 31 and state["_history_rows"]["version"] == state["_history_patch"]["version"]
    i = state["_history_rows"]["id"].index(patch["id"][0])
    assert STATUSES[state["_history_rows"]["status"][i]] == "completed"


def test_filters_from_the_browser_are_checked():
    assert normalize_filters({}) == {
        "statuses": [],
        "search": "",
        "endpoint": "",
        "since": "",
        "until": "",
        "connection": "",
    }
    f = normalize_filters({"statuses": ["COMPLETED", "in_progress"], "search": "x", "since": "2026-03-01"})
    assert f["statuses"] == ["in_progress", "completed"]  # canonical order
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        normalize_filters({"since": "yesterday"})
    with pytest.raises(ValueError, match="unknown history filter"):
        normalize_filters({"colour": "green"})
    with pytest.raises(ValueError):
        normalize_filters({"statuses": ["sleeping"]})
    with pytest.raises(ValueError, match="must be a list"):
        normalize_filters({"statuses": "completed"})


def ids(frame) -> list[str]:
    return list(frame["id"])


def test_set_filters_from_python_and_to_dataframe():
    w = view(populated(100))
    w.set_filters(statuses="failed")
    assert w._history_filters["statuses"] == ["failed"]
    frame = w.to_dataframe()
    assert len(frame) == 25 and set(frame["status"]) == {"failed"}
    w.set_filters(search="EVAL RUN")  # keeps the status filter
    assert set(w.to_dataframe()["description"]) == {f"eval run {i}" for i in range(100) if i % 10 == 0 and i % 4 == 1}
    w.clear_filters()
    w.set_filters(since="2026-03-02", until="2026-03-02", endpoint="/v1/embeddings")
    frame = w.to_dataframe()
    created = frame["created_at"].map(lambda ts: ts.timestamp())
    assert len(frame) == len([i for i in range(24, 48) if i % 5 == 0])
    assert set(frame["endpoint"]) == {"/v1/embeddings"} and created.between(T0 + DAY, T0 + 2 * DAY - 1).all()
    w.clear_filters()
    assert len(w.to_dataframe()) == 100


def test_filters_set_in_the_browser_drive_to_dataframe():
    w = view(populated(60))
    w._history_filters = {"statuses": ["completed"], "search": " job 1", "endpoint": "", "since": "", "until": ""}
    frame = w.to_dataframe()
    assert len(frame) and all(s == "completed" for s in frame["status"])
    assert all("job 1" in d for d in frame["description"])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_python_filter_rule_equals_the_browser_rule():
    """js/panels/history.js filterRows and BatchHistory.filter (what to_dataframe uses) pick the same batches."""
    from batch_widgets.connections import labelled

    # As a dashboard over several connections shows them: each batch names its connection.
    batches = [
        labelled(Batch.model_validate(b), ("OpenAI", "Claude", "Local")[i % 3])
        for i, b in enumerate(populated(120).batches)
    ]
    rows = encode_rows(batches)
    cases = [
        {"connection": "Claude"},
        {"connection": "Local", "statuses": ["completed"]},
        {"statuses": ["failed", "in_progress"]},
        {"search": "Eval"},
        {"search": "nightly"},
        {"search": "batch_00"},
        {"endpoint": "/v1/embeddings", "statuses": ["completed"]},
        {"since": "2026-03-02", "until": "2026-03-03"},
        {"until": "2026-03-01"},
        {"search": "  JOB 1 "},
        {"search": "gpt-4o"},
        {"search": "embeddings"},
        {"search": "run 1"},
    ]
    history = BatchHistory.from_batches(batches)
    script = """
import { decodeRows, filterRows, emptyFilters } from "./js/panels/history.js";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { rows, cases } = JSON.parse(input);
  const decoded = decodeRows(rows);
  console.log(JSON.stringify(cases.map((c) => filterRows(decoded, { ...emptyFilters(), ...c }).map((r) => r.id))));
});
"""
    for case, js_ids in zip(cases, run_node(script, {"rows": rows, "cases": cases}), strict=True):
        expected = ids(history.filter(**history_filter_args(normalize_filters(case))).to_dataframe())
        assert expected == js_ids, case
        assert js_ids or case == {"until": "2026-03-01"} or case.get("search") == "batch_00"


def test_open_details_calls_back():
    opened = []
    w = view(populated(3), on_open=opened.append)
    w._on_history_open({"id": "batch_0001"}, [])
    assert opened == ["batch_0001"]
    w._on_history_open({"id": 5}, [])  # ignored: not an id
    assert opened == ["batch_0001"]
    alone = view(populated(3))
    alone._on_history_open({"id": "batch_0002"}, [])
    assert "BatchDetails('batch_0002')" in alone._notice["text"]


def test_a_failed_load_shows_a_banner_ends_loading_and_is_retried():
    api = populated(5)
    api.faults.append(lambda request: httpx.Response(500, json={"error": {"message": "boom"}}))
    w = view(api)
    assert w._history_loading is False
    assert len(w._history_rows) == 5 or "Loading the batch history failed" in w._banner
    deadline = time.monotonic() + 10
    while len(w._history_rows) != 5 and time.monotonic() < deadline:  # the retry comes after ~1 s
        time.sleep(0.05)
    assert len(w._history_rows) == 5 and w._banner == ""
    w.close()


def test_analytics_toggle_is_a_synced_trait():
    w = view(populated(3))
    assert w._history_analytics is False
    state = w.get_state()
    assert "_history_analytics" in state and "_history_filters" in state


def test_history_of_the_view_has_stats():
    w = view(populated(40))
    w.set_filters(statuses=["completed"])
    stats = w.history().stats()
    assert stats["batches"] == 20 and stats["by_status"]["completed"] == 20 and stats["by_status"]["failed"] == 0


def test_changes_during_the_first_load_are_in_the_rows_and_later_ones_are_patches():
    api = populated(10)
    client = make_client(api)
    store = install_store(client)
    original = store.load_all

    def load_all_then_change():
        result = original()
        store.put(Batch.model_validate({**api.batches[0], "status": "cancelled", "cancelled_at": T0 + 99}))
        return result

    store.load_all = load_all_then_change
    w = BatchHistoryView(client)
    w.wait_loaded(10)
    rows = w._history_rows.snapshot()
    assert rows["n"] == 10 and STATUSES[rows["status"][rows["id"].index(api.batches[0]["id"])]] == "cancelled"
    assert w._history_patch["n"] == 0  # nothing sent twice
    store.put(Batch.model_validate({**api.batches[1], "status": "expired", "expired_at": T0 + 99}))
    assert w._history_patch["id"] == [api.batches[1]["id"]]
    assert STATUSES[w._history_patch["status"][0]] == "expired"


def test_the_loads_own_events_are_not_sent_twice():
    w = view(populated(50))
    assert len(w._history_rows) == 50 and w._history_patch["n"] == 0


def test_against_the_local_server_created_batches_show_up_and_filter(tmp_path):
    from batch_widgets.client import BatchClient
    from batch_widgets.server.local import LocalBatchServer

    def req(i):
        return {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]},
        }

    with (
        LocalBatchServer(tmp_path, api_key="sk-hist", rate=0, poll_interval=0.1) as server,
        BatchClient(api_key="sk-hist", base_url=server.base_url, max_retries=0) as client,
    ):
        made = [client.submit([req(i) for i in range(n)], description=f"run {n}", tags=["local"]) for n in (2, 3, 4)]
        client.wait(made, progress=False, timeout=30)
        w = BatchHistoryView(client)
        w.wait_loaded(30)
        rows = w._history_rows.snapshot()
        assert rows["n"] == 3 and set(rows["id"]) == {b.id for b in made}
        assert sorted(rows["total"]) == [2, 3, 4] and rows["tags"] == ["local"] * 3
        w.set_filters(search="run 3")
        assert list(w.to_dataframe()["id"]) == [made[1].id]
        w.close()


def test_polls_only_while_a_batch_in_the_history_is_active():
    api = FakeBatchAPI()
    finished(api)
    w = view(api)
    assert w._poll_wants() is None and w._store.poll_interval() is None  # all done: no polling
    running(api)
    w._store.refresh()
    assert w._poll_wants() == 5.0 and w._store.poll_interval() == 5.0
    api.batches[0].update(status="completed", completed_at=T0 + 50)
    w._store.refresh()
    assert w._poll_wants() is None


def test_past_the_fold_size_a_fresh_snapshot_replaces_the_patch(monkeypatch):
    monkeypatch.setattr("batch_widgets.widgets.history_view.PATCH_FOLD_ROWS", 3)
    api = populated(10)
    w = view(api)
    sent = comm_messages(w)
    for i in range(3):
        api.batches[i]["status"] = "expired"
    w._store.refresh()
    assert w._history_patch["n"] == 3 and not any("_history_rows" in (m or {}).get("state", {}) for m, _ in sent)
    for i in range(3, 7):
        api.batches[i]["status"] = "expired"
    w._store.refresh(max_pages=None)
    snapshots = [m["state"]["_history_rows"] for m, _ in sent if "_history_rows" in (m or {}).get("state", {})]
    assert len(snapshots) == 1 and snapshots[0]["n"] == 10  # four rows in one change: the whole table instead
    assert w._history_patch["n"] == 0 and w._history_patch["version"] == snapshots[0]["version"]
    assert sum(STATUSES[c] == "expired" for c in snapshots[0]["status"]) == 7


def test_rows_say_which_job_part_and_round_each_batch_is():
    from batch_widgets.widgets.history_view import encode_rows

    def batch(i, meta):
        return Batch.model_validate(
            {
                "id": f"batch_{i}",
                "input_file_id": "f",
                "endpoint": "/v1/chat/completions",
                "status": "completed",
                "created_at": 1_700_000_000 + i,
                "metadata": meta,
            }
        )

    spec = "requests=10;max_attempts=3;retry_on=429;max_enqueued_tokens="
    rows = encode_rows(
        [
            batch(
                0,
                {
                    facts.JOB_ID_KEY: "job_b",
                    facts.JOB_PART_KEY: "2/2",
                    facts.JOB_ROUND_KEY: "1",
                    facts.JOB_SPEC_KEY: spec,
                },
            ),
            batch(1, {"description": "alone"}),
            batch(2, {facts.GROUP_ID_KEY: "group_old", facts.GROUP_PART_KEY: "1/2"}),  # an old split, not a job
            batch(
                3,
                {
                    facts.JOB_ID_KEY: "job_a",
                    facts.JOB_PART_KEY: "1/1",
                    facts.JOB_ROUND_KEY: "0",
                    facts.JOB_SPEC_KEY: spec,
                },
            ),
        ]
    )
    assert rows["jobs"] == ["job_a", "job_b"]
    assert (rows["job"], rows["part"], rows["round"]) == ([1, -1, -1, 0], [2, 0, 0, 1], [1, 0, 0, 0])
