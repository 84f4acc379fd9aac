"""Anthropic Message Batches on the local server: ``/v1/messages/batches…`` in Anthropic's shapes.

A Message Batch is stored like any batch (same storage, runner and executors): its inline ``requests`` become an
input file of ``/v1/messages`` lines, and its id starts with ``msgbatch_``. What differs is only the view: the
``processing_status`` / ``request_counts`` / RFC 3339 times of the batch, results lines of
``{custom_id, result: {type, message | error}}``, and errors as ``{"type": "error", "error": {type, message}}``.

One deliberate difference from Anthropic: ``request_counts`` move while the batch runs (Anthropic's docs say
``succeeded``/``errored`` stay zero until the batch ends), so local progress bars move. Both satisfy the rule
that the counts always add up to the number of requests.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..dialects import (
    ANTHROPIC_ENDPOINT,
    ANTHROPIC_ERROR_TYPES,
    ANTHROPIC_MAX_BYTES,
    ANTHROPIC_MAX_LIST_LIMIT,
    ANTHROPIC_MAX_REQUESTS,
    ANTHROPIC_PROCESSING_STATUS,
    CUSTOM_ID_PATTERN,
)
from ..facts import NOT_EXECUTED_CODES, TERMINAL_STATUSES
from .storage import Storage, new_batch_doc, new_id

__all__ = ["register", "AnthropicFailure", "anthropic_error", "PREFIX"]

PREFIX = "/v1/messages/batches"
_ID_RE = re.compile(r"^msgbatch_[A-Za-z0-9]{1,64}$")
_CUSTOM_ID_RE = re.compile(CUSTOM_ID_PATTERN)
_TERMINAL = TERMINAL_STATUSES


class AnthropicFailure(Exception):
    def __init__(self, status: int, message: str, type: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.type = type or ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error(status: int, message: str, type: Optional[str] = None) -> JSONResponse:
    err = AnthropicFailure(status, message, type)
    return JSONResponse({"type": "error", "error": {"type": err.type, "message": err.message}}, status_code=status)


def rfc3339(seconds: Optional[int]) -> Optional[str]:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_batch(doc: dict, base_url: str) -> dict:
    """Our stored batch document as Anthropic's MessageBatch."""
    status = doc["status"]
    counts = doc["request_counts"]
    total, ok, failed = counts["total"], counts["completed"], counts["failed"]
    ended = ANTHROPIC_PROCESSING_STATUS[status] == "ended"
    rest = max(0, total - ok - failed)
    tally = {"processing": 0 if ended else rest, "succeeded": ok, "errored": failed, "canceled": 0, "expired": 0}
    if ended:  # what never ran: canceled, expired, or (the runner failed) errored
        tally[{"cancelled": "canceled", "expired": "expired"}.get(status, "errored")] += rest
    ended_at = doc.get(f"{status}_at") if ended else None
    return {
        "id": doc["id"],
        "type": "message_batch",
        "processing_status": ANTHROPIC_PROCESSING_STATUS[status],
        "request_counts": tally,
        "ended_at": rfc3339(ended_at),
        "created_at": rfc3339(doc["created_at"]),
        "expires_at": rfc3339(doc["expires_at"]),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(doc.get("cancelling_at")),
        "results_url": f"{base_url.rstrip('/')}{PREFIX}/{doc['id']}/results" if ended else None,
    }


def result_line(line: dict) -> dict:
    """One line of our output/error files as one line of Anthropic's results JSONL."""
    response, error = line.get("response") or {}, line.get("error") or {}
    code = error.get("code")
    if code == NOT_EXECUTED_CODES["cancelled"]:
        result: dict = {"type": "canceled"}
    elif code == NOT_EXECUTED_CODES["expired"]:
        result = {"type": "expired"}
    elif response and 200 <= response.get("status_code", 0) < 300:
        result = {"type": "succeeded", "message": response.get("body")}
    else:
        body = response.get("body") if response else None
        if not (isinstance(body, dict) and body.get("type") == "error"):  # an OpenAI-shaped error from upstream
            status = response.get("status_code", 500) if response else 500
            inner = (body or {}).get("error") if isinstance(body, dict) else None
            message = (inner or {}).get("message") or error.get("message") or "The request failed."
            body = {
                "type": "error",
                "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
            }
        result = {"type": "errored", "error": body}
    return {"custom_id": line.get("custom_id"), "result": result}


def register(app: FastAPI, storage: Storage, runner: Any, executor: Any, settings: Any) -> None:
    router = APIRouter()

    @app.exception_handler(AnthropicFailure)
    async def _failure(request: Request, exc: AnthropicFailure) -> JSONResponse:
        return anthropic_error(exc.status, exc.message, exc.type)

    def batch_or_404(batch_id: str) -> dict:
        doc = storage.get_batch(batch_id) if _ID_RE.match(batch_id) else None
        if doc is None:
            raise AnthropicFailure(404, f"message_batch_id: no Message Batch found with id '{batch_id[:80]}'.")
        return doc

    def check_version(request: Request) -> None:
        if not request.headers.get("anthropic-version"):
            raise AnthropicFailure(400, "anthropic-version: header is required")

    @router.post(PREFIX)
    async def create(request: Request) -> Any:
        check_version(request)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > ANTHROPIC_MAX_BYTES:
            raise AnthropicFailure(413, f"Request exceeds the maximum size of {ANTHROPIC_MAX_BYTES:,} bytes.")
        raw = await request.body()
        if len(raw) > ANTHROPIC_MAX_BYTES:
            raise AnthropicFailure(413, f"Request exceeds the maximum size of {ANTHROPIC_MAX_BYTES:,} bytes.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise AnthropicFailure(400, "The request body is not valid JSON.") from None
        requests = body.get("requests") if isinstance(body, dict) else None
        lines, model = _check_requests(requests)
        if not executor.supports(ANTHROPIC_ENDPOINT):
            raise AnthropicFailure(
                400, f"The {executor.name} executor of the local batch server does not answer {ANTHROPIC_ENDPOINT}."
            )
        now = int(time.time())
        batch_id = new_id("msgbatch_")
        file_id = new_id("file-")
        tmp = storage.temp_path()
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(lines)
            nbytes = fh.tell()
        tmp.replace(storage.file_path(file_id))
        storage.add_file(file_id, nbytes, now, f"{batch_id}_requests.jsonl", "batch")
        window = settings.window_seconds or 24 * 3600
        # Anthropic checks requests when the batch is created, so it starts in progress (no validating phase).
        doc = new_batch_doc(
            batch_id,
            endpoint=ANTHROPIC_ENDPOINT,
            model=model,
            input_file_id=file_id,
            completion_window="24h",
            now=now,
            window=window,
            metadata=None,
            status="in_progress",
            total=len(lines),
        )
        storage.insert_batch(doc, {"dialect": "anthropic"})
        runner.wake()
        return message_batch(doc, str(request.base_url))

    @router.get(PREFIX)
    def list_batches(
        request: Request, limit: Optional[str] = None, after_id: Optional[str] = None, before_id: Optional[str] = None
    ) -> Any:
        check_version(request)
        size = 20
        if limit is not None:
            if not limit.isdigit() or not 1 <= int(limit) <= ANTHROPIC_MAX_LIST_LIMIT:
                raise AnthropicFailure(400, f"limit: must be an integer from 1 to {ANTHROPIC_MAX_LIST_LIMIT}.")
            size = int(limit)
        if after_id and before_id:
            raise AnthropicFailure(400, "Only one of after_id and before_id may be given.")
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor and not _ID_RE.match(cursor):
                raise AnthropicFailure(400, f"{name}: not a Message Batch id: {cursor[:80]!r}.")
        docs, has_more = storage.list_batches(limit=size, after=after_id, before=before_id, glob="msgbatch_*")
        data = [message_batch(d, str(request.base_url)) for d in docs]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    @router.get(PREFIX + "/{batch_id}")
    def retrieve(request: Request, batch_id: str) -> Any:
        check_version(request)
        return message_batch(batch_or_404(batch_id), str(request.base_url))

    @router.post(PREFIX + "/{batch_id}/cancel")
    def cancel(request: Request, batch_id: str) -> Any:
        check_version(request)
        batch_or_404(batch_id)
        doc, status = storage.request_cancel(batch_id)
        if status in _TERMINAL and not doc.get("cancelling_at"):
            raise AnthropicFailure(409, f"Message Batch {batch_id} has already ended and cannot be canceled.")
        runner.wake()
        return message_batch(doc, str(request.base_url))

    @router.delete(PREFIX + "/{batch_id}")
    def delete(request: Request, batch_id: str) -> Any:
        check_version(request)
        doc = batch_or_404(batch_id)
        if doc["status"] not in _TERMINAL:
            raise AnthropicFailure(
                400,
                f"Message Batch {batch_id} is still processing; cancel it and wait until "
                "it has ended before deleting it.",
            )
        storage.delete_batch(batch_id)
        for key in ("input_file_id", "output_file_id", "error_file_id"):
            if doc.get(key):
                storage.delete_file(doc[key])
        return {"id": batch_id, "type": "message_batch_deleted"}

    @router.get(PREFIX + "/{batch_id}/results")
    def results(request: Request, batch_id: str) -> Any:
        check_version(request)
        doc = batch_or_404(batch_id)
        if doc["status"] not in _TERMINAL:
            raise AnthropicFailure(
                400,
                f"Message Batch {batch_id} has not ended yet; results are available once processing_status is 'ended'.",
            )
        paths = [storage.file_path(doc[k]) for k in ("output_file_id", "error_file_id") if doc.get(k)]
        return StreamingResponse(_result_lines(paths), media_type="application/x-jsonl")

    @router.api_route(
        PREFIX + "/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"], include_in_schema=False
    )
    def unknown(request: Request, rest: str) -> Any:
        raise AnthropicFailure(404, f"Unknown request URL: {request.method} {request.url.path}.")

    app.include_router(router)


def _result_lines(paths: list) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    yield (json.dumps(result_line(json.loads(raw)), separators=(",", ":")) + "\n").encode()


def _check_requests(requests: Any) -> tuple[list[str], Optional[str]]:
    """Input-file lines for valid ``requests``; else a 400 naming the first bad request and field, as Anthropic
    does (``requests.3.params.max_tokens: …``)."""
    if not isinstance(requests, list) or not requests:
        raise AnthropicFailure(400, "requests: must be a non-empty list of {custom_id, params}.")
    if len(requests) > ANTHROPIC_MAX_REQUESTS:
        raise AnthropicFailure(
            400, f"requests: a Message Batch holds at most {ANTHROPIC_MAX_REQUESTS:,} requests, got {len(requests):,}."
        )
    seen: set[str] = set()
    lines, model = [], None
    for i, item in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(item, dict):
            raise AnthropicFailure(400, f"{where}: must be an object with custom_id and params.")
        cid, params = item.get("custom_id"), item.get("params")
        if not isinstance(cid, str) or not _CUSTOM_ID_RE.match(cid):
            raise AnthropicFailure(400, f"{where}.custom_id: must be 1-64 letters, digits, '_' or '-'.")
        if cid in seen:
            raise AnthropicFailure(
                400,
                f"{where}.custom_id: {cid!r} is used by an earlier request; custom_id must be unique within a batch.",
            )
        seen.add(cid)
        if not isinstance(params, dict):
            raise AnthropicFailure(400, f"{where}.params: Field required (an object of Messages API parameters).")
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise AnthropicFailure(400, f"{where}.params.model: Field required.")
        if (
            isinstance(params.get("max_tokens"), bool)
            or not isinstance(params.get("max_tokens"), int)
            or params["max_tokens"] < 1
        ):
            raise AnthropicFailure(400, f"{where}.params.max_tokens: Field required (a positive integer).")
        if not isinstance(params.get("messages"), list):
            raise AnthropicFailure(400, f"{where}.params.messages: Field required (a list of messages).")
        if params.get("stream") is True:
            raise AnthropicFailure(400, f"{where}.params.stream: streaming is not supported in a Message Batch.")
        model = model or params["model"]
        line = {"custom_id": cid, "method": "POST", "url": ANTHROPIC_ENDPOINT, "body": params}
        lines.append(json.dumps(line, separators=(",", ":")) + "\n")
    return lines, model
