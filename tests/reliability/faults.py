"""A fault-injecting httpx transport for the reliability tests.

``FaultTransport`` sits between a ``BatchClient`` and a real server (an ``httpx.HTTPTransport`` to a
``LocalBatchServer`` by default). Faults are queued for requests that match a method and path; each matching
attempt takes one fault, every other request goes through untouched. Every attempt is recorded, so tests can
count retries and see what the server really received.

Faults that happen *after* forwarding (``drop_after_send``, ``drop_mid_body``, ``read_timeout``) are the
ambiguous ones: the server acted, the client cannot know it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import httpx

#: Distinctive enough that finding it anywhere (a repr, a log, a trait) can only mean a leak.
SECRET = "sk-reliability-SECRET-7f3a9c2e51d04b8a"
ENDPOINT = "/v1/chat/completions"


def request_lines(n: int, prefix: str = "req", model: str = "gpt-4o-mini") -> bytes:
    """A valid chat-completions input file of ``n`` requests."""
    return b"".join(
        json.dumps(
            {
                "custom_id": f"{prefix}-{i}",
                "method": "POST",
                "url": ENDPOINT,
                "body": {"model": model, "messages": [{"role": "user", "content": f"say {i}"}]},
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for i in range(n)
    )


def error_body(status: int, message: str, code: Optional[str] = None) -> dict:
    return {
        "error": {
            "message": message,
            "type": "server_error" if status >= 500 else "invalid_request_error",
            "param": None,
            "code": code,
        }
    }


def batch_json(batch_id: str, created_at: int = 1_700_000_000, status: str = "completed") -> dict:
    """A minimal valid batch as a provider would send it (for synthetic list pages)."""
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-x",
        "completion_window": "24h",
        "status": status,
        "created_at": created_at,
        "request_counts": {"total": 1, "completed": 1, "failed": 0},
    }


class _BrokenStream(httpx.SyncByteStream):
    """Yields part of a body, then the connection 'drops'."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        raise httpx.ReadError("connection reset by peer (injected, mid-response)")


def _forward(transport: "FaultTransport", request: httpx.Request) -> httpx.Response:
    response = transport.inner.handle_request(request)
    response.read()
    response.close()
    return response


def _status(status: int, headers: Optional[dict] = None, html: bool = False):
    def fault(_t: "FaultTransport", request: httpx.Request) -> httpx.Response:
        if html:  # what a proxy in front of the API sends
            return httpx.Response(
                status, headers=headers, html=f"<html><body>{status} from the proxy</body></html>", request=request
            )
        return httpx.Response(status, headers=headers, json=error_body(status, f"injected {status}"), request=request)

    return fault


def _connect_error(_t, request):
    raise httpx.ConnectError("connection refused (injected)", request=request)


def _connect_timeout(_t, request):
    raise httpx.ConnectTimeout("timed out connecting (injected)", request=request)


def _drop_after_send(t, request):
    _forward(t, request)  # the server did the work...
    raise httpx.RemoteProtocolError("server disconnected without sending a response (injected)", request=request)


def _read_timeout(t, request):
    _forward(t, request)
    raise httpx.ReadTimeout("timed out reading the response (injected)", request=request)


def _drop_mid_body(t, request):
    response = _forward(t, request)
    body = response.content
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")]
    return httpx.Response(
        response.status_code, headers=headers, stream=_BrokenStream(body[: max(1, len(body) // 2)]), request=request
    )


def _malformed_json(t, request):
    # A 200 whose JSON is cut off, as a misbehaving gateway sends it.
    return httpx.Response(
        200,
        headers={"content-type": "application/json"},
        content=b'{"object": "list", "data": [{"id": "batch_',
        request=request,
    )


def _stuck_cursor(t, request):
    # Every page is the same page, whatever ``after`` says, and claims there is more.
    data = [batch_json("batch_stuck_1", 1_700_000_002), batch_json("batch_stuck_2", 1_700_000_001)]
    return httpx.Response(
        200,
        json={"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": True},
        request=request,
    )


def _empty_page_has_more(t, request):
    return httpx.Response(
        200, json={"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": True}, request=request
    )


#: name -> (what it does, how). Retryable ones are those the SDK rules retry.
FAULTS: dict[str, Callable[["FaultTransport", httpx.Request], httpx.Response]] = {
    "rate_limited": _status(429, {"retry-after": "7"}),
    "rate_limited_ms": _status(429, {"retry-after-ms": "1500"}),
    "rate_limited_date": _status(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # a past date
    "server_error": _status(500),
    "bad_gateway_html": _status(502, html=True),
    "unavailable": _status(503, {"retry-after": "2"}),
    "gateway_timeout": _status(504),
    "request_timeout": _status(408),
    "connect_error": _connect_error,
    "connect_timeout": _connect_timeout,
    "drop_after_send": _drop_after_send,
    "drop_mid_body": _drop_mid_body,
    "read_timeout": _read_timeout,
    "malformed_json": _malformed_json,
    "stuck_cursor": _stuck_cursor,
    "empty_page_has_more": _empty_page_has_more,
}
#: Faults the retry rules retry (every one of them, on an idempotent request).
RETRYABLE = [
    "rate_limited",
    "rate_limited_ms",
    "rate_limited_date",
    "server_error",
    "bad_gateway_html",
    "unavailable",
    "gateway_timeout",
    "request_timeout",
    "connect_error",
    "connect_timeout",
    "drop_after_send",
    "drop_mid_body",
    "read_timeout",
]
#: Faults where the server may have acted although the client saw a failure.
AMBIGUOUS = ["drop_after_send", "drop_mid_body", "read_timeout"]


@dataclass
class Attempt:
    method: str
    path: str
    query: str
    fault: Optional[str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Rule:
    fault: str
    method: Optional[str]
    path: Optional[re.Pattern]
    times: Optional[int]  # None = until cleared

    def matches(self, request: httpx.Request) -> bool:
        if self.method and request.method != self.method:
            return False
        return self.path is None or bool(self.path.search(request.url.path))


class FaultTransport(httpx.BaseTransport):
    """Wraps ``inner`` and injects queued faults into matching requests; thread-safe."""

    def __init__(self, inner: Optional[httpx.BaseTransport] = None) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self.attempts: list[Attempt] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def inject(
        self, fault: str, *, times: Optional[int] = 1, method: Optional[str] = None, path: Optional[str] = None
    ) -> "FaultTransport":
        """Make the next ``times`` matching requests fail with ``fault`` (``times=None``: until ``clear()``).

        ``path`` is a regular expression searched in the URL path. The pseudo-fault ``"pass"`` lets a matching
        request through untouched (to interleave faults with successes in a queue).
        """
        if fault not in FAULTS and fault != "pass":
            raise KeyError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        with self._lock:
            self._rules.append(_Rule(fault, method, re.compile(path) if path else None, times))
        return self

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def calls(self, method: Optional[str] = None, path: Optional[str] = None) -> list[Attempt]:
        """Attempts made so far, optionally only those matching ``method`` and the ``path`` regex."""
        with self._lock:
            return [
                a
                for a in self.attempts
                if (method is None or a.method == method) and (path is None or re.search(path, a.path))
            ]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            fault = None
            for rule in self._rules:
                if rule.matches(request):
                    fault = rule.fault
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    break
            self.attempts.append(Attempt(request.method, request.url.path, request.url.query.decode(), fault))
        if fault is None or fault == "pass":
            return self.inner.handle_request(request)
        return FAULTS[fault](self, request)

    def close(self) -> None:
        self.inner.close()


class FakeClock:
    """Replaces the client's sleep: records each requested wait, never waits."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def json_of(response: httpx.Response) -> object:
    return json.loads(response.content)


class RawFaultServer:
    """A real TCP server on 127.0.0.1 in front of an upstream API, misbehaving on the wire.

    Each connection takes the next behaviour from a queue (``"proxy"`` once the queue is empty):
    ``proxy`` forwards and answers properly; ``hang`` reads the request and never answers (a real timeout);
    ``close_before_reply`` hangs up without acting; ``proxy_then_close`` forwards (the upstream acts) then hangs
    up with no answer; ``proxy_half_body`` forwards and sends the headers and half the body; ``garbage`` answers
    with bytes that are not HTTP. One request per connection (``Connection: close``).
    """

    BEHAVIOURS = ("proxy", "hang", "close_before_reply", "proxy_then_close", "proxy_half_body", "garbage")

    def __init__(self, upstream: str) -> None:
        import socketserver

        self.upstream = upstream.rstrip("/")  # e.g. http://127.0.0.1:1234 (no /v1)
        self.queue: list[str] = []
        self.log: list[tuple[str, str, str]] = []  # (behaviour, method, path) per request
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._http = httpx.Client(timeout=30)
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: str, times: int = 1) -> "RawFaultServer":
        for behaviour in behaviours:
            if behaviour not in self.BEHAVIOURS:
                raise KeyError(behaviour)
        with self._lock:
            self.queue.extend(list(behaviours) * times)
        return self

    def requests(self, method: Optional[str] = None, path: Optional[str] = None) -> list[tuple[str, str, str]]:
        with self._lock:
            return [
                e for e in self.log if (method is None or e[1] == method) and (path is None or re.search(path, e[2]))
            ]

    def _serve(self, sock) -> None:
        head, body = _read_request(sock)
        if head is None:
            return
        request_line, headers = head
        method, target = request_line.split(" ")[:2]
        with self._lock:
            behaviour = self.queue.pop(0) if self.queue else "proxy"
            self.log.append((behaviour, method, target.split("?")[0]))
        if behaviour == "hang":
            self._closing.wait(30)
            return
        if behaviour == "close_before_reply":
            return
        if behaviour == "garbage":
            sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            return
        response = self._http.request(
            method,
            self.upstream + target,
            content=body,
            headers={
                k: v for k, v in headers.items() if k not in ("host", "content-length", "connection", "accept-encoding")
            },
        )
        if behaviour == "proxy_then_close":
            return
        payload = response.content
        lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        lines += [
            f"{k}: {v}"
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")
        ]
        lines += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
        raw = "\r\n".join(lines).encode("latin-1")
        if behaviour == "proxy_half_body":
            sock.sendall(raw + payload[: len(payload) // 2])
            return
        sock.sendall(raw + payload)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


def _read_request(sock) -> tuple:
    """((request line, {lower-case header: value}), body) of one HTTP/1.1 request, or (None, None) at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    raw_head, body = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise NotImplementedError("chunked request bodies")
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (lines[0], headers), body


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every 10 ms until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
