"""BatchClient methods against an in-memory API over httpx.MockTransport: paging, files, errors, providers."""

from __future__ import annotations

import gzip
import io
import json
import logging
from datetime import datetime, timezone

import httpx
import pytest
from fake_batch_api import FakeBatchAPI

from batch_widgets import facts
from batch_widgets.client import BatchClient
from batch_widgets.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from batch_widgets.models import BatchStatus

KEY = "sk-test-secret-0123456789"


def unix(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp())


def client_for(api: FakeBatchAPI, **kw) -> BatchClient:
    kw.setdefault("sleep", lambda s: None)
    return BatchClient(KEY, transport=api.transport(), **kw)


# -- batches -------------------------------------------------------------------------------------------------
def test_list_batches_one_page_with_limit_and_after():
    api = FakeBatchAPI(30)
    with client_for(api) as client:
        page = client.list_batches(limit=10)
        assert [b.id for b in page.data] == [f"batch_{i:04d}" for i in range(29, 19, -1)]
        assert page.has_more is True and page.last_id == "batch_0020"
        nxt = client.list_batches(limit=10, after=page.last_id)
        assert nxt.data[0].id == "batch_0019"
    assert [dict(r.url.params) for r in api.requests] == [{"limit": "10"}, {"limit": "10", "after": "batch_0020"}]


def test_iter_batches_pages_250_with_limit_100_in_exactly_3_requests():
    api = FakeBatchAPI(250)
    batches = list(client_for(api).iter_batches(page_size=100))
    assert len(batches) == 250 and len({b.id for b in batches}) == 250
    assert len(api.requests) == 3
    assert [r.url.params.get("after") for r in api.requests] == [None, "batch_0150", "batch_0050"]


def test_iter_batches_stops_on_empty_page_that_says_has_more(caplog):
    api = FakeBatchAPI(5)
    api.faults = [
        lambda r: None,  # the first page is real
        lambda r: httpx.Response(200, json={"object": "list", "data": [], "has_more": True}),
    ]
    with caplog.at_level(logging.WARNING, logger="batch_widgets.transport"):
        ids = [b.id for b in client_for(api).iter_batches(page_size=2)]
    assert ids == ["batch_0004", "batch_0003"]
    assert len(api.requests) == 2
    assert "empty page said has_more" in caplog.text


def test_iter_batches_stops_when_cursor_does_not_advance(caplog):
    api = FakeBatchAPI(6)
    same_page = {"object": "list", "data": api.batches[:3], "has_more": True}
    api.faults = [lambda r: httpx.Response(200, json=same_page)] * 10  # the server ignores `after`
    with caplog.at_level(logging.WARNING, logger="batch_widgets.transport"):
        ids = [b.id for b in client_for(api).iter_batches(page_size=3)]
    assert ids == ["batch_0005", "batch_0004", "batch_0003"]
    assert len(api.requests) == 2
    assert "cursor did not advance" in caplog.text


def test_iter_batches_stops_after_max_pages(caplog):
    counter = iter(range(10**6))

    def endless(request):  # every page is new and says has_more: runaway paging
        data = [FakeBatchAPI().add_batch(id=f"batch_{next(counter)}") for _ in range(2)]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": True})

    client = BatchClient(KEY, transport=httpx.MockTransport(endless))
    with caplog.at_level(logging.WARNING, logger="batch_widgets.transport"):
        batches = list(client.iter_batches(page_size=2, max_pages=7))
    assert len(batches) == 14
    assert "max_pages=7" in caplog.text


def test_retrieve_create_cancel():
    api = FakeBatchAPI(1)
    client = client_for(api)
    assert client.retrieve_batch("batch_0000").status is BatchStatus.VALIDATING
    created = client.create_batch(
        "file-abc", "/v1/embeddings", metadata={"description": "nightly"}, output_expires_after=7200
    )
    body = json.loads(api.requests[-1].content)
    assert body["input_file_id"] == "file-abc" and body["endpoint"] == "/v1/embeddings"
    assert body["completion_window"] == "24h"
    assert body["output_expires_after"] == {"anchor": "created_at", "seconds": 7200}
    assert body["metadata"]["description"] == "nightly" and len(body["metadata"][facts.REQUEST_TAG_KEY]) == 32
    assert created.input_file_id == "file-abc" and created.description == "nightly"
    assert client.cancel_batch(created.id).status is BatchStatus.CANCELLING
    assert api.requests[-1].method == "POST" and api.requests[-1].url.path.endswith("/cancel")


def test_create_replaces_a_copied_tag_and_skips_tag_when_metadata_is_full():
    api = FakeBatchAPI()
    client = client_for(api)
    client.create_batch("file-1", "/v1/chat/completions", metadata={facts.REQUEST_TAG_KEY: "old"})
    assert json.loads(api.requests[-1].content)["metadata"][facts.REQUEST_TAG_KEY] != "old"
    full = {f"k{i}": "v" for i in range(facts.METADATA_MAX_KEYS)}
    client.create_batch("file-1", "/v1/chat/completions", metadata=full)
    assert json.loads(api.requests[-1].content)["metadata"] == full


def test_bad_arguments_fail_before_any_request():
    api = FakeBatchAPI()
    client = client_for(api)
    with pytest.raises(ValueError, match="batch_id"):
        client.retrieve_batch("")
    with pytest.raises(ValueError, match="limit"):
        client.list_batches(limit=500)
    with pytest.raises(ValueError, match="order"):
        client.list_files(order="newest")
    assert api.requests == []


def test_ids_are_escaped_in_paths():
    api = FakeBatchAPI()
    with pytest.raises(NotFoundError):
        client_for(api).retrieve_batch("../files")
    assert api.requests[0].url.raw_path == b"/v1/batches/..%2Ffiles"


# -- files ---------------------------------------------------------------------------------------------------
def test_upload_from_path_bytes_and_file_object(tmp_path):
    api = FakeBatchAPI()
    client = client_for(api)
    src = tmp_path / "input.jsonl"
    src.write_bytes(b'{"custom_id": "a"}\n')
    fo = client.upload_file(src)
    assert (fo.filename, fo.purpose, fo.bytes) == ("input.jsonl", "batch", 19)
    assert api.contents[fo.id] == src.read_bytes()
    assert client.upload_file(b"xyz", filename="b.jsonl").filename == "b.jsonl"
    with src.open("rb") as fh:
        assert client.upload_file(fh, purpose="user_data").purpose == "user_data"
    assert client.upload_file(io.BytesIO(b"raw")).filename == "batch_input.jsonl"
    assert api.requests[0].headers["content-type"].startswith("multipart/form-data")
    with pytest.raises(TypeError, match="binary"), src.open("r") as text:
        client.upload_file(text)


def test_upload_streams_file_in_chunks(tmp_path):
    """The request body is a stream over the open file, not one bytes object built in memory."""
    src = tmp_path / "big.jsonl"
    src.write_bytes(b"x" * (3 * 1024 * 1024))
    chunks = []

    class ChunkCounting(httpx.BaseTransport):  # unlike MockTransport, does not read the body up front
        def handle_request(self, request):
            chunks.extend(len(c) for c in request.stream)
            return httpx.Response(200, json={"id": "file-1", "created_at": 1, "filename": "big.jsonl"})

    BatchClient(KEY, transport=ChunkCounting()).upload_file(src)
    assert sum(chunks) > 3 * 1024 * 1024 and max(chunks) <= 1024 * 1024


def test_retrieve_content_download_delete_list_files(tmp_path):
    api = FakeBatchAPI()
    client = client_for(api)
    fo = client.upload_file(b'{"a": 1}\n{"a": 2}\n', filename="out.jsonl")
    assert client.retrieve_file(fo.id).filename == "out.jsonl"
    assert client.file_content(fo.id) == b'{"a": 1}\n{"a": 2}\n'
    target = client.download_file(fo.id, tmp_path / "sub" / "result.jsonl")
    assert target.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert client.download_file(fo.id, tmp_path) == tmp_path / f"{fo.id}.jsonl"
    page = client.list_files(purpose="batch", limit=50)
    assert [f.id for f in page.data] == [fo.id]
    assert dict(api.requests[-1].url.params) == {"purpose": "batch", "limit": "50", "order": "desc"}
    assert client.delete_file(fo.id).deleted is True
    with pytest.raises(NotFoundError):
        client.retrieve_file(fo.id)


def test_download_failure_leaves_no_partial_file(tmp_path):
    def handler(request):
        def body():
            yield b"first part\n"
            raise httpx.ReadError("connection reset mid-body")

        return httpx.Response(200, stream=_Stream(body()))

    client = BatchClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(APIConnectionError):
        client.download_file("file-1", tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_download_retry_restarts_cleanly(tmp_path):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:

            def broken():
                yield b"partial"
                raise httpx.RemoteProtocolError("peer closed connection")

            return httpx.Response(200, stream=_Stream(broken()))
        return httpx.Response(200, content=b"whole file\n")

    client = BatchClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == b"whole file\n" and len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


CONTENT = b"".join(b'{"custom_id": "r%d"}\n' % i for i in range(2000))


def flaky_file_server(honour_range: bool, drops: int = 1, headers: dict | None = None):
    """Serves CONTENT; the first ``drops`` answers break off after 10,000 bytes. Records Range headers."""
    ranges = []

    def handler(request):
        ranges.append(request.headers.get("range"))
        start, status, extra = 0, 200, dict(headers or {})
        if honour_range and request.headers.get("range"):
            start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
            status = 206
            extra["content-range"] = f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"
        body = CONTENT[start:]
        if len(ranges) <= drops:

            def broken():
                yield body[:10_000]
                raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

            return httpx.Response(status, headers=extra, stream=_Stream(broken()))
        return httpx.Response(status, headers=extra, content=body)

    return handler, ranges


def test_download_resumes_with_range_after_a_drop(tmp_path):
    handler, ranges = flaky_file_server(honour_range=True, drops=2)
    client = BatchClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert ranges == [None, "bytes=10000-", "bytes=20000-"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_download_restarts_when_server_ignores_range(tmp_path):
    handler, ranges = flaky_file_server(honour_range=False)
    client = BatchClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert client.download_file("file-1", tmp_path / "out.jsonl").read_bytes() == CONTENT
    assert ranges == [None, "bytes=10000-"]  # asked for the rest, got the whole file: written from the start


def test_download_of_gzip_content_is_restarted_not_resumed(tmp_path):
    """Byte offsets into a gzip stream are not offsets into the file: such a download starts again."""
    requests = []

    def handler(request):
        requests.append(request.headers.get("range"))
        packed = gzip.compress(CONTENT)
        if len(requests) == 1:

            def broken():
                yield packed[:2000]
                raise httpx.ReadError("connection reset")

            return httpx.Response(200, headers={"content-encoding": "gzip"}, stream=_Stream(broken()))
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=packed)

    client = BatchClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert client.download_file("file-1", tmp_path / "out.jsonl").read_bytes() == CONTENT
    assert requests == [None, None]


class _Stream(httpx.SyncByteStream):
    def __init__(self, gen):
        self.gen = gen

    def __iter__(self):
        yield from self.gen


# -- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, APIError),
    ],
)
def test_status_maps_to_error_class(status, cls):
    body = {"error": {"message": "nope", "type": "invalid_request_error", "param": "limit", "code": "bad_thing"}}

    def handler(request):
        return httpx.Response(status, json=body, headers={"x-request-id": "req_123", "x-should-retry": "false"})

    with pytest.raises(cls) as info:
        BatchClient(KEY, transport=httpx.MockTransport(handler)).list_batches()
    err = info.value
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.type, err.param, err.request_id) == (
        status,
        "bad_thing",
        "nope",
        "invalid_request_error",
        "limit",
        "req_123",
    )
    assert str(err).startswith(f"HTTP {status}: bad_thing: nope (request id req_123)")
    assert (err.hint is not None) == (status in (401, 403, 404))  # a fix is named when the cause is ours
    assert err.fatal == (status in (401, 403, 404))  # 404 on the list route itself: no Batch API there


@pytest.mark.parametrize(
    ("base_url", "path", "hint"),
    [
        ("http://gw.test", "/batches", "http://gw.test has no /batches route: the base URL should end in /v1"),
        ("http://gw.test/api/", "/files", "http://gw.test/api has no /files route: the base URL should end in /v1"),
        ("http://gw.test/v1", "/batches", "http://gw.test/v1 has no /batches route: does this provider offer"),
        ("http://gw.test", "/batches/batch_1", None),
    ],  # a missing batch is not a wrong URL
)
def test_a_404_on_a_batch_api_route_hints_at_the_base_url(base_url, path, hint):
    def handler(request):
        return httpx.Response(404, json={"detail": f"Unknown request URL: GET {request.url.path}."})

    client = BatchClient(KEY, base_url=base_url, transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(NotFoundError) as info:
        client.retrieve_batch("batch_1") if path.startswith("/batches/") else (
            client.list_batches() if path == "/batches" else client.list_files()
        )
    err = info.value
    if hint is None:
        assert err.hint is None and not err.fatal
    else:
        assert err.hint.startswith(hint) and err.fatal
        assert str(err).startswith("HTTP 404: Unknown request URL: GET ") and f"Hint: {hint}" in str(err)


def test_a_refused_key_names_where_the_key_comes_from():
    def handler(request):
        error = {"message": "Incorrect API key provided.", "code": "invalid_api_key"}
        return httpx.Response(401, json={"error": error})

    with pytest.raises(AuthenticationError) as info:
        BatchClient("sk-wrong", transport=httpx.MockTransport(handler), max_retries=0).list_batches()
    assert str(info.value) == (
        "HTTP 401: invalid_api_key: Incorrect API key provided. Hint: check api_key= or "
        "OPENAI_API_KEY (as the kernel sees it)"
    )
    assert info.value.fatal


@pytest.mark.parametrize(
    ("kwargs", "message", "param"),
    [
        ({"json": {"detail": "Batch not found"}}, "Batch not found", None),
        (
            {"json": {"detail": [{"loc": ["body", "endpoint"], "msg": "field required", "type": "missing"}]}},
            "body.endpoint: field required",
            "body.endpoint",
        ),
        (
            {"json": {"detail": [{"loc": ["query", "limit"], "msg": "too big"}, {"loc": ["body"], "msg": "bad"}]}},
            "query.limit: too big; body: bad",
            None,
        ),
        ({"json": {"detail": {"error": {"message": "wrapped", "code": "x"}}}}, "wrapped", None),
        ({"json": {"message": "gateway says no"}}, "gateway says no", None),
        ({"text": "upstream exploded"}, "upstream exploded", None),
        ({"content": b""}, "Unprocessable Entity", None),
    ],
)
def test_error_body_shapes(kwargs, message, param):
    def handler(request):
        return httpx.Response(422, **kwargs)

    with pytest.raises(UnprocessableEntityError) as info:
        BatchClient(KEY, transport=httpx.MockTransport(handler)).retrieve_batch("batch_1")
    assert info.value.message == message and info.value.param == param and info.value.status == 422


def test_unparseable_success_body_is_a_clear_error():
    def handler(request):
        return httpx.Response(200, json={"unexpected": True})

    with pytest.raises(APIError, match="not a valid Batch"):
        BatchClient(KEY, transport=httpx.MockTransport(handler)).retrieve_batch("batch_1")


def test_cancel_finished_batch_raises_conflict_once():
    api = FakeBatchAPI()
    api.add_batch(status="completed")
    with pytest.raises(ConflictError, match="Cannot cancel"):
        client_for(api).cancel_batch("batch_0000")
    assert len(api.requests) == 1


# -- provider deviations -------------------------------------------------------------------------------------
AZURE_BATCH = {
    "id": "batch_6a2f8b1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "object": "batch",
    "endpoint": None,
    "errors": None,
    "input_file_id": "file-9f3a",
    "completion_window": "24h",
    "status": "Completed",
    "output_file_id": "file-out",
    "error_file_id": "",
    "created_at": 1733350000,
    "in_progress_at": None,
    "expires_at": 1733436400,
    "finalizing_at": 1733351000,
    "completed_at": 1733351200,
    "failed_at": None,
    "expired_at": None,
    "cancelling_at": None,
    "cancelled_at": None,
    "request_counts": {"total": None, "completed": None, "failed": None},
    "metadata": None,
}
TOGETHER_CREATE = {
    "job": {
        "id": "a1b2c3d4-0000-1111-2222-333344445555",
        "user_id": "u1",
        "input_file_id": "file-tg",
        "file_size_bytes": 1024,
        "status": "VALIDATING",
        "job_deadline": "2026-11-30T10:00:00Z",
        "created_at": "2026-11-29T10:00:00Z",
        "endpoint": "/v1/chat/completions",
        "progress": 0,
        "model_id": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    },
    "warning": "batch may take longer than usual",
}
NOVITA_BATCH = {
    "id": "batch_nv1",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "input_file_id": "file-nv",
    "completion_window": "48h",
    "status": "PROGRESS",
    "output_file_id": "",
    "error_file_id": "",
    "created_at": "2026-11-29T08:30:00+08:00",
    "in_progress_at": "2026-11-29T08:31:00+08:00",
    "request_counts": {"total": 10, "completed": 4, "failed": 0},
    "version": 2,
    "created_by": "u-7",
    "remark": "",
    "total": 10,
    "completed": 4,
    "failed": 0,
}


def test_azure_batch_shape_parses_clean():
    b = BatchClient(KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, json=AZURE_BATCH))).retrieve_batch(
        AZURE_BATCH["id"]
    )
    assert b.status is BatchStatus.COMPLETED and b.is_terminal
    assert b.error_file_id is None and b.output_file_id == "file-out" and b.endpoint is None
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (0, 0, 0)


def test_together_create_wrapper_parses_clean():
    b = BatchClient(
        KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, json=TOGETHER_CREATE))
    ).create_batch("file-tg", "/v1/chat/completions")
    assert b.id == "a1b2c3d4-0000-1111-2222-333344445555"
    assert b.status is BatchStatus.VALIDATING and b.created_at == unix(2026, 11, 29, 10, 0)
    assert b.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_novita_list_shape_parses_clean():
    page = {"object": "list", "data": [NOVITA_BATCH], "has_more": None}
    client = BatchClient(KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page)))
    (b,) = list(client.iter_batches())
    assert b.status is BatchStatus.IN_PROGRESS and b.is_active
    assert b.created_at == unix(2026, 11, 29, 0, 30) and b.in_progress_at == unix(2026, 11, 29, 0, 31)
    assert b.output_file_id is None and b.error_file_id is None
    assert b.request_counts.completed == 4 and b.completion_window == "48h"


def test_bare_array_list_shape_parses_as_one_page():
    batches = [dict(NOVITA_BATCH, id="b2", status="COMPLETED"), dict(NOVITA_BATCH, id="b1")]
    client = BatchClient(KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, json=batches)))
    page = client.list_batches()
    assert [b.id for b in page.data] == ["b2", "b1"] and page.has_more is False
    assert [b.status for b in client.iter_batches()] == [BatchStatus.COMPLETED, BatchStatus.IN_PROGRESS]
