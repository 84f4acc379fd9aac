"""The official ``anthropic`` SDK drives the local server's Message Batches routes through a whole lifecycle.

Its typed models (MessageBatch, MessageBatchIndividualResponse, Message, DeletedMessageBatch, the error classes)
parse every response, so the shapes are Anthropic's, not our guess.
"""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest
from anthropic.types.messages import MessageBatch
from server_helpers import API_KEY

from batch_widgets.server.local import LocalBatchServer

MODEL = "claude-haiku-4-5"


def _request(i: int, **params):
    body = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": f"hello {i}"}]}
    body.update(params)
    return {"custom_id": f"req-{i}", "params": body}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(
        tmp_path_factory.mktemp("anthropic"), api_key=API_KEY, failure_rate=0.5, poll_interval=0.1
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


def _wait_ended(client, batch_id, timeout=20.0) -> MessageBatch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert time.monotonic() < deadline, f"{batch_id} still {batch.processing_status}"
        time.sleep(0.05)


def test_lifecycle_create_poll_results_delete(client, server):
    created = client.messages.batches.create(requests=[_request(i) for i in range(20)])
    assert isinstance(created, MessageBatch)
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    counts = created.request_counts
    assert counts.processing + counts.succeeded + counts.errored == 20
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600

    ended = _wait_ended(client, created.id)
    counts = ended.request_counts
    assert counts.processing == 0 and counts.canceled == counts.expired == 0
    assert counts.succeeded + counts.errored == 20 and counts.errored > 0  # 0.5 over 20: ~1e-6 chance of none
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.results_url == f"{server.anthropic_base_url}/v1/messages/batches/{created.id}/results"

    results = list(client.messages.batches.results(created.id))
    assert sorted(r.custom_id for r in results) == sorted(f"req-{i}" for i in range(20))
    kinds = [r.result.type for r in results]
    assert kinds.count("succeeded") == counts.succeeded and kinds.count("errored") == counts.errored
    ok = next(r.result for r in results if r.result.type == "succeeded")
    assert ok.message.type == "message" and ok.message.role == "assistant" and ok.message.model == MODEL
    assert ok.message.content[0].type == "text" and ok.message.content[0].text
    assert ok.message.stop_reason in ("end_turn", "max_tokens") and ok.message.usage.output_tokens <= 64
    bad = next(r.result for r in results if r.result.type == "errored")
    assert bad.error.type == "error" and bad.error.error.message

    deleted = client.messages.batches.delete(created.id)
    assert deleted.id == created.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.batches.retrieve(created.id)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "not_found_error"


def test_max_tokens_cuts_the_answer(client):
    batch = client.messages.batches.create(requests=[_request(i, max_tokens=1) for i in range(5)])
    _wait_ended(client, batch.id)
    results = [r.result for r in client.messages.batches.results(batch.id) if r.result.type == "succeeded"]
    assert results and all(
        m.message.stop_reason == "max_tokens" and m.message.usage.output_tokens == 1 for m in results
    )


def test_list_pages_both_ways(client):
    ids = [client.messages.batches.create(requests=[_request(0)]).id for _ in range(5)]
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert first.first_id == ids[-1] and first.last_id == ids[-2]
    walked = [b.id for b in client.messages.batches.list(limit=2)]  # auto-paging follows after_id = last_id
    assert walked[:5] == ids[::-1] and len(walked) == len(set(walked))
    newer = client.messages.batches.list(limit=2, before_id=ids[0])
    assert [b.id for b in newer.data] == [ids[2], ids[1]] and newer.has_more
    older = client.messages.batches.list(limit=10, after_id=ids[1])
    assert [b.id for b in older.data][:1] == [ids[0]]


def test_cancel_ends_with_canceled_results(tmp_path):
    with (
        LocalBatchServer(tmp_path, api_key=API_KEY, rate=20, poll_interval=0.1) as slow,
        anthropic.Anthropic(base_url=slow.anthropic_base_url, api_key=API_KEY, max_retries=0) as client,
    ):
        batch = client.messages.batches.create(requests=[_request(i) for i in range(200)])
        with pytest.raises(anthropic.AnthropicError, match="results_url"):  # no results before the end
            client.messages.batches.results(batch.id)
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status in ("canceling", "ended") and canceling.cancel_initiated_at is not None
        ended = _wait_ended(client, batch.id)
        counts = ended.request_counts
        assert counts.canceled > 0 and counts.processing == 0
        assert counts.succeeded + counts.errored + counts.canceled == 200
        kinds = [r.result.type for r in client.messages.batches.results(batch.id)]
        assert len(kinds) == 200 and kinds.count("canceled") == counts.canceled
        with pytest.raises(anthropic.BadRequestError):  # ended batches can be deleted, running ones cannot
            client.messages.batches.delete(client.messages.batches.create(requests=[_request(i) for i in range(50)]).id)


def test_errors_come_in_anthropics_shape(client, server):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.create(requests=[_request(0), {"custom_id": "x", "params": {"model": MODEL}}])
    assert info.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "requests.1.params.max_tokens: Field required (a positive integer).",
    }
    with pytest.raises(anthropic.BadRequestError, match="unique"):
        client.messages.batches.create(requests=[_request(0), _request(0)])
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=[{"custom_id": "has space", "params": _request(0)["params"]}])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_doesnotexist")
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as auth:
            bad.messages.batches.list()
    assert auth.value.body["error"]["type"] == "authentication_error"
    # Anthropic requires the anthropic-version header (the SDK always sends it).
    raw = httpx.get(f"{server.anthropic_base_url}/v1/messages/batches", headers={"x-api-key": API_KEY})
    assert raw.status_code == 400 and raw.json()["error"]["message"] == "anthropic-version: header is required"
    # An unknown URL under the dialect's prefix still answers in its shape.
    raw = httpx.get(
        f"{server.anthropic_base_url}/v1/messages/batches/a/b/c",
        headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
    )
    assert raw.status_code == 404 and raw.json()["type"] == "error"


def test_openai_routes_do_not_list_other_dialects(client, server):
    client.messages.batches.create(requests=[_request(0)])
    listed = httpx.get(f"{server.base_url}/batches?limit=100", headers={"Authorization": f"Bearer {API_KEY}"})
    assert listed.status_code == 200 and all(b["id"].startswith("batch_") for b in listed.json()["data"])
