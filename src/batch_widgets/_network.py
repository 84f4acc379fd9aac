"""The clients' default httpx transports: the same as httpx's own, except that they read the socket in large pieces.

httpcore asks its network stream for 64 KiB at a time, and each piece then passes through h11 and httpx in Python:
on a loopback download of a results file that costs more than the socket itself. Our default transports give
httpcore a network backend whose streams ask for up to ``READ_SIZE`` bytes per read; a read still returns at once
with whatever has arrived, so small answers are unchanged. Transports passed by the caller are used as given, and
with a proxy set in the environment httpx builds its own transports as before (a given transport would turn off
httpx's environment proxies).
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any, Iterable, Optional, Union

import httpcore
import httpx

#: Bytes asked for per socket read (httpcore asks for 64 KiB).
READ_SIZE = 1 << 20


class LargeReadStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self.stream.read(max(max_bytes, READ_SIZE), timeout)

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
