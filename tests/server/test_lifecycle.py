"""A whole batch lifecycle through the official openai SDK against the local server."""

import time

import openai
import pytest
from openai.types import Batch as SDKBatch
from openai.types import CreateEmbeddingResponse, Moderation
from openai.types.chat import ChatCompletion
from openai.types.completion import Completion
from openai.types.responses import Response
from server_helpers import CHAT, jsonl, make_client, read_lines, request_line, submit, upload, wait_for

from batch_widgets.models import Batch


def test_upload_create_poll_download(client):
    data = jsonl([request_line(i) for i in range(30)])
    f = upload(client, data, name="my requests.jsonl")
    assert f.purpose == "batch" and f.bytes == len(data) and f.filename == "my requests.jsonl"
    assert client.files.retrieve(f.id).id == f.id
    assert client.files.content(f.id).content == data

    created = client.batches.create(
        input_file_id=f.id, endpoint=CHAT, completion_window="24h", metadata={"project": "demo", "owner": "ana"}
    )
    assert created.status == "validating"
    assert created.metadata == {"project": "demo", "owner": "ana"}
    assert created.expires_at == created.created_at + 86400
    assert created.request_counts.total == 0

    batch = wait_for(client, created.id)
    assert batch.status == "completed"
    assert batch.model == "gpt-4o-mini"
    counts = batch.request_counts
    assert counts.total == 30 and counts.completed + counts.failed == 30
    assert counts.failed > 0  # 10 % failure rate over 30 requests, deterministic
    for stamp in ("created_at", "in_progress_at", "finalizing_at", "completed_at"):
        assert isinstance(getattr(batch, stamp), int)
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    assert batch.failed_at is None and batch.cancelled_at is None

    output = read_lines(client, batch.output_file_id)
    errors = read_lines(client, batch.error_file_id)
    assert len(output) == counts.completed and len(errors) == counts.failed
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"req-{i}" for i in range(30))
    for line in output:
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200 and line["response"]["request_id"].startswith("req_")
        ChatCompletion.model_validate(line["response"]["body"])
    for line in errors:
        assert line["response"]["status_code"] >= 400
        assert line["response"]["body"]["error"]["message"]
    usage = batch.usage
    assert usage.input_tokens == sum(x["response"]["body"]["usage"]["prompt_tokens"] for x in output)
    assert usage.output_tokens == sum(x["response"]["body"]["usage"]["completion_tokens"] for x in output)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0

    out_file = client.files.retrieve(batch.output_file_id)
    assert out_file.purpose == "batch_output" and out_file.filename.endswith("_output.jsonl")
    # our own model reads the server's JSON too
    Batch.model_validate(client.batches.retrieve(batch.id).model_dump())


@pytest.mark.parametrize(
    "url,model_type",
    [
        ("/v1/completions", Completion),
        ("/v1/responses", Response),
        ("/v1/embeddings", CreateEmbeddingResponse),
    ],
)
def test_every_simulated_endpoint_returns_sdk_shaped_bodies(client, url, model_type):
    batch = wait_for(client, submit(client, 5, url=url).id)
    assert batch.status == "completed"
    for line in read_lines(client, batch.output_file_id):
        model_type.model_validate(line["response"]["body"])
    assert batch.usage.input_tokens > 0


def test_moderations(client):
    """Every request is answered once (output or error file), and each answer is a moderation the SDK parses;
    an empty or missing output file fails."""
    batch = wait_for(client, submit(client, 8, url="/v1/moderations").id)
    assert batch.status == "completed" and batch.request_counts.total == 8
    output = read_lines(client, batch.output_file_id)
    errors = read_lines(client, batch.error_file_id)
    assert len(output) == batch.request_counts.completed > 0
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"req-{i}" for i in range(8))
    for line in output:
        results = line["response"]["body"]["results"]
        assert len(results) == 1  # one input text, one result
        parsed = Moderation.model_validate(results[0])
        assert isinstance(parsed.flagged, bool) and parsed.categories is not None


def test_simulated_answers_are_deterministic(client):
    first = wait_for(client, submit(client, 8).id)
    second = wait_for(client, submit(client, 8).id)
    texts = [
        {
            x["custom_id"]: x["response"]["body"]["choices"][0]["message"]["content"]
            for x in read_lines(client, b.output_file_id)
        }
        for b in (first, second)
    ]
    both = texts[0].keys() & texts[1].keys()  # transient failures are drawn per attempt
    assert both and all(texts[0][k] == texts[1][k] for k in both)


def test_list_batches_pages_newest_first(client):
    ids = [submit(client, 1, metadata={"n": str(i)}).id for i in range(5)]
    assert sorted(ids) == ids  # ids sort in creation order (ties of created_at's whole seconds stay ordered)
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2]
    assert page.has_more is True
    seen = []
    for batch in client.batches.list(limit=2):  # the SDK follows `after` across pages
        seen.append(batch.id)
    assert seen[:5] == ids[::-1]
    assert len(seen) == len(set(seen))
    raw = client.get("/batches", cast_to=dict, options={"params": {"limit": 2}})
    assert raw["object"] == "list" and raw["first_id"] == ids[-1] and raw["last_id"] == ids[-2]
    tail = client.get("/batches", cast_to=dict, options={"params": {"limit": 100, "after": ids[0]}})
    assert ids[0] not in [b["id"] for b in tail["data"]]
    assert tail["has_more"] is False


def test_counts_rise_live(tmp_path):
    from batch_widgets.server.local import LocalBatchServer

    with LocalBatchServer(tmp_path, rate=60, poll_interval=0.1) as server, make_client(server) as c:
        batch = submit(c, 120)
        seen = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            b = c.batches.retrieve(batch.id)
            seen.add((b.status, b.request_counts.completed))
            if b.status == "completed":
                break
            time.sleep(0.05)
        partial = {n for status, n in seen if status == "in_progress" and 0 < n < 120}
        assert len(partial) >= 3, seen  # several intermediate counts were visible
        assert b.status == "completed" and b.request_counts.completed == 120


def test_files_list_and_delete(client):
    f1 = upload(client, jsonl([request_line(1)]))
    f2 = upload(client, jsonl([request_line(2)]))
    listed = [f.id for f in client.files.list(purpose="batch")]
    assert listed.index(f2.id) < listed.index(f1.id)  # newest first
    asc = client.get("/files", cast_to=dict, options={"params": {"order": "asc", "limit": 10000}})
    asc_ids = [f["id"] for f in asc["data"]]
    assert asc_ids.index(f1.id) < asc_ids.index(f2.id)
    deleted = client.files.delete(f1.id)
    assert deleted.deleted is True and deleted.id == f1.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f1.id)
    assert f1.id not in [f.id for f in client.files.list()]


def test_sdk_batch_type_accepts_every_state(client):
    batch = client.batches.retrieve(submit(client, 2).id)
    assert isinstance(batch, SDKBatch)


def test_output_expires_after_sets_the_output_files_expiry(client):
    f = upload(client, jsonl([request_line(i) for i in range(3)]))
    batch = client.batches.create(
        input_file_id=f.id,
        endpoint=CHAT,
        completion_window="24h",
        output_expires_after={"anchor": "created_at", "seconds": 7200},
    )
    done = wait_for(client, batch.id)
    out = client.files.retrieve(done.output_file_id)
    assert out.expires_at == out.created_at + 7200


def test_upload_expires_after(client):
    f = client.files.create(
        file=("a.jsonl", jsonl([request_line(0)])),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert f.expires_at == f.created_at + 3600


def test_stale_partial_files_are_removed_on_start(tmp_path):
    import os

    from batch_widgets.server.storage import Storage

    (tmp_path / "files").mkdir()
    old, fresh = tmp_path / "files" / "tmp-old.part", tmp_path / "files" / "tmp-new.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    Storage(tmp_path).close()
    assert not old.exists() and fresh.exists()
