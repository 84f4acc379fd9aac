"""Helpers for the local batch server tests (the official openai SDK is the client)."""

from __future__ import annotations

import json
import time

import openai

API_KEY = "test-key-123"
CHAT = "/v1/chat/completions"


def request_line(i, *, url=CHAT, model="gpt-4o-mini", **body):
    if url == "/v1/embeddings":
        payload = {"model": model, "input": f"text {i}"}
    elif url == "/v1/responses":
        payload = {"model": model, "input": f"question {i}"}
    elif url == "/v1/completions":
        payload = {"model": model, "prompt": f"prompt {i}"}
    elif url == "/v1/moderations":
        payload = {"model": model, "input": f"text {i}"}
    else:
        payload = {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}]}
    payload.update(body)
    return {"custom_id": f"req-{i}", "method": "POST", "url": url, "body": payload}


def jsonl(lines) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def make_client(server, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key or "none", max_retries=0, **kw)


def upload(client, data: bytes, name="input.jsonl"):
    return client.files.create(file=(name, data), purpose="batch")


def submit(client, n=10, *, url=CHAT, metadata=None, lines=None):
    data = jsonl(lines if lines is not None else [request_line(i, url=url) for i in range(n)])
    f = upload(client, data)
    return client.batches.create(input_file_id=f.id, endpoint=url, completion_window="24h", metadata=metadata)


def wait_for(client, batch_id, statuses=("completed", "failed", "cancelled", "expired"), timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout} s")
        time.sleep(0.05)


def read_lines(client, file_id):
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line.strip()]


class serve_app:
    """Serve any ASGI app with uvicorn on 127.0.0.1 in a thread (for a stand-in upstream model server)."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self):
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
