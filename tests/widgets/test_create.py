"""CreateBatch / CreateMixin against the real local batch server: chunk reassembly, kernel re-validation,
upload, the new batch id, and nothing uploaded on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from batch_widgets import facts
from batch_widgets.client import BatchClient
from batch_widgets.server.local import LocalBatchServer
from batch_widgets.store import clear_stores
from batch_widgets.widgets.create import CHUNK_BYTES, MAX_SHOWN_PROBLEMS, CreateBatch
from batch_widgets.widgets.dashboard import BatchDashboard

EP = "/v1/chat/completions"
KEY = "sk-local-create-secret"


def line(i: int, **over) -> dict:
    req = {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": EP,
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hello {i}"}]},
    }
    req.update(over)
    return req


def jsonl(*reqs: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in reqs).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(tmp_path_factory.mktemp("create"), api_key=KEY, rate=0, poll_interval=0.1) as srv:
        yield srv


@pytest.fixture
def client(server):
    clear_stores()
    with BatchClient(api_key=KEY, base_url=server.base_url, max_retries=0) as c:
        yield c
    clear_stores()


def counts(client: BatchClient) -> tuple[int, int]:
    """(input files, batches) on the server: what 'nothing uploaded' is checked against."""
    return len(client.list_files(purpose="batch", limit=10_000).data), len(client.list_batches(limit=100).data)


def send_file(w, data: bytes, *, order=None, chunk: int = CHUNK_BYTES, upload_id="u1", **opts):
    """Play the browser: begin, chunks (in `order`), commit; returns the widget's new batch id."""
    n = -(-len(data) // chunk)
    w._on_create_begin({"upload_id": upload_id, "name": "in.jsonl", "size": len(data), "chunks": n}, [])
    for i in order if order is not None else range(n):
        w._on_create_chunk({"upload_id": upload_id, "index": i}, [memoryview(data[i * chunk : (i + 1) * chunk])])
    w._on_create_commit({"upload_id": upload_id, "endpoint": EP, **opts}, [])
    return w.wait_created(30)


def test_limits_and_endpoints_come_from_the_validator(client):
    w = CreateBatch(client)
    assert w._create_limits == {
        "max_bytes": facts.MAX_FILE_BYTES,
        "max_requests": facts.MAX_REQUESTS,
        "max_job_bytes": 2 * 1024**3,
        "chunk_bytes": 4 * 1024 * 1024,
        "max_shown_problems": MAX_SHOWN_PROBLEMS,
    }
    assert w._create_endpoints == list(facts.ENDPOINTS)
    assert w._view == "create"


def test_chunks_are_reassembled_uploaded_and_the_batch_created(client, monkeypatch):
    chunk = 4096  # many small chunks: the same code path as 4 MiB ones
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", chunk)
    w = CreateBatch(client)
    data = jsonl(*(line(i) for i in range(400)))
    batch_id = send_file(w, data, chunk=chunk, description="nightly eval", tags=" eval , nightly,")
    assert w._create_state == "done", w._create_error
    assert batch_id.startswith("batch")
    assert w._create_transfer == {
        "upload_id": "u1",
        "received": len(data),
        "total": len(data),
        "chunks": -(-len(data) // chunk),
    }
    assert w._create_progress == {"done": len(data), "total": len(data)}
    batch = client.retrieve_batch(batch_id)
    assert batch.endpoint == EP and batch.description == "nightly eval" and batch.tags == ["eval", "nightly"]
    assert client.file_content(batch.input_file_id) == data  # byte for byte
    assert w._store.get(batch_id) is not None  # the Active list sees it at once


def test_out_of_order_chunks_are_put_back_in_order(client, monkeypatch):
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", 100)
    w = CreateBatch(client)
    data = jsonl(*(line(i) for i in range(5)))
    n = -(-len(data) // 100)
    batch_id = send_file(w, data, chunk=100, order=list(reversed(range(n))))
    assert w._create_state == "done", w._create_error
    assert client.file_content(client.retrieve_batch(batch_id).input_file_id) == data


def test_a_missing_chunk_fails_the_commit_and_uploads_nothing(client, monkeypatch):
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", 100)
    before = counts(client)
    w = CreateBatch(client)
    data = jsonl(*(line(i) for i in range(5)))
    n = -(-len(data) // 100)
    send_file(w, data, chunk=100, order=[i for i in range(n) if i != 1])
    assert w._create_state == "error"
    assert f"1 of {n} chunks never arrived (index 1)" in w._create_error
    assert "nothing was uploaded" in w._create_error
    assert counts(client) == before


@pytest.mark.parametrize(
    "msg, buffers, expected",
    [
        ({"upload_id": "other", "index": 0}, [b"x" * 100], "not started"),
        ({"upload_id": "u1", "index": 9}, [b"x" * 100], "outside 0..2"),
        ({"upload_id": "u1", "index": 0}, [b"x" * 99], "holds 99 bytes; expected 100"),
        ({"upload_id": "u1", "index": 2}, [b"x" * 100], "holds 100 bytes; expected 50"),
        ({"upload_id": "u1", "index": 0}, [], "0 buffers"),
    ],
)
def test_bad_chunks_are_refused_with_a_reason(client, monkeypatch, msg, buffers, expected):
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", 100)
    w = CreateBatch(client)
    w._on_create_begin({"upload_id": "u1", "name": "a.jsonl", "size": 250, "chunks": 3}, [])
    w._on_create_chunk(msg, buffers)
    assert w._create_state == "error" and expected in w._create_error
    # the upload was abandoned: later chunks are refused too
    w._on_create_chunk({"upload_id": "u1", "index": 1}, [b"x" * 100])
    assert "not started" in w._create_error


def test_duplicate_chunk_and_wrong_chunk_count(client, monkeypatch):
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", 100)
    w = CreateBatch(client)
    w._on_create_begin({"upload_id": "u1", "name": "a.jsonl", "size": 250, "chunks": 3}, [])
    w._on_create_chunk({"upload_id": "u1", "index": 0}, [b"x" * 100])
    w._on_create_chunk({"upload_id": "u1", "index": 0}, [b"x" * 100])
    assert "arrived twice" in w._create_error
    w._on_create_begin({"upload_id": "u2", "name": "a.jsonl", "size": 250, "chunks": 2}, [])
    assert "travels in 3 chunks, not 2" in w._create_error


def test_too_large_a_file_is_refused_before_any_chunk(client):
    w = CreateBatch(client)
    size = 2 * 1024**3 + 1  # over one batch's 200 MB it would be a job; over this it is refused
    w._on_create_begin({"upload_id": "u1", "name": "big.jsonl", "size": size, "chunks": -(-size // CHUNK_BYTES)}, [])
    assert w._create_state == "error" and "at most 2147483648" in w._create_error and "submit_job" in w._create_error
    assert w._create_upload is None


def test_bad_lines_are_reported_with_line_numbers_and_nothing_is_uploaded(client):
    before = counts(client)
    w = CreateBatch(client)
    data = jsonl(line(1), line(1), line(3, url="/v1/embeddings")) + b"{not json\n"
    send_file(w, data)
    assert w._create_state == "invalid"
    assert [(p["line"], p["code"]) for p in w._create_problems] == [
        (2, "duplicate_custom_id"),
        (3, "url_mismatch"),
        (4, "invalid_json_line"),
    ]
    assert w._create_problems[0]["field"] == "custom_id"
    assert w._create_problem_count == 3 and w._create_batch_id == ""
    assert counts(client) == before


def test_problem_list_sent_to_the_browser_is_capped_but_counted(client):
    w = CreateBatch(client)
    send_file(w, b"nope\n" * 250)
    assert w._create_state == "invalid"
    assert len(w._create_problems) == MAX_SHOWN_PROBLEMS and w._create_problem_count == 250


@pytest.mark.parametrize(
    "opts, expected",
    [
        ({"endpoint": "/v1/nope"}, "Unknown endpoint '/v1/nope'"),
        ({"endpoint": EP, "completion_window": "7d"}, "Unknown completion window '7d'"),
        (
            {"endpoint": EP, "description": "x" * (facts.METADATA_MAX_VALUE_CHARS + 1)},
            f"is {facts.METADATA_MAX_VALUE_CHARS + 1} characters, at most {facts.METADATA_MAX_VALUE_CHARS}",
        ),
    ],
)
def test_bad_options_are_refused(client, opts, expected):
    before = counts(client)
    w = CreateBatch(client)
    data = jsonl(line(1))
    w._on_create_begin({"upload_id": "u1", "name": "a.jsonl", "size": len(data), "chunks": 1}, [])
    w._on_create_chunk({"upload_id": "u1", "index": 0}, [data])
    w._on_create_commit({"upload_id": "u1", **opts}, [])
    assert w._create_state == "error" and expected in w._create_error
    assert counts(client) == before


def test_requests_from_python_skip_the_browser(client, tmp_path):
    frame = pd.DataFrame([line(i) for i in range(3)])
    w = CreateBatch(client, requests=frame)
    assert w._create_source["name"] == "DataFrame" and w._create_source["lines"] == 3
    assert w._create_problem_count == 0 and w._create_state == "idle"
    w._on_create_submit({"endpoint": EP, "description": "from a frame", "tags": "py, frame"}, [])
    batch_id = w.wait_created(30)
    assert w._create_state == "done", w._create_error
    batch = client.retrieve_batch(batch_id)
    assert batch.description == "from a frame" and batch.tags == ["py", "frame"]
    assert w._store.get(batch_id) is not None
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(line(7), line(8)))
    w2 = CreateBatch(client, requests=path)
    assert w2._create_source == {"name": "in.jsonl", "bytes": path.stat().st_size, "lines": 2}
    w2._on_create_submit({"endpoint": EP}, [])
    assert w2.wait_created(30).startswith("batch")
    assert (
        client.file_content(client.retrieve_batch(w2.batch_id).input_file_id).splitlines()
        == jsonl(line(7), line(8)).splitlines()
    )
    w3 = CreateBatch(client, requests=[line(1), line(2)])
    w3._on_create_submit({"endpoint": EP}, [])
    assert w3.wait_created(30).startswith("batch")
    assert [
        json.loads(x) for x in client.file_content(client.retrieve_batch(w3.batch_id).input_file_id).splitlines()
    ] == [line(1), line(2)]


def test_bad_requests_from_python_show_problems_at_once_and_upload_nothing(client):
    before = counts(client)
    w = CreateBatch(client, requests=[line(1), line(1, method="GET")])
    assert w._create_state == "invalid"
    assert [(p["line"], p["code"]) for p in w._create_problems] == [(2, "duplicate_custom_id"), (2, "invalid_method")]
    w._on_create_submit({"endpoint": EP}, [])
    w.wait_created(30)
    # client.submit refused them too (InvalidRequestsError): the problems stay, nothing was uploaded
    assert w._create_state == "invalid" and w._create_problem_count == 2
    assert counts(client) == before
    with pytest.raises(ValueError, match="no model"):
        CreateBatch(client, requests=pd.DataFrame({"prompt": ["hi"]}))  # build_requests needs a model
    with pytest.raises(FileNotFoundError):
        CreateBatch(client, requests="/no/such/file.jsonl")
    with pytest.raises(TypeError, match="path to a JSONL file"):
        CreateBatch(client, requests=42)


def test_messages_through_the_comm_with_binary_buffers(client):
    """The real path: a custom comm message whose buffer is the chunk (as the kernel hands it over)."""
    w = CreateBatch(client)
    data = jsonl(line(1), line(2))

    def deliver(content, buffers=()):
        w.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)})

    deliver({"action": "create_begin", "upload_id": "c1", "name": "in.jsonl", "size": len(data), "chunks": 1})
    deliver({"action": "create_chunk", "upload_id": "c1", "index": 0}, [memoryview(data)])
    deliver({"action": "create_commit", "upload_id": "c1", "endpoint": EP})
    assert w.wait_created(30).startswith("batch"), w._create_error


def test_no_secret_and_no_file_content_in_synced_state(client):
    w = CreateBatch(client)
    data = jsonl(line(1, body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "TOP-SECRET-42"}]}))
    send_file(w, data, description="d")
    state = json.dumps(w.get_state(), default=str)
    assert "TOP-SECRET-42" not in state and KEY not in state
    assert w._create_state == "done"


def test_reset_clears_the_panel(client):
    w = CreateBatch(client)
    send_file(w, b"nope\n")
    w._on_create_reset({}, [])
    assert (w._create_state, w._create_problems, w._create_problem_count, w._create_batch_id) == ("idle", [], 0, "")


def test_dashboard_opens_the_details_of_a_batch_created_in_its_create_tab(client):
    d = BatchDashboard(client)
    d._tab = "create"
    batch_id = send_file(d, jsonl(line(1)))
    assert batch_id and d._tab == "active" and d._detail_id == batch_id
    # The switch hides the Create tab's own "created" line: a notice above the details says what happened.
    assert d._notice["tone"] == "success" and f"Batch {batch_id} created" in d._notice["text"]
    d.close()


def test_chunks_are_spooled_to_a_temp_file_that_is_always_deleted(client, monkeypatch):
    monkeypatch.setattr("batch_widgets.widgets.create.CHUNK_BYTES", 100)
    data = jsonl(line(1), line(2))
    n = -(-len(data) // 100)

    def begin(w, upload_id):
        w._on_create_begin({"upload_id": upload_id, "name": "a.jsonl", "size": len(data), "chunks": n}, [])
        w._on_create_chunk({"upload_id": upload_id, "index": 0}, [data[:100]])
        return w._create_upload.path

    w = CreateBatch(client)
    path = begin(w, "u1")
    w._create_upload.fh.flush()  # small writes sit in the file's buffer; 4 MiB chunks go straight through
    assert path.exists() and path.read_bytes()[:100] == data[:100]  # on disk, not in memory
    w._on_create_reset({}, [])
    assert not path.exists()  # reset mid-transfer
    path = begin(w, "u2")
    w._on_create_commit({"upload_id": "u2", "endpoint": EP}, [])  # chunks missing
    assert w._create_state == "error" and not path.exists()
    path = begin(w, "u3")
    for i in range(1, n):
        w._on_create_chunk({"upload_id": "u3", "index": i}, [data[i * 100 : (i + 1) * 100]])
    w._on_create_commit({"upload_id": "u3", "endpoint": EP}, [])
    assert w.wait_created(30) and not path.exists()  # uploaded, then deleted
    path = begin(w, "u4")
    w.close()
    assert not path.exists()  # the widget closed mid-transfer


def test_a_file_over_the_caps_is_created_as_a_job(client, monkeypatch):
    from batch_widgets import validation

    monkeypatch.setattr(validation, "MAX_REQUESTS", 4)
    w = CreateBatch(client)
    first = send_file(w, jsonl(*(line(i) for i in range(10))), description="big file")
    assert w._create_state == "done", w._create_error
    job = client.job(w._create_job["id"])
    assert w._create_job == {"id": job.id, "parts": 3} and first == job.batches[0].id
    assert [b.request_counts.total or b.metadata[facts.JOB_PART_KEY] for b in job.batches] and job.parts == 3
    assert all(b.metadata["description"] == "big file" for b in job.batches)
    assert "job " + job.id in w._notice["text"]
