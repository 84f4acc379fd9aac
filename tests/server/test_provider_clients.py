"""Our own clients in each dialect against the local server's routes: BatchClient(provider="anthropic" | "mistral")
goes through submit -> wait -> results frame -> history -> cancel exactly as an OpenAI client does; faults of
each dialect (its error bodies, overload, a results URL elsewhere) come from MockTransport fakes."""

from __future__ import annotations

import json

import httpx
import pytest
from server_helpers import API_KEY

from batch_widgets import BatchClient
from batch_widgets.errors import InvalidRequestsError, NotFoundError, ServerError, UnsupportedByProviderError
from batch_widgets.history import batch_history
from batch_widgets.server.local import LocalBatchServer

CLAUDE = "claude-haiku-4-5"


def _chat(i: int, model: str) -> dict:
    return {
        "custom_id": f"q-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": model,
            "max_tokens": 40,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"hi {i}"}],
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(
        tmp_path_factory.mktemp("dialects"), api_key=API_KEY, failure_rate=0.2, poll_interval=0.1
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def claude(server):
    with BatchClient(provider="anthropic", base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def mistral(server):
    with BatchClient(base_url=server.mistral_base_url, api_key=API_KEY, max_retries=0) as c:  # detected
        yield c


def test_anthropic_submit_wait_results_history(claude):
    assert claude.provider == "anthropic"
    batch = claude.submit([_chat(i, CLAUDE) for i in range(12)], description="not kept")
    assert batch.id.startswith("msgbatch_") and batch.status.value == "in_progress"
    assert batch.metadata is None  # Anthropic has no metadata: the documented rule drops it
    done = claude.wait(batch.id, poll_interval=0.05, progress=False)
    assert done.status.value == "completed" and done.request_counts.total == 12
    results = claude.results(done)
    frame = results.to_dataframe()
    cost, source = results.cost()  # priced from the results' Claude tokens, at the Message Batches discount
    assert source == "results" and cost is not None and cost > 0
    assert sorted(frame["custom_id"]) == sorted(f"q-{i}" for i in range(12))
    ok = frame[frame["ok"]]
    assert len(ok) == done.request_counts.completed and (ok["text"].str.len() > 0).all()
    assert (ok["model"] == CLAUDE).all() and (ok["output_tokens"] > 0).all()
    failed = frame[~frame["ok"]]
    assert len(failed) == done.request_counts.failed and failed["error_message"].notna().all()
    ids = [b.id for b in claude.iter_batches(page_size=1)]  # paging by after_id through our one pager
    assert batch.id in ids and len(ids) == len(set(ids))
    history = batch_history(claude).to_dataframe()
    assert batch.id in set(history["id"]) and (history["endpoint"] == "/v1/messages").all()
    with pytest.raises(UnsupportedByProviderError, match="does not return them"):
        claude.retry_failed(done)  # Anthropic gives results, never the requests back


def test_anthropic_rejects_unconvertible_lines_by_number_and_has_no_files(claude):
    bad = _chat(1, CLAUDE)
    bad["body"]["logit_bias"] = {"1": 2}
    with pytest.raises(InvalidRequestsError) as info:
        claude.submit([_chat(0, CLAUDE), bad])
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "body.logit_bias")]
    with pytest.raises(UnsupportedByProviderError, match="no file upload"):
        claude.upload_file(b"{}\n")
    with pytest.raises(NotFoundError):
        claude.retrieve_batch("msgbatch_nothere")


def test_anthropic_cancel(tmp_path):
    with (
        LocalBatchServer(tmp_path, api_key=API_KEY, rate=20, poll_interval=0.1) as slow,
        BatchClient(provider="anthropic", base_url=slow.anthropic_base_url, api_key=API_KEY) as client,
    ):
        batch = client.submit([_chat(i, CLAUDE) for i in range(200)])
        assert client.cancel_batch(batch.id).status.value in ("cancelling", "cancelled")
        done = client.wait(batch.id, poll_interval=0.05, progress=False)
        assert done.status.value == "cancelled" and done.cancelled_at is not None
        frame = client.results(done).to_dataframe()
        assert len(frame) == 200 and (frame["status"] == "not_executed").sum() > 0


def test_mistral_submit_wait_results_history(mistral):
    assert mistral.provider == "mistral"
    batch = mistral.submit([_chat(i, "mistral-small-latest") for i in range(10)], description="weekly", tags=["eval"])
    assert batch.status.value == "validating" and batch.description == "weekly" and batch.tags == ["eval"]
    done = mistral.wait(batch.id, poll_interval=0.05, progress=False)
    assert done.status.value == "completed" and done.request_counts.total == 10
    frame = mistral.results(done).to_dataframe()
    assert len(frame) == 10 and frame["ok"].sum() == done.request_counts.completed
    assert set(frame["custom_id"]) == {f"q-{i}" for i in range(10)}
    listed = {b.id: b for b in mistral.iter_batches(page_size=1)}  # page numbers behind the one pager
    assert listed[batch.id].description == "weekly"


def test_mistral_cancel(tmp_path):
    with (
        LocalBatchServer(tmp_path, api_key=API_KEY, rate=20, poll_interval=0.1) as slow,
        BatchClient(provider="mistral", base_url=slow.mistral_base_url, api_key=API_KEY) as client,
    ):
        batch = client.submit([_chat(i, "mistral-small-latest") for i in range(200)])
        client.cancel_batch(batch.id)
        done = client.wait(batch.id, poll_interval=0.05, progress=False)
        assert done.status.value == "cancelled" and done.request_counts.completed < 200


# -- faults, from fakes ----------------------------------------------------------------------------------------
def _fake(handler) -> BatchClient:
    return BatchClient(
        provider="anthropic", api_key="sk-ant-test", transport=httpx.MockTransport(handler), max_retries=2
    )


def test_anthropic_overload_is_retried_and_errors_keep_their_message():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        assert request.headers["x-api-key"] == "sk-ant-test" and request.headers["anthropic-version"]
        if len(calls) == 1:
            return httpx.Response(
                529,
                json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                headers={"retry-after": "0"},
            )
        return httpx.Response(
            404, json={"type": "error", "error": {"type": "not_found_error", "message": "no such batch"}}
        )

    with _fake(handler) as client:
        assert client.base_url == "https://api.anthropic.com"
        with pytest.raises(NotFoundError, match="no such batch") as info:
            client.retrieve_batch("msgbatch_x")
    assert len(calls) == 2 and info.value.type == "not_found_error"


def test_anthropic_create_that_may_have_landed_is_not_resent():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}})

    with _fake(handler) as client, pytest.raises(ServerError):
        client.submit([_chat(0, CLAUDE)])
    assert len(calls) == 1  # no metadata tag to look for, so never resent (no duplicate batch)
    assert json.loads(calls[0].content)["requests"][0]["params"]["system"] == "Be brief."


def test_results_only_from_the_providers_own_host():
    with _fake(lambda r: httpx.Response(200)) as client:
        with pytest.raises(UnsupportedByProviderError, match="results_url"):
            client.file_content("https://elsewhere.example/v1/messages/batches/x/results")


def test_async_client_speaks_the_dialects_too():
    import asyncio

    from batch_widgets import AsyncBatchClient

    page = {
        "data": [
            {
                "id": "b-1",
                "object": "batch",
                "input_files": ["file-1"],
                "endpoint": "/v1/embeddings",
                "errors": [],
                "status": "RUNNING",
                "created_at": 1,
                "total_requests": 4,
                "completed_requests": 1,
                "succeeded_requests": 1,
                "failed_requests": 0,
            }
        ],
        "object": "list",
        "total": 1,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/batch/jobs" and request.headers["authorization"] == "Bearer m-key"
        return httpx.Response(200, json=page)

    async def main():
        async with AsyncBatchClient(
            base_url="https://api.mistral.ai", api_key="m-key", transport=httpx.MockTransport(handler)
        ) as client:
            assert client.provider == "mistral"
            return await client.list_batches(limit=10)

    result = asyncio.run(main())
    assert [(b.id, b.status.value, b.request_counts.completed) for b in result.data] == [("b-1", "in_progress", 1)]
