"""Hostile input to the local server: oversized uploads are refused before the disk fills, ids cannot reach
outside the data dir, the wrong purpose is refused, the server binds loopback only and, with a key set,
refuses every request without it."""

from __future__ import annotations

import http.client
import inspect
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from faults import ENDPOINT, SECRET, request_lines

from batch_widgets import errors

LIMIT = 1024 * 1024  # a 1 MiB upload limit for the test server
AUTH = {"Authorization": f"Bearer {SECRET}"}
SENTINEL = b"TOP-SECRET-SENTINEL-outside-the-data-dir"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    from batch_widgets.server.local import LocalBatchServer

    root = tmp_path_factory.mktemp("hostile")
    (root / "sentinel.txt").write_bytes(SENTINEL)  # beside the data dir: must stay unreachable
    with LocalBatchServer(root / "data", api_key=SECRET, max_upload_bytes=LIMIT) as srv:
        yield srv


@pytest.fixture
def client(small_server):
    from batch_widgets.client import BatchClient

    with BatchClient(api_key=SECRET, base_url=small_server.base_url, max_retries=0) as c:
        yield c


def _files_dir(server) -> Path:
    return server.data_dir / "files"


def _dir_state(server) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in _files_dir(server).iterdir()}


def _raw(server, method: str, path: str, headers=None, body=None) -> tuple[int, bytes]:
    """Send ``path`` exactly as written (no client-side normalisation of dots or escapes)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={**AUTH, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- oversized uploads ---------------------------------------------------------------------------------------
def test_upload_at_the_limit_is_accepted_one_byte_over_is_413(client, small_server):
    line = request_lines(1)
    exact = (line * (LIMIT // len(line) + 1))[:LIMIT]
    assert client.file_content(client.upload_file(exact).id) == exact
    before = _dir_state(small_server)
    with pytest.raises(errors.PayloadTooLargeError) as caught:
        client.upload_file(exact + b"x")
    assert caught.value.status == 413 and "too large" in str(caught.value)
    assert _dir_state(small_server) == before  # nothing kept, not even a partial temp file


def test_streamed_oversized_upload_never_fills_the_disk(small_server):
    """A 40 MiB chunked upload (no Content-Length to refuse up front): the server stops writing at the limit."""
    before = _dir_state(small_server)
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                size = sum(p.stat().st_size for p in _files_dir(small_server).iterdir() if p.name not in before)
            except FileNotFoundError:  # a temp file vanished between listing and stat
                continue
            peak[0] = max(peak[0], size)
            time.sleep(0.002)

    sent = [0]

    def body():
        chunk = b"x" * 65536
        for _ in range(40 * 16):
            sent[0] += len(chunk)
            yield chunk

    boundary = "bwtestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode()

    def multipart():
        yield head
        yield from body()
        yield f"\r\n--{boundary}--\r\n".encode()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with httpx.Client(timeout=30) as http:
            response = http.post(
                f"{small_server.base_url}/files",
                content=multipart(),
                headers={**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"},
            )
        status = response.status_code
    except httpx.TransportError:  # the server may close the connection once it has refused
        status = None
    finally:
        stop.set()
        watcher.join()
    print(f"streamed upload: status={status} sent={sent[0]} peak on disk={peak[0]}")
    assert status in (413, None)
    assert peak[0] <= LIMIT + 65536 * 2, peak[0]  # at most the limit plus a chunk in flight hit the disk
    assert _dir_state(small_server) == before


def test_declared_huge_content_length_is_refused_without_reading(small_server):
    with socket.create_connection((small_server.host, small_server.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/files HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {SECRET}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {50 * 1024**3}\r\n\r\n"
            ).encode()
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


# -- paths ---------------------------------------------------------------------------------------------------
TRAVERSALS = [
    "../../sentinel.txt",
    "..%2F..%2Fsentinel.txt",
    "%2e%2e%2f%2e%2e%2fsentinel.txt",
    "%2e%2e",
    "..",
    "..%2fbatches.sqlite3",
    "file-abc%2F..%2F..%2Fsentinel.txt",
    "file-abc/../../sentinel.txt",
    "..%5C..%5Csentinel.txt",
    "%252e%252e%252fsentinel.txt",
    "file-%00",
    "file-" + "a" * 65,
    "%2Fetc%2Fpasswd",
    "....//....//sentinel.txt",
    "batches.sqlite3",
    "runner.lock",
    "files",
]


@pytest.mark.parametrize("file_id", TRAVERSALS)
def test_file_ids_cannot_leave_the_data_dir(small_server, file_id):
    db = small_server.data_dir / "batches.sqlite3"
    for method, path in (
        ("GET", f"/v1/files/{file_id}"),
        ("GET", f"/v1/files/{file_id}/content"),
        ("DELETE", f"/v1/files/{file_id}"),
        ("GET", f"/v1/batches/{file_id}"),
        ("POST", f"/v1/batches/{file_id}/cancel"),
    ):
        status, body = _raw(small_server, method, path)
        assert 400 <= status < 500, (method, path, status, body[:200])
        assert SENTINEL not in body and b"SQLite format" not in body and b"root:" not in body
    assert (small_server.data_dir.parent / "sentinel.txt").read_bytes() == SENTINEL
    assert db.exists() and db.read_bytes().startswith(b"SQLite format 3")


@pytest.mark.parametrize("file_id", ["../batches.sqlite3", "../../sentinel.txt", "/etc/passwd", "file-x/../y"])
def test_batch_input_file_id_cannot_leave_the_data_dir(client, file_id):
    with pytest.raises(errors.NotFoundError):
        client.create_batch(file_id, ENDPOINT)


def test_storage_refuses_ids_that_are_not_ids(small_server):
    from batch_widgets.server.storage import Storage

    storage = small_server.app.state.storage
    assert isinstance(storage, Storage)
    for bad in ["../x", "file-../../x", "file-a/b", "file-", "", "file-\x00", "x" * 10]:
        with pytest.raises(ValueError):
            storage.file_path(bad)


@pytest.mark.parametrize("filename", ["../../evil.jsonl", "..\\..\\evil.jsonl", "/tmp/evil.jsonl", "a/../../b.jsonl"])
def test_upload_filename_cannot_place_a_file(client, small_server, filename):
    root = small_server.data_dir.parent
    before = sorted(p.relative_to(root) for p in root.rglob("*") if "files" not in p.parts)
    stored = client.upload_file(request_lines(2), filename=filename)
    assert "/" not in stored.filename and "\\" not in stored.filename and ".." != stored.filename
    after = sorted(p.relative_to(root) for p in root.rglob("*") if "files" not in p.parts)
    assert set(after) - set(before) <= {Path("data/batches.sqlite3-wal"), Path("data/batches.sqlite3-shm")}
    assert not Path("/tmp/evil.jsonl").exists() or Path("/tmp/evil.jsonl").read_bytes() != request_lines(2)


# -- purpose -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", ["fine-tune", "assistants", "batch_output", "BATCH", "batch ", "", "vision"])
def test_wrong_purpose_is_refused(client, small_server, purpose):
    before = _dir_state(small_server)
    with pytest.raises(errors.BadRequestError) as caught:
        client.upload_file(request_lines(2), purpose=purpose)
    assert caught.value.param == "purpose"
    assert _dir_state(small_server) == before


def test_missing_purpose_is_refused(small_server):
    response = httpx.post(f"{small_server.base_url}/files", headers=AUTH, files={"file": ("x.jsonl", request_lines(1))})
    assert response.status_code == 400 and response.json()["error"]["param"] == "purpose"


def test_batch_from_an_output_file_is_refused(client):
    """An output file (purpose batch_output) cannot be the input of a new batch."""
    batch = client.create_batch(client.upload_file(request_lines(3)).id, ENDPOINT)
    deadline = time.monotonic() + 20
    while not batch.is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = client.retrieve_batch(batch.id)
    assert batch.output_file_id
    assert client.retrieve_file(batch.output_file_id).purpose == "batch_output"
    with pytest.raises(errors.BadRequestError, match="purpose"):
        client.create_batch(batch.output_file_id, ENDPOINT)


# -- binding and keys ----------------------------------------------------------------------------------------
def _outward_ip() -> str | None:
    """This machine's address on its default route (no packet is sent), or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            ip = sock.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_binds_loopback_by_default(tmp_path):
    from batch_widgets.server import cli
    from batch_widgets.server.local import LocalBatchServer

    assert inspect.signature(LocalBatchServer).parameters["host"].default == "127.0.0.1"
    assert cli.build_parser().parse_args(["serve"]).host == "127.0.0.1"
    with LocalBatchServer(tmp_path) as srv:
        assert srv.host == "127.0.0.1" and srv.base_url.startswith("http://127.0.0.1:")
        assert srv._sock.getsockname()[0] == "127.0.0.1"
        ip = _outward_ip()
        if ip is not None:  # reachable on loopback only: another interface refuses the connection
            with pytest.raises(OSError):
                socket.create_connection((ip, srv.port), timeout=2).close()


ROUTES = [
    ("GET", "/v1/batches"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches/batch_abc"),
    ("POST", "/v1/batches/batch_abc/cancel"),
    ("GET", "/v1/files"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files/file-abc"),
    ("GET", "/v1/files/file-abc/content"),
    ("DELETE", "/v1/files/file-abc"),
    ("GET", "/v1/unknown"),
    ("GET", "/"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("OPTIONS", "/v1/files"),
]
BAD_AUTH = [
    None,
    "",
    f"Bearer {SECRET}x",
    f"Bearer {SECRET[:-1]}",
    f"bearer{SECRET}",
    SECRET,
    f"Basic {SECRET}",
    "Bearer ",
    f"Bearer  {SECRET}",
    f"Bearer {SECRET.upper()}",
]


@pytest.mark.parametrize("auth", BAD_AUTH, ids=lambda a: "none" if a is None else f"len{len(a)}")
def test_with_a_key_every_request_without_it_is_401(small_server, auth):
    for method, path in ROUTES:
        headers = {} if auth is None else {"Authorization": auth}
        conn = http.client.HTTPConnection(small_server.host, small_server.port, timeout=10)
        try:
            conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 401, (method, path, response.status)
        assert SECRET.encode() not in body and SECRET[4:20].encode() not in body


def test_the_right_key_works(small_server):
    assert httpx.get(f"{small_server.base_url}/batches", headers=AUTH).status_code == 200
