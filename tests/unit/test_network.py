"""The clients' default transport (large socket reads, ``_network``) keeps what the client promises.

Against a real socket server that breaks off or stalls mid-body: a dropped download resumes with ``Range``, a stall
is a typed timeout, sync and async alike. The response's ``network_stream`` extension (httpcore's) shows which
stream carried each answer. A proxy set in the environment is still used.

A download reads its body past what h11 already holds straight from the connection (``read_body``): the
``direct`` fixture records each time it does, and the same drops, stalls and TLS must still hold there.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading

import httpx
import pytest

from batch_widgets import _files
from batch_widgets._network import READ_SIZE, AsyncLargeReadStream, LargeReadStream
from batch_widgets.client import AsyncBatchClient, BatchClient
from batch_widgets.errors import APITimeoutError

CONTENT = bytes(range(256)) * (3 * (1 << 20) // 256)  # 3 MiB: several large reads


class FileServer:
    """Serves CONTENT at any URL, one connection per request, honouring ``Range: bytes=N-``. The first ``drops``
    answers send ``cut`` bytes of the body, then close the connection (or, with ``stall``, go quiet)."""

    def __init__(
        self,
        cut: int,
        drops: int = 1,
        stall: bool = False,
        tls: ssl.SSLContext | None = None,
        keep_alive: bool = False,
    ) -> None:
        self.cut, self.drops, self.stall, self.tls, self.keep_alive = cut, drops, stall, tls, keep_alive
        self.requests: list[tuple[str, str | None]] = []  # (request line, Range header)
        self.connections = 0
        self.release = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                while self._answer(conn) and self.keep_alive:
                    pass

    def _answer(self, conn: socket.socket) -> bool:
        """Answer one request; False when the connection is to end."""
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(65536)
            if not data:
                return False
            head += data
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
        ranged = headers.get("range")
        self.requests.append((lines[0], ranged))
        start = int(ranged.removeprefix("bytes=").rstrip("-")) if ranged else 0
        body = CONTENT[start:]
        status = "206 Partial Content" if ranged else "200 OK"
        extra = f"Content-Range: bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}\r\n" if ranged else ""
        close = "" if self.keep_alive else "Connection: close\r\n"
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}{close}\r\n".encode())
        if len(self.requests) <= self.drops:
            conn.sendall(body[: self.cut])
            if self.stall:
                self.release.wait(10)
            return False  # the connection closes with the body unfinished
        conn.sendall(body)
        return True

    def close(self) -> None:
        self.release.set()
        self.sock.close()


@pytest.fixture
def serve():
    servers: list[FileServer] = []

    def start(*args, **kwargs) -> FileServer:
        servers.append(FileServer(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _streams(hooked: list) -> set[type]:
    return {type(response.extensions.get("network_stream")) for response in hooked}


@pytest.fixture
def direct(monkeypatch):
    """Each body read straight from the connection, as [bytes asked for, bytes read]."""
    calls: list[list[int]] = []
    real, areal = _files.read_body, _files.aread_body

    def counted(write, call):
        def each(piece):
            call[1] += len(piece)
            write(piece)

        return each

    def read_body(response, left, write):
        calls.append([left, 0])
        real(response, left, counted(write, calls[-1]))

    async def aread_body(response, left, write):
        calls.append([left, 0])
        await areal(response, left, counted(write, calls[-1]))

    monkeypatch.setattr(_files, "read_body", read_body)
    monkeypatch.setattr(_files, "aread_body", aread_body)
    return calls


def _complete(direct: list[list[int]]) -> list[bool]:
    return [read == asked for asked, read in direct]


def test_a_dropped_download_resumes_through_the_large_read_stream(serve, direct, tmp_path):
    cut = (1 << 20) + 12_345
    server = serve(cut, drops=2)
    seen: list = []
    client = BatchClient("k", server.url + "/v1", sleep=lambda s: None, event_hooks={"response": [seen.append]})
    with client:
        out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert [r for _, r in server.requests] == [None, f"bytes={cut}-", f"bytes={2 * cut}-"]
    assert _streams(seen) == {LargeReadStream}
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    assert _complete(direct) == [False, False, True]  # the drops happened on the direct reads


@pytest.mark.parametrize("cut", [0, 5, 65_536])
def test_a_drop_early_in_the_body_resumes_with_exact_bytes(serve, direct, tmp_path, cut):
    """Cut inside or right after what h11 buffers with the head: nothing lost, nothing written twice."""
    server = serve(cut)
    with BatchClient("k", server.url + "/v1", sleep=lambda s: None) as client:
        out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert [r for _, r in server.requests] == [None, f"bytes={cut}-" if cut else None]
    assert _complete(direct)[-1]


def test_the_body_past_h11s_buffer_is_read_from_the_connection(serve, direct, monkeypatch, tmp_path):
    """httpcore reads the head (and what came with it, or one more piece); the rest are direct reads."""
    httpcore_reads: list[int] = []
    real = LargeReadStream.read

    def read(self, max_bytes, timeout=None):
        httpcore_reads.append(max_bytes)
        return real(self, max_bytes, timeout)

    monkeypatch.setattr(LargeReadStream, "read", read)
    server = serve(0, drops=0)
    with BatchClient("k", server.url + "/v1") as client:
        out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert len(httpcore_reads) <= 2
    assert len(direct) == 1 and 0 < direct[0][0] < len(CONTENT) and _complete(direct) == [True]


@pytest.mark.parametrize("fast", [True, False])
def test_after_a_direct_read_the_next_request_opens_a_new_connection(serve, direct, monkeypatch, tmp_path, fast):
    """h11 never saw the end of a directly read body, so that connection is closed, not reused; without the
    direct read (the control) a keep-alive connection serves both downloads."""
    if not fast:
        monkeypatch.setattr(_files, "direct_length", lambda response: None)
    server = serve(0, drops=0, keep_alive=True)
    with BatchClient("k", server.url + "/v1", timeout=5, max_retries=0) as client:
        first = client.download_file("file-1", tmp_path / "one.jsonl")
        second = client.download_file("file-2", tmp_path / "two.jsonl")
    assert first.read_bytes() == second.read_bytes() == CONTENT
    assert server.connections == (2 if fast else 1)
    assert _complete(direct) == ([True, True] if fast else [])


def test_a_custom_transport_without_a_network_stream_takes_httpx_s_path(direct, tmp_path):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=CONTENT))
    with BatchClient("k", "http://files.test/v1", transport=transport) as client:
        out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert direct == []


@pytest.mark.parametrize(
    ("status", "headers", "version", "length"),
    [
        (200, {"content-length": "10"}, "HTTP/1.1", 10),
        (206, {"content-length": "10"}, "HTTP/1.1", 10),
        (200, {"content-length": "10", "content-encoding": "identity"}, "HTTP/1.1", 10),
        (200, {"content-length": "10", "content-encoding": "gzip"}, "HTTP/1.1", None),
        (200, {"transfer-encoding": "chunked"}, "HTTP/1.1", None),
        (200, {}, "HTTP/1.1", None),
        (200, {"content-length": "10"}, "HTTP/2", None),
        (404, {"content-length": "10"}, "HTTP/1.1", None),
    ],
)
def test_only_a_plain_answer_of_known_length_is_read_directly(status, headers, version, length):
    from batch_widgets._network import direct_length

    stream = LargeReadStream(Recorder())  # type: ignore[arg-type]
    extensions = {"network_stream": stream, "http_version": version.encode()}
    response = httpx.Response(status, headers=headers, stream=httpx.ByteStream(b""), extensions=extensions)
    assert direct_length(response) == length
    assert direct_length(httpx.Response(status, headers=headers, stream=httpx.ByteStream(b""))) is None


def test_async_a_dropped_download_resumes_through_the_large_read_stream(serve, direct, tmp_path):
    cut = (1 << 20) + 12_345
    server = serve(cut)
    seen: list = []

    async def main():
        async def hook(response):
            seen.append(response)

        hooks = {"response": [hook]}
        async with AsyncBatchClient(
            "k", server.url + "/v1", sleep=lambda s: asyncio.sleep(0), event_hooks=hooks
        ) as client:
            return await client.download_file("file-1", tmp_path / "out.jsonl")

    out = asyncio.run(main())
    assert out.read_bytes() == CONTENT
    assert [r for _, r in server.requests] == [None, f"bytes={cut}-"]
    assert _streams(seen) == {AsyncLargeReadStream}
    assert _complete(direct) == [False, True]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_goes_through_the_large_read_stream(serve, direct, monkeypatch, tmp_path):
    """Providers are reached over TLS: the wrapped stream's start_tls must hand back a working, wrapped stream."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = serve((1 << 20) + 1, tls=context)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx trusts it (trust_env)
    seen: list = []
    hooks = {"response": [seen.append]}
    with BatchClient("k", server.url + "/v1", timeout=10, sleep=lambda s: None, event_hooks=hooks) as client:
        out = client.download_file("file-1", tmp_path / "downloads")
    assert out.read_bytes() == CONTENT
    assert [r for _, r in server.requests] == [None, f"bytes={(1 << 20) + 1}-"]
    assert _streams(seen) == {LargeReadStream}
    assert all(isinstance(r.extensions["network_stream"].get_extra_info("socket"), ssl.SSLSocket) for r in seen)
    assert _complete(direct) == [False, True]


def test_a_stalled_download_is_a_typed_timeout(serve, direct, tmp_path):
    server = serve(100_000, stall=True)
    with BatchClient("k", server.url + "/v1", timeout=0.5, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            client.download_file("file-1", tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []
    assert _complete(direct) == [False]  # it stalled in a direct read


def test_async_a_stalled_download_is_a_typed_timeout(serve, direct, tmp_path):
    server = serve(100_000, stall=True)

    async def main():
        async with AsyncBatchClient("k", server.url + "/v1", timeout=0.5, max_retries=0) as client:
            await client.download_file("file-1", tmp_path / "out.jsonl")

    with pytest.raises(APITimeoutError):
        asyncio.run(main())
    assert list(tmp_path.iterdir()) == []
    assert _complete(direct) == [False]


def test_a_proxy_from_the_environment_is_still_used(serve, monkeypatch, tmp_path):
    proxy = serve(0, drops=0)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    seen: list = []
    hooks = {"response": [seen.append]}
    with BatchClient("k", "http://files.example.invalid/v1", event_hooks=hooks) as client:
        out = client.download_file("file-1", tmp_path / "out.jsonl")
    assert out.read_bytes() == CONTENT
    assert proxy.requests[0][0] == "GET http://files.example.invalid/v1/files/file-1/content HTTP/1.1"
    assert LargeReadStream not in _streams(seen)  # httpx's own proxy transport


class Recorder:
    def __init__(self) -> None:
        self.reads: list[tuple[int, float | None]] = []

    def read(self, max_bytes, timeout=None):
        self.reads.append((max_bytes, timeout))
        return b"x"

    def get_extra_info(self, info):
        return None


def test_reads_ask_for_large_pieces_and_keep_the_timeout():
    inner = Recorder()
    assert LargeReadStream(inner).read(65_536, 2.5) == b"x"  # type: ignore[arg-type]
    assert LargeReadStream(inner).read(4 * READ_SIZE) == b"x"  # type: ignore[arg-type]
    assert inner.reads == [(READ_SIZE, 2.5), (4 * READ_SIZE, None)]
    assert READ_SIZE >= 1 << 20
