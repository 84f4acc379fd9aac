"""Executors: the simulated one's settings, and the upstream one forwarding to an OpenAI-compatible server."""

import json
import threading
import time
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from server_helpers import make_client, read_lines, serve_app, submit, wait_for

from batch_widgets.server.executor import SimulatedExecutor, UpstreamExecutor, make_executor, usage_of
from batch_widgets.server.local import LocalBatchServer

CHAT = "/v1/chat/completions"


def test_simulated_rate_paces_requests():
    ex = SimulatedExecutor(rate=100)
    start = time.monotonic()
    out = ex.run(CHAT, [(f"r{i}", {"model": "m", "messages": []}) for i in range(20)])
    assert len(out) == 20 and time.monotonic() - start >= 0.18
    assert ex.chunk_size() == 25
    assert SimulatedExecutor().chunk_size() == 1000


def test_simulated_failure_rate_and_error_bodies():
    ex = SimulatedExecutor(failure_rate=0.2)
    out = ex.run(
        CHAT, [(f"r{i}", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}) for i in range(1000)]
    )
    failures = [(s, b) for s, b in out if s != 200]
    assert 150 <= len(failures) <= 250
    assert {s for s, _ in failures} == {429, 500}  # transient: what a retry can get past
    for _, body in failures:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    hello = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert all(s == 200 for s, _ in SimulatedExecutor(failure_rate=0).run(CHAT, [("a", hello)]))
    with pytest.raises(ValueError):
        SimulatedExecutor(failure_rate=2)


def test_simulated_close_interrupts_a_slow_chunk():
    ex = SimulatedExecutor(rate=2)
    threading.Timer(0.2, ex.close).start()
    start = time.monotonic()
    out = ex.run(CHAT, [(f"r{i}", {"model": "m"}) for i in range(10)])
    assert len(out) < 10 and time.monotonic() - start < 2


def test_usage_of_each_shape():
    assert usage_of(
        {
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": 7,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 2},
                "completion_tokens_details": {"reasoning_tokens": 3},
            }
        }
    ) == (5, 2, 7, 3)
    assert usage_of(
        {
            "usage": {
                "input_tokens": 4,
                "output_tokens": 6,
                "input_tokens_details": {"cached_tokens": 1},
                "output_tokens_details": {"reasoning_tokens": 2},
            }
        }
    ) == (4, 1, 6, 2)
    assert usage_of({"usage": {"prompt_tokens": 9, "total_tokens": 9}}) == (9, 0, 0, 0)
    assert usage_of({"results": []}) == usage_of(None) == (0, 0, 0, 0)


def test_upstream_forwards_path_body_and_key_and_retries():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = json.loads(request.content)
        if body["n"] == 1 and sum(1 for c in calls if json.loads(c.content)["n"] == 1) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}}, headers={"retry-after": "0"})
        if body["n"] == 2:
            return httpx.Response(400, json={"error": {"message": "bad", "type": "invalid_request_error"}})
        return httpx.Response(200, json={"ok": body["n"]})

    ex = UpstreamExecutor(
        "http://upstream.test/v1", api_key="up-key", concurrency=3, backoff=0, transport=httpx.MockTransport(handler)
    )
    try:
        out = ex.run(CHAT, [(f"r{i}", {"model": "m", "n": i}) for i in range(4)])
    finally:
        ex.close()
    assert out[0] == (200, {"ok": 0}) and out[1] == (200, {"ok": 1}) and out[3] == (200, {"ok": 3})
    assert out[2][0] == 400  # 4xx are answers, not retried
    assert len(calls) == 5
    assert {str(c.url) for c in calls} == {"http://upstream.test/v1/chat/completions"}
    assert all(c.headers["authorization"] == "Bearer up-key" for c in calls)


def test_upstream_gives_up_after_retries():
    ex = UpstreamExecutor(
        "http://upstream.test/v1",
        max_retries=2,
        backoff=0,
        transport=httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ConnectError("x"))),
    )
    try:
        ((status, body),) = ex.run(CHAT, [("r", {"model": "m"})])
    finally:
        ex.close()
    assert status == 502 and body["error"]["code"] == "upstream_error"
    with pytest.raises(ValueError):
        make_executor("upstream")
    with pytest.raises(ValueError):
        make_executor("magic")


def test_upstream_batch_end_to_end(tmp_path):
    """A Batch API in front of a model server that has none: every request is forwarded exactly once."""
    seen = Counter()
    lock = threading.Lock()
    upstream = FastAPI()
    simulated = SimulatedExecutor()

    @upstream.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        if request.headers.get("authorization") != "Bearer upstream-secret":
            return JSONResponse({"error": {"message": "no key"}}, status_code=401)
        with lock:
            seen[body["messages"][0]["content"]] += 1
        return simulated.answer(CHAT, body["messages"][0]["content"], body)[1]

    with (
        serve_app(upstream) as up,
        LocalBatchServer(
            tmp_path,
            executor="upstream",
            upstream_url=up.url + "/v1",
            upstream_api_key="upstream-secret",
            concurrency=4,
            poll_interval=0.1,
        ) as server,
        make_client(server) as client,
    ):
        done = wait_for(client, submit(client, 25).id)
        assert done.status == "completed" and done.request_counts.completed == 25
        output = read_lines(client, done.output_file_id)
        assert len(output) == 25 and all(x["response"]["body"]["object"] == "chat.completion" for x in output)
        assert seen == Counter({f"hello {i}": 1 for i in range(25)})
        assert done.usage.total_tokens > 0


class _RecordingStop:
    """Stands in for the executor's stop event: records each wait instead of sleeping."""

    def __init__(self):
        self.waits = []

    def is_set(self):
        return False

    def wait(self, seconds):
        self.waits.append(seconds)
        return False

    def set(self):
        pass


def test_upstream_retries_follow_the_one_retry_policy():
    from email.utils import formatdate

    answers = {
        "ms": [httpx.Response(429, headers={"retry-after-ms": "1500"}), httpx.Response(200, json={})],
        "date": [
            httpx.Response(503, headers={"retry-after": formatdate(time.time() + 30, usegmt=True)}),
            httpx.Response(200, json={}),
        ],
        "no": [httpx.Response(500, headers={"x-should-retry": "false"}, json={"error": {"message": "x"}})],
        "yes": [httpx.Response(400, headers={"x-should-retry": "true"}), httpx.Response(200, json={})],
        "conflict": [httpx.Response(409, json={"error": {"message": "x"}})],
    }

    def handler(request):
        return answers[json.loads(request.content)["case"]].pop(0)

    ex = UpstreamExecutor("http://upstream.test/v1", concurrency=1, transport=httpx.MockTransport(handler))
    ex._stop = stop = _RecordingStop()
    try:
        out = ex.run(CHAT, [(c, {"case": c}) for c in ("ms", "date", "no", "yes", "conflict")])
    finally:
        ex.close()
    assert [status for status, _ in out] == [200, 200, 500, 200, 409]
    assert stop.waits[0] == 1.5  # retry-after-ms
    assert 28 <= stop.waits[1] <= 30  # an HTTP-date Retry-After
    assert 0.375 <= stop.waits[2] <= 0.5 and len(stop.waits) == 3  # x-should-retry: true -> jittered backoff
