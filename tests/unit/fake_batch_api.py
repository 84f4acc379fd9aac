"""An in-memory OpenAI-shaped /v1/batches + /v1/files API for httpx.MockTransport client tests.

``faults`` is a queue of callables run before handling a request: each gets the request and may return a
response (sent instead), raise an httpx error, or return None to let the request through.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional

import httpx

from batch_widgets import facts

Fault = Callable[[httpx.Request], Optional[httpx.Response]]


class FakeBatchAPI:
    def __init__(self, n_batches: int = 0, *, prefix: str = "/v1") -> None:
        self.prefix = prefix
        self.batches: list[dict[str, Any]] = []  # newest first
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        for i in range(n_batches):
            self.add_batch(created_at=1_700_000_000 + i)

    # -- state -------------------------------------------------------------------------------------------
    def add_batch(self, **fields: Any) -> dict[str, Any]:
        batch = {
            "id": f"batch_{len(self.batches):04d}",
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": "file-in",
            "completion_window": "24h",
            "status": "validating",
            "created_at": 1_700_000_000,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": None,
            **fields,
        }
        self.batches.insert(0, batch)
        return batch

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)  # MockTransport serves both sync and async clients

    # -- routing -----------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            response = self.faults.pop(0)(request)
            if response is not None:
                return response
        path = request.url.path
        assert path.startswith(self.prefix), path
        path = path[len(self.prefix) :]
        method = request.method
        if method == "GET" and path == "/batches":
            return self._list(request)
        if method == "POST" and path == "/batches":
            body = json.loads(request.content)
            batch = self.add_batch(**body)
            return httpx.Response(200, json=batch)
        if m := re.fullmatch(r"/batches/([^/]+)(/cancel)?", path):
            batch = next((b for b in self.batches if b["id"] == m.group(1)), None)
            if batch is None:
                return _error(404, f"No batch found with id '{m.group(1)}'.")
            if m.group(2):
                if batch["status"] in facts.TERMINAL_STATUSES:
                    return _error(409, f"Cannot cancel a batch with status '{batch['status']}'.")
                batch["status"] = "cancelling"
            return httpx.Response(200, json=batch)
        if method == "POST" and path == "/files":
            return self._upload(request)
        if method == "GET" and path == "/files":
            data = list(self.files.values())
            return httpx.Response(200, json={"object": "list", "data": data, "has_more": False})
        if m := re.fullmatch(r"/files/([^/]+)(/content)?", path):
            file_id = m.group(1)
            if file_id not in self.files:
                return _error(404, f"No such File object: {file_id}")
            if m.group(2):
                return httpx.Response(200, content=self.contents[file_id])
            if method == "DELETE":
                del self.files[file_id]
                return httpx.Response(200, json={"id": file_id, "object": "file", "deleted": True})
            return httpx.Response(200, json=self.files[file_id])
        return _error(404, f"no route {method} {path}")

    def _list(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", 20))
        after = request.url.params.get("after")
        start = 0
        if after:
            start = next(i for i, b in enumerate(self.batches) if b["id"] == after) + 1
        data = self.batches[start : start + limit]
        body = {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start + limit < len(self.batches),
        }
        return httpx.Response(200, json=body)

    def _upload(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        boundary = request.headers["content-type"].split("boundary=")[1].encode()
        fields: dict[str, Any] = {}
        for part in content.split(b"--" + boundary)[1:-1]:
            head, _, value = part[2:-2].partition(b"\r\n\r\n")  # part = CRLF headers CRLFCRLF value CRLF
            name = re.search(rb'name="([^"]+)"', head).group(1).decode()
            filename = re.search(rb'filename="([^"]+)"', head)
            fields[name] = (filename.group(1).decode() if filename else None, value)
        file_id = f"file-{len(self.files) + 1}"
        filename, data = fields["file"]
        self.contents[file_id] = data
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": 1_700_000_000,
            "filename": filename,
            "purpose": fields["purpose"][1].decode(),
        }
        return httpx.Response(200, json=self.files[file_id])


def history_api(known: int, active: int, t0: int, running_counts: dict[str, int], tag: str) -> FakeBatchAPI:
    """`known` batches created a second apart from t0, of which the newest `active` run (the live benchmarks')."""
    api = FakeBatchAPI()
    for i in range(known):
        running = i >= known - active  # the newest ones run
        api.add_batch(
            created_at=t0 + i,
            status="in_progress" if running else "completed",
            in_progress_at=t0 + i + 5,
            completed_at=None if running else t0 + i + 600,
            request_counts=dict(running_counts) if running else {"total": 1000, "completed": 1000, "failed": 0},
            metadata={"description": f"job {i}", "tags": tag},
        )
    return api


def _error(status: int, message: str, code: Optional[str] = None) -> httpx.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return httpx.Response(status, json=body, headers={"x-request-id": f"req_{status}"})
