"""AsyncBatchClient: the same core as BatchClient, driven through its main paths with MockTransport."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging

import httpx
import pytest
from fake_batch_api import FakeBatchAPI

from batch_widgets import facts
from batch_widgets.client import AsyncBatchClient, BatchClient
from batch_widgets.errors import APIConnectionError, APITimeoutError, ConflictError, NotFoundError, RateLimitError
from batch_widgets.models import Batch, BatchStatus

KEY = "sk-test-secret-0123456789"


def make(api: FakeBatchAPI, **kw):
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncBatchClient(KEY, transport=api.transport(), sleep=sleep, **kw), sleeps


def run(coro):
    return asyncio.run(coro)


def test_same_public_methods_and_arguments_as_sync_client():
    public = lambda cls: {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}  # noqa: E731 - a one-line local helper
    assert public(BatchClient) == public(AsyncBatchClient)
    assert {"submit", "wait", "results", "retry_failed"} <= public(AsyncBatchClient)
    for name in public(BatchClient):
        sync, coro = getattr(BatchClient, name), getattr(AsyncBatchClient, name)
        if name in ("iter_batches", "close", "workflow"):
            continue
        assert inspect.iscoroutinefunction(coro), name
        assert list(inspect.signature(sync).parameters) == list(inspect.signature(coro).parameters), name


def test_async_workflow_round_trip_on_the_local_server(tmp_path):
    """submit -> wait -> results -> retry_failed, awaited, with the same arguments as the sync client."""
    from batch_widgets.jsonl import build_requests
    from batch_widgets.server.local import LocalBatchServer

    async def main(server):
        async with AsyncBatchClient(api_key=server.api_key, base_url=server.base_url) as client:
            updates = []
            batch = await client.submit(
                build_requests([f"q{i}" for i in range(12)], model="gpt-4o-mini"), description="async run", tags=["a"]
            )
            done = await client.wait(batch.id, poll_interval=0.05, timeout=60, on_update=updates.append, progress=False)
            assert done.status == "completed" and updates[-1] == done
            results = await client.results(done, directory=tmp_path / "r")
            frame = results.to_dataframe()
            assert len(frame) == 12 and int((~frame["ok"]).sum()) == done.request_counts.failed > 0
            results.close()
            child = await client.retry_failed(done.id)
            assert child.metadata[facts.PARENT_KEY] == done.id and child.metadata["description"] == "async run"
            child = await client.wait(child, poll_interval=0.05, timeout=60, progress=False)
            assert child.request_counts.total == done.request_counts.failed

    with LocalBatchServer(tmp_path / "srv", rate=0, failure_rate=0.5, poll_interval=0.05) as server:
        asyncio.run(main(server))


def test_async_paging_250_in_3_requests():
    api = FakeBatchAPI(250)

    async def main():
        async with make(api)[0] as client:
            return [b async for b in client.iter_batches(page_size=100)]

    batches = run(main())
    assert len(batches) == 250 and len(api.requests) == 3
    assert all(isinstance(b, Batch) for b in batches)


def test_async_paging_guard_on_stuck_cursor(caplog):
    api = FakeBatchAPI(4)
    stuck = {"object": "list", "data": api.batches[:2], "has_more": True}
    api.faults = [lambda r: httpx.Response(200, json=stuck)] * 5

    async def main():
        client, _ = make(api)
        return [b.id async for b in client.iter_batches(page_size=2)]

    with caplog.at_level(logging.WARNING, logger="batch_widgets.transport"):
        assert run(main()) == ["batch_0003", "batch_0002"]
    assert "cursor did not advance" in caplog.text and len(api.requests) == 2


def test_async_batch_and_file_round_trip(tmp_path):
    api = FakeBatchAPI()
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"custom_id": "1"}\n')

    async def main():
        client, _ = make(api)
        fo = await client.upload_file(src)
        assert (await client.retrieve_file(fo.id)).filename == "in.jsonl"
        assert await client.file_content(fo.id) == src.read_bytes()
        out = await client.download_file(fo.id, tmp_path / "copy.jsonl")
        assert out.read_bytes() == src.read_bytes()
        assert [f.id for f in (await client.list_files()).data] == [fo.id]
        batch = await client.create_batch(fo.id, "/v1/chat/completions", metadata={"description": "a"})
        assert batch.status is BatchStatus.VALIDATING and batch.input_file_id == fo.id
        assert (await client.retrieve_batch(batch.id)).id == batch.id
        assert (await client.list_batches(limit=5)).data[0].id == batch.id
        assert (await client.cancel_batch(batch.id)).status is BatchStatus.CANCELLING
        assert (await client.delete_file(fo.id)).deleted
        with pytest.raises(NotFoundError):
            await client.retrieve_file(fo.id)
        await client.close()

    run(main())


def test_async_retries_honour_retry_after_and_never_retry_409():
    api = FakeBatchAPI()
    api.add_batch(status="completed")
    api.faults = [lambda r: httpx.Response(429, headers={"retry-after": "2"})]

    async def main():
        client, sleeps = make(api)
        assert (await client.retrieve_batch("batch_0000")).is_terminal
        assert sleeps == [2.0]
        with pytest.raises(ConflictError):
            await client.cancel_batch("batch_0000")
        api.faults = [lambda r: httpx.Response(429)] * 3
        with pytest.raises(RateLimitError):
            await client.list_batches()
        return sleeps

    sleeps = run(main())
    assert len(sleeps) == 3
    assert [r.method for r in api.requests] == ["GET", "GET", "POST", "GET", "GET", "GET"]


def test_async_timeout_raises_typed_error():
    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    async def main():
        client = AsyncBatchClient(KEY, transport=httpx.MockTransport(slow), max_retries=0)
        await client.retrieve_batch("batch_1")

    with pytest.raises(APITimeoutError):
        run(main())


def test_async_create_that_landed_then_dropped_creates_one_batch():
    api = FakeBatchAPI(2)

    def land_then_drop(request):
        api.add_batch(**json.loads(request.content))
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    api.faults = [land_then_drop]

    async def main():
        client, _ = make(api)
        return await client.create_batch("file-x", "/v1/chat/completions")

    batch = run(main())
    assert len(api.batches) == 3 and api.batches[0]["id"] == batch.id
    assert [r.method for r in api.requests] == ["POST", "GET"]


def test_async_download_error_leaves_no_file(tmp_path):
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b"part"
            raise httpx.ReadError("reset")

    async def main():
        client = AsyncBatchClient(
            KEY, max_retries=0, transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Broken()))
        )
        await client.download_file("file-1", tmp_path / "out.jsonl")

    with pytest.raises(APIConnectionError):
        run(main())
    assert list(tmp_path.iterdir()) == []
