"""BatchList widget state: rows, minimal updates, notices, callbacks, actions, banners, lifecycle."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from live_helpers import T0, FakeBatchAPI, comm_messages, finished, install_store, make_client, running

from batch_widgets import facts
from batch_widgets import store as store_module
from batch_widgets.widgets import rowsync
from batch_widgets.widgets.active_list import BatchList


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


def _list(api, **kwargs):
    client = make_client(api)
    store = install_store(client)
    return BatchList(client, **kwargs), store


def test_rows_show_active_and_recently_finished_only():
    api = FakeBatchAPI()
    finished(api)  # ended long ago: not listed
    recent = finished(api, completed_at=int(time.time()) - 60)
    run = running(api)
    w, _ = _list(api)
    assert set(w._rows) == {run["id"], recent["id"]}
    row = w._rows[run["id"]]
    assert row["status"] == "in_progress" and (row["total"], row["completed"], row["failed"]) == (100, 20, 5)
    assert row["in_progress"] == T0 + 10 and row["model"] == "gpt-4o-mini"
    assert w._loaded is True


def test_a_tick_with_no_change_sends_nothing_and_a_change_sends_one_update():
    api = FakeBatchAPI()
    a = running(api)
    b = running(api)
    w, store = _list(api)
    sent = comm_messages(w)
    store.poll_once()
    assert sent == []  # nothing changed: not one message
    a["request_counts"] = {"total": 100, "completed": 60, "failed": 5}
    before_b = w._rows[b["id"]]
    store.poll_once()
    updates = [m for m, _ in sent if m and m.get("method") == "update"]
    assert len(updates) == 1 and set(updates[0]["state"]) == {"_rows_patch"}
    patch = updates[0]["state"]["_rows_patch"]
    assert list(patch["rows"]) == [a["id"]] and "drop" not in patch  # only the row that changed travels
    assert patch["rows"][a["id"]]["completed"] == 60 and w._rows[a["id"]]["completed"] == 60
    assert patch["version"] == w._rows.version
    assert w._rows[b["id"]] is before_b  # the unchanged row was not rebuilt


def test_a_view_that_opens_later_starts_from_the_current_rows():
    api = FakeBatchAPI()
    a = running(api)
    w, store = _list(api)
    a["request_counts"] = {"total": 100, "completed": 70, "failed": 0}
    store.poll_once()
    state = w.get_state()  # what a new front-end model (or a page reload) receives: no override, no resync
    assert state["_rows"]["version"] == state["_rows_patch"]["version"]  # the patch is already in the snapshot
    assert state["_rows"]["rows"][a["id"]]["completed"] == 70
    assert not hasattr(w, "_on_rows_resync") and "get_state" not in type(w).__dict__


def test_the_last_patch_alone_brings_an_older_snapshot_up_to_date():
    # A front end keeps only a trait's latest value until its view code has started (the ESM loads after the
    # model exists), so patches that come meanwhile collapse into the last one: it must carry them all.
    api = FakeBatchAPI()
    a, b = running(api), running(api)
    w, store = _list(api)
    created_with = w.get_state()["_rows"]  # the state a front-end model was created from
    a["request_counts"] = {"total": 100, "completed": 60, "failed": 5}
    store.poll_once()
    b["request_counts"] = {"total": 100, "completed": 80, "failed": 0}
    store.poll_once()
    last = w._rows_patch
    assert last["version"] > created_with["version"]
    rows = {**created_with["rows"], **last["rows"]}
    assert (rows[a["id"]]["completed"], rows[b["id"]]["completed"]) == (60, 80)


def test_once_front_ends_have_started_a_patch_carries_its_own_change_only():
    api = FakeBatchAPI()
    a, b = running(api), running(api)
    w, store = _list(api)
    w.get_state()  # a front end starts from the snapshot...
    later = w._rows.clock() + rowsync.CUMULATIVE_SECONDS
    w._rows.clock = lambda: later  # ...and follows patches by now
    a["request_counts"] = {"total": 100, "completed": 60, "failed": 5}
    store.poll_once()
    b["request_counts"] = {"total": 100, "completed": 80, "failed": 0}
    store.poll_once()
    assert list(w._rows_patch["rows"]) == [b["id"]]  # one batch moved: one row travels


def test_finish_raises_a_notice_and_calls_on_complete():
    api = FakeBatchAPI()
    raw = running(api)
    done = []
    w, store = _list(api, on_complete=done.append)
    raw.update(status="completed", completed_at=T0 + 100, request_counts={"total": 100, "completed": 97, "failed": 3})
    store.poll_once()
    assert [b.id for b in done] == [raw["id"]]
    assert w._notice["tone"] == "warning" and "97 of 100" in w._notice["text"] and "3 failed" in w._notice["text"]
    assert w._rows[raw["id"]]["status"] == "completed"  # still listed until dismissed


def test_several_finishing_name_each_batch_by_description_or_id():
    api = FakeBatchAPI()
    a = running(api, metadata={"description": "Weekly report summaries"})
    b = running(api, metadata={"description": "Support ticket triage"})
    c = running(api)  # no description: its id stands in
    w, store = _list(api)
    for raw in (a, b, c):
        raw.update(
            status="completed", completed_at=T0 + 100, request_counts={"total": 10, "completed": 10, "failed": 0}
        )
    store.poll_once()
    prefix, _, names = w._notice["text"].partition(": ")
    assert prefix == "3 batches finished"
    assert sorted(names.split(", ")) == sorted(
        ["Weekly report summaries (completed)", "Support ticket triage (completed)", f"{c['id']} (completed)"]
    )
    assert a["id"] not in names and b["id"] not in names


def test_a_refused_input_reads_as_failed_validation_and_cancel_names_the_batch():
    api = FakeBatchAPI()
    raw = running(
        api,
        status="validating",
        request_counts={"total": 0, "completed": 0, "failed": 0},
        metadata={"description": "Ticket triage"},
    )
    other = running(api, metadata={"description": "Weekly summaries"})
    w, store = _list(api)
    w._dispatch_action(w, {"action": "cancel", "ids": [other["id"]]}, [])
    w.wait_idle(30)
    assert w._notice["text"] == "Cancelling Weekly summaries"  # description, else id, like every notice
    raw.update(
        status="failed",
        failed_at=T0 + 5,
        errors={
            "data": [
                {"code": "invalid_json_line", "message": "not valid JSON", "line": 2},
                {"code": "missing_model", "message": "missing", "line": 3},
            ]
        },
    )
    store.poll_once()
    text = w._notice["text"]
    assert text == "Batch Ticket triage failed validation: line 2: not valid JSON; 1 more in its details"
    assert "0 of 0" not in text and w._notice["tone"] == "warning"


def test_on_complete_errors_become_a_banner():
    api = FakeBatchAPI()
    raw = running(api)

    def broken(batch):
        raise RuntimeError("my callback broke")

    w, store = _list(api, on_complete=broken)
    raw.update(status="failed", failed_at=T0 + 50)
    store.poll_once()
    assert "my callback broke" in w._banner


def test_cancel_and_bulk_cancel_from_the_view():
    api = FakeBatchAPI()
    a = running(api)
    b = running(api)
    c = running(api)
    w, _ = _list(api)
    w._dispatch_action(w, {"action": "cancel", "ids": [a["id"]]}, [])
    w.wait_idle(30)
    assert w._rows[a["id"]]["status"] == "cancelling" and w._notice["text"] == f"Cancelling {a['id']}"
    c["status"] = "completed"  # finished meanwhile: the API answers 409
    w._dispatch_action(w, {"action": "cancel", "ids": [b["id"], c["id"]]}, [])
    w.wait_idle(30)
    assert w._rows[b["id"]]["status"] == "cancelling"
    assert w._rows[c["id"]]["status"] == "completed"
    assert "already completed" in w._banner and w._notice["text"] == "Cancelling 1 batches"


def test_dismiss_hides_finished_rows_for_good():
    api = FakeBatchAPI()
    raw = running(api)
    keep = running(api)
    w, store = _list(api)
    raw.update(status="completed", completed_at=T0 + 100)
    store.poll_once()
    w._dispatch_action(w, {"action": "dismiss", "ids": [raw["id"], keep["id"]]}, [])
    assert set(w._rows) == {keep["id"]}  # an active row cannot be dismissed
    raw["metadata"] = {"description": "edited"}
    store.poll_once()
    assert raw["id"] not in w._rows


def test_refresh_failure_shows_a_banner_and_recovery_clears_it():
    api = FakeBatchAPI()
    running(api)
    w, store = _list(api)
    api.faults = [lambda r: httpx.Response(500, json={"error": {"message": "upstream exploded"}})]
    store.poll_once()
    assert w._banner.startswith("Refresh failed") and "upstream exploded" in w._banner
    store.poll_once()
    assert w._banner == ""


def test_polling_is_wanted_only_while_a_listed_batch_is_active():
    api = FakeBatchAPI()
    raw = running(api)
    w, store = _list(api, poll_interval=2.5)
    assert w._poll_wants() == 2.5 and store.poll_interval() == 2.5
    w.poll_interval = 1.0
    assert store.poll_interval() == 1.0
    raw.update(status="completed", completed_at=T0 + 100)
    store.poll_once()
    assert w._poll_wants() is None and store.poll_interval() is None
    w.close()
    assert store.subscriber_count == 0


def test_no_secret_in_synced_state_or_repr():
    api = FakeBatchAPI()
    running(api)
    w, _ = _list(api)
    state = json.dumps(w.get_state(), default=str)
    assert "sk-test-secret" not in state and "sk-test-secret" not in repr(w)
    assert repr(w) == "<BatchList>"


def test_bad_arguments_are_refused():
    api = FakeBatchAPI()
    with pytest.raises(ValueError, match="poll_interval"):
        _list(api, poll_interval=0)


def _job_batch(api, job_id, part, round_=0, **fields):
    spec = "requests=300;max_attempts=3;retry_on=429,5xx;max_enqueued_tokens="
    meta = {
        facts.JOB_ID_KEY: job_id,
        facts.JOB_PART_KEY: f"{part}/3",
        facts.JOB_ROUND_KEY: str(round_),
        facts.JOB_SPEC_KEY: spec,
        "description": "triage",
    }
    return running(api, metadata=meta, **fields)


def test_a_job_is_one_row_that_expands_to_its_batches_and_cancels_as_one():
    api = FakeBatchAPI()
    job = "job_6b0d0000aaaaaaaaaaaa"
    one = _job_batch(
        api,
        job,
        1,
        request_counts={"total": 100, "completed": 100, "failed": 0},
        status="completed",
        completed_at=int(time.time()),
    )
    two = _job_batch(api, job, 2)  # 20 + 5 of 100 done
    three = _job_batch(api, job, 3, request_counts={"total": 100, "completed": 0, "failed": 0})
    alone = running(api)
    w, store = _list(api)
    assert set(w._rows) == {job, alone["id"]}  # the job's batches are not rows of their own
    row = w._rows[job]
    assert row["kind"] == "job" and row["status"] == "in_progress" and row["parts"] == 3
    assert (row["total"], row["completed"], row["failed"]) == (300, 120, 5)
    assert [b["id"] for b in row["batches"]] == [one["id"], two["id"], three["id"]]
    assert row["description"] == "triage" and row["round"] == 0
    from batch_widgets.widgets._rows import batch_detail

    assert batch_detail(store.get(two["id"]), None)["job"] == {"id": job, "part": 2, "parts": 3, "round": 0}
    assert batch_detail(store.get(alone["id"]), None)["job"] is None
    two["request_counts"] = {"total": 100, "completed": 90, "failed": 10}
    store.poll_once()
    assert w._rows[job]["completed"] == 190 and w._rows[job]["failed"] == 10  # it progresses
    w._dispatch_action(w, {"action": "cancel", "ids": [job]}, [])
    assert two["status"] == three["status"] == "cancelling"  # every running batch of the job...
    assert one["status"] == "completed" and alone["status"] == "in_progress"  # ...and nothing else
