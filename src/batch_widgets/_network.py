"""The clients' default httpx transports: the same as httpx's own, except that they read the socket in large pieces.

httpcore asks its network stream for 64 KiB at a time, and each piece then passes through h11 and httpx in Python:
on a loopback download of a results file that costs more than the socket itself. Our default transports give
httpcore a network backend whose streams ask for up to ``READ_SIZE`` bytes per read; a read still returns at once
with whatever has arrived, so small answers are unchanged. Transports passed by the caller are used as given, and
with a proxy set in the environment httpx builds its own transports as before (a given transport would turn off
httpx's environment proxies).

A download goes further (``direct_length``, ``read_body``): once h11 has handed over the body bytes it already
holds, the rest of a plain, known-length answer is read straight from the connection, which h11 would otherwise
copy into and out of its buffer piece by piece. The connection is then closed, never reused.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import urllib.request
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import httpcore
import httpx

#: Bytes asked for per socket read (httpcore asks for 64 KiB).
READ_SIZE = 1 << 20


class LargeReadStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream
        sock = stream.get_extra_info("socket")
        # A plain TCP (or unix) socket can be read into a caller's buffer; TLS goes through the stream.
        plain = type(sock) is socket.socket and stream.get_extra_info("ssl_object") is None
        self.socket: Optional[socket.socket] = sock if plain else None

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self.stream.read(max(max_bytes, READ_SIZE), timeout)

    def read_into(self, buffer: memoryview, timeout: Optional[float] = None) -> int:
        """Like ``read``, into ``buffer``: no new bytes object per piece on a plain socket."""
        if self.socket is None:
            data = self.stream.read(len(buffer), timeout)
            buffer[: len(data)] = data
            return len(data)
        try:
            self.socket.settimeout(timeout)
            return self.socket.recv_into(buffer)
        except socket.timeout as exc:  # the errors httpcore's own read raises
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self.stream.write(buffer, timeout)

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: Optional[str] = None, timeout: Optional[float] = None
    ) -> httpcore.NetworkStream:
        return LargeReadStream(self.stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self.stream.get_extra_info(info)


class AsyncLargeReadStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self.stream = stream

    async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return await self.stream.read(max(max_bytes, READ_SIZE), timeout)

    async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        await self.stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: Optional[str] = None, timeout: Optional[float] = None
    ) -> httpcore.AsyncNetworkStream:
        return AsyncLargeReadStream(await self.stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self.stream.get_extra_info(info)


Timeout = Optional[float]
Options = Optional[Iterable[httpcore.SOCKET_OPTION]]


class LargeReadBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self.backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Timeout = None,
        local_address: Optional[str] = None,
        socket_options: Options = None,
    ) -> httpcore.NetworkStream:
        return LargeReadStream(self.backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: Timeout = None, socket_options: Options = None
    ) -> httpcore.NetworkStream:
        return LargeReadStream(self.backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class AsyncLargeReadBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self.backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Timeout = None,
        local_address: Optional[str] = None,
        socket_options: Options = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return AsyncLargeReadStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: Timeout = None, socket_options: Options = None
    ) -> httpcore.AsyncNetworkStream:
        return AsyncLargeReadStream(await self.backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


def default_transport(
    transport: Union[httpx.BaseTransport, httpx.AsyncBaseTransport, None], is_async: bool
) -> Union[httpx.BaseTransport, httpx.AsyncBaseTransport, None]:
    """``transport`` if given; else ours, or None (httpx's own) when the environment sets a proxy."""
    if transport is not None or urllib.request.getproxies():
        return transport
    ours = httpx.AsyncHTTPTransport() if is_async else httpx.HTTPTransport()  # httpx.Client's defaults
    # httpx takes no network backend (yet): give this transport's pool, ours alone, a wrapped one. Should httpx
    # change its insides, the transport stays httpx's default (tests/unit/test_network.py would tell).
    pool: Any = getattr(ours, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = AsyncLargeReadBackend(backend)
    elif isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = LargeReadBackend(backend)
    return ours


def direct_length(response: httpx.Response) -> Optional[int]:
    """The body's length when the part h11 has not yet read can be taken straight from the connection
    (``read_body``): a 200/206 HTTP/1.1 answer with a Content-Length, neither content-encoded nor chunked, not yet
    read, carried by an httpcore network stream (a MockTransport or other custom transport has none). Else None."""
    headers = response.headers
    stream = response.extensions.get("network_stream")
    if (
        response.status_code not in (200, 206)
        or response.http_version != "HTTP/1.1"
        or "transfer-encoding" in headers
        or headers.get("content-encoding", "identity") != "identity"
        or response.is_stream_consumed
        or not isinstance(stream, (httpcore.NetworkStream, httpcore.AsyncNetworkStream))
    ):
        return None
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's read errors as httpx's, which the client turns into its typed, retried errors."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.ReadTimeout(str(exc)) from exc
    except httpcore.NetworkError as exc:
        raise httpx.ReadError(str(exc)) from exc


def _short(left: int) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"peer closed connection without sending the body's last {left} bytes")


def _read_timeout(response: httpx.Response) -> Optional[float]:
    timeout: Optional[float] = response.request.extensions.get("timeout", {}).get("read")
    return timeout


def read_body(response: httpx.Response, left: int, write: Callable[[memoryview], object]) -> None:
    """Pass the next ``left`` bytes of the body of ``response`` (see ``direct_length``; whatever h11 holds
    already taken through ``iter_raw``) to ``write``, read from its connection into one reused buffer (each
    piece is valid only during its call). A connection that ends early raises httpx.RemoteProtocolError, as h11
    would. Closes the response: h11 is left mid-body, so httpcore drops the connection instead of reusing it."""
    stream = response.extensions["network_stream"]
    timeout = _read_timeout(response)
    view = memoryview(bytearray(READ_SIZE))
    try:
        with _as_httpx_errors():
            while left:
                want = view[: min(left, READ_SIZE)]
                if isinstance(stream, LargeReadStream):
                    n = stream.read_into(want, timeout)
                else:
                    data = stream.read(len(want), timeout)[: len(want)]
                    n = len(data)
                    want[:n] = data
                if not n:
                    raise _short(left)
                write(want[:n])
                left -= n
    finally:
        response.close()


async def aread_body(response: httpx.Response, left: int, write: Callable[[bytes], object]) -> None:
    """``read_body`` for an async connection (its stream hands out a new bytes object per read)."""
    stream = response.extensions["network_stream"]
    timeout = _read_timeout(response)
    try:
        with _as_httpx_errors():
            while left:
                data = (await stream.read(min(left, READ_SIZE), timeout))[:left]
                if not data:
                    raise _short(left)
                write(data)
                left -= len(data)
    finally:
        await response.aclose()
