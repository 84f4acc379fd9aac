"""BatchDetails widget state: every field, live updates, downloads, missing batches, results."""

from __future__ import annotations

import pytest
from live_helpers import T0, FakeBatchAPI, comm_messages, finished, install_store, make_client, running

from batch_widgets import store as store_module
from batch_widgets.widgets.details import BatchDetails


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


def _details(api, batch_id, **kwargs):
    client = make_client(api)
    store = install_store(client)
    return BatchDetails(batch_id, client, **kwargs), store


def _with_files(api):
    api.files["file-out"] = {"id": "file-out", "object": "file", "bytes": 11, "created_at": T0, "filename": "o"}
    api.contents["file-out"] = b'{"out": 1}\n'
    api.files["file-err"] = {"id": "file-err", "object": "file", "bytes": 11, "created_at": T0, "filename": "e"}
    api.contents["file-err"] = b'{"err": 1}\n'
    return finished(
        api,
        output_file_id="file-out",
        error_file_id="file-err",
        model="gpt-4o-mini",
        metadata={"description": "nightly eval", "tags": "eval, nightly"},
        errors={"object": "list", "data": [{"code": "invalid_json_line", "message": "bad line", "line": 7}]},
        usage={
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "output_tokens_details": {"reasoning_tokens": 120},
        },
        vendor_field={"x": 1},
    )


def test_every_field_timeline_errors_and_cost():
    api = FakeBatchAPI()
    raw = _with_files(api)
    w, _ = _details(api, raw["id"])
    d = w._detail
    assert d["id"] == raw["id"] and d["status"] == "completed"
    assert d["timeline"]["created"] == T0 - 7200 and d["timeline"]["completed"] == T0 - 3600
    assert d["processing_seconds"] == 3590
    assert d["output_file_id"] == "file-out" and d["error_file_id"] == "file-err"
    assert d["metadata"]["description"] == "nightly eval" and d["tags"] == ["eval", "nightly"]
    assert d["errors"] == [{"code": "invalid_json_line", "message": "bad line", "line": 7, "param": ""}]
    assert d["cost"]["source"] == "usage" and d["cost"]["tokens"]["total"] == 1500 and d["cost"]["usd"] > 0
    assert d["cost"]["tokens"]["reasoning"] == 120
    assert d["extra"] == {"vendor_field": '{"x": 1}'}
    assert w._poll_wants() is None  # a finished batch is not polled


def test_running_batch_updates_live_and_is_polled_at_the_details_interval():
    api = FakeBatchAPI()
    raw = running(api)
    w, store = _details(api, raw["id"], details_interval=1.5)
    assert store.poll_interval() == 1.5
    assert w._detail["eta"] is not None and w._detail["throughput"] > 0
    sent = comm_messages(w)
    store.poll_once()
    assert sent == []
    raw["request_counts"] = {"total": 100, "completed": 90, "failed": 5}
    store.poll_once()
    assert w._detail["completed"] == 90 and len(sent) == 1


def test_downloads_send_one_message_with_the_bytes():
    api = FakeBatchAPI()
    raw = _with_files(api)
    w, _ = _details(api, raw["id"])
    got = []
    w.send = lambda content, buffers=None: got.append((content, buffers))
    w._dispatch_action(w, {"action": "download", "kind": "output"}, [])
    w.wait_idle(30)
    w._dispatch_action(w, {"action": "download", "kind": "error"}, [])
    w.wait_idle(30)
    assert got[0][0] == {"type": "download", "filename": f"{raw['id']}_output.jsonl", "mime": "application/jsonl"}
    assert got[0][1] == [b'{"out": 1}\n'] and got[1][1] == [b'{"err": 1}\n']


def test_download_without_a_file_is_a_clear_banner():
    api = FakeBatchAPI()
    raw = running(api)
    w, _ = _details(api, raw["id"])
    w._dispatch_action(w, {"action": "download", "kind": "output"}, [])
    w.wait_idle(30)
    assert "has no output file" in w._banner


def test_missing_batch():
    api = FakeBatchAPI()
    w, _ = _details(api, "batch_does_not_exist")
    assert w._detail_state == "missing" and w._detail == {}


def test_cancel_from_details():
    api = FakeBatchAPI()
    raw = running(api)
    w, _ = _details(api, raw["id"])
    w._dispatch_action(w, {"action": "cancel", "ids": [raw["id"]]}, [])
    w.wait_idle(30)
    assert w._detail["status"] == "cancelling"


def test_bad_batch_id_is_refused():
    with pytest.raises(ValueError, match="batch id"):
        BatchDetails("")


def test_intervals_are_validated_when_changed_later():
    api = FakeBatchAPI()
    raw = running(api)
    w, store = _details(api, raw["id"])
    w.details_interval = 0.5
    assert store.poll_interval() == 0.5
    with pytest.raises(ValueError, match="details_interval must be > 0"):
        w.details_interval = 0


def test_results_as_dataframe_previews_and_names_the_notebook_variable(monkeypatch):
    import json

    api = FakeBatchAPI()
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(7)
    ]
    api.files["file-in"] = {"id": "file-in", "object": "file", "bytes": 1, "created_at": T0, "filename": "i"}
    api.contents["file-in"] = "".join(json.dumps(line) + "\n" for line in lines).encode()
    out = [
        {
            "id": f"o{i}",
            "custom_id": f"r{i}",
            "response": {
                "status_code": 200,
                "body": {
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"answer {i}"},
                        }
                    ],
                },
            },
        }
        for i in range(7)
    ]
    api.files["file-out"] = {"id": "file-out", "object": "file", "bytes": 1, "created_at": T0, "filename": "o"}
    api.contents["file-out"] = "".join(json.dumps(line) + "\n" for line in out).encode()
    raw = finished(
        api,
        input_file_id="file-in",
        output_file_id="file-out",
        metadata={"description": "Evals"},
        request_counts={"total": 7, "completed": 7, "failed": 0},
    )
    w, _ = _details(api, raw["id"])
    assert w._py_name == "details"  # before it is found in a notebook
    shell = type("Shell", (), {"user_ns": {"my_view": w, "_": w}})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    w._dispatch_action(w, {"action": "results_frame"}, [])
    w.wait_idle(30)
    assert w._banner == ""
    assert w._py_name == "my_view"  # the footer and notice name what the user typed, not "details"
    assert w._notice["text"] == "7 result rows of Evals are in my_view.results_frame."
    p = w._results_preview
    assert p["batch_id"] == raw["id"] and p["rows"] == 7 and len(p["head"]) == 5
    assert p["columns"][:3] == ["custom_id", "status", "text"] and p["head"][0][:3] == ["r0", "ok", "answer 0"]
    assert len(w.results_frame) == 7
    other = finished(api)
    w._detail_id = other["id"]
    assert w._results_preview == {}  # another batch: the preview was of the old one


def test_an_expired_file_is_named_expired_instead_of_a_broken_download():
    api = FakeBatchAPI()
    raw = _with_files(api)
    w, _ = _details(api, raw["id"])
    got = []
    w.send = lambda content, buffers=None: got.append(content)
    del api.files["file-out"], api.contents["file-out"]  # the provider deleted it (output_expires_after)
    w._dispatch_action(w, {"action": "download", "kind": "output"}, [])
    assert got == [] and w._files_gone == ["output"]
    assert "output file" in w._notice["text"] and "expired" in w._notice["text"] and w._notice["tone"] == "warning"
    w._dispatch_action(w, {"action": "download", "kind": "error"}, [])
    assert len(got) == 1 and w._files_gone == ["output"]  # the error file is still there
    w._detail_id = ""
    assert w._files_gone == []
