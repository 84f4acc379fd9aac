"""The Mistral dialect: batch jobs (``/v1/batch/jobs``) and files (``/v1/files``) in our one vocabulary.

How it maps:
- A BatchJob becomes a :class:`~batch_widgets.models.Batch`: the statuses map through ``BatchStatus.parse``
  (QUEUED -> validating, RUNNING -> in_progress, SUCCESS -> completed, TIMEOUT_EXCEEDED -> expired,
  CANCELLATION_REQUESTED -> cancelling, ...); ``succeeded_requests`` -> completed, ``failed_requests`` -> failed;
  ``started_at`` -> in_progress_at and ``completed_at`` -> the terminal status's time; ``input_files[0]`` ->
  input_file_id; ``output_file``/``error_file`` -> output/error file ids; ``errors[].message`` -> errors.
- Output and error files already hold our output-line shape.
- Uploads: each input line is sent as Mistral's ``{custom_id, body}``; the job names the endpoint and the model.
- Metadata is Mistral's own (string values), so description, tags and our request tag work as with OpenAI.
- Listing is by page number, not cursor: the dialect remembers which page follows a page's last id, so the one
  pager above works. A job created between two page reads shifts the pages; the pager drops the duplicates.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Optional
from urllib.parse import quote

import httpx

from ..facts import REQUEST_TAG_KEY
from ..models import Batch, BatchPage, FileDeleted, FileObject, FilePage

__all__ = ["MistralDialect", "batch_from_mistral", "file_from_mistral", "mistral_lines"]

_TERMINAL_AT = {
    "SUCCESS": "completed_at",
    "FAILED": "failed_at",
    "TIMEOUT_EXCEEDED": "expired_at",
    "CANCELLED": "cancelled_at",
}
_HOURS = re.compile(r"^\s*(\d+)\s*h\s*$")


def batch_from_mistral(data: dict) -> Batch:
    status = str(data.get("status") or "")
    inputs = data.get("input_files") or []
    doc: dict[str, Any] = {
        "id": data["id"],
        "object": "batch",
        "endpoint": data.get("endpoint"),
        "model": data.get("model"),
        "input_file_id": inputs[0] if inputs else "",
        "status": status,
        "created_at": data["created_at"],
        "in_progress_at": data.get("started_at"),
        "output_file_id": data.get("output_file"),
        "error_file_id": data.get("error_file"),
        "request_counts": {
            "total": data.get("total_requests") or 0,
            "completed": data.get("succeeded_requests") or 0,
            "failed": data.get("failed_requests") or 0,
        },
        "metadata": data.get("metadata"),
        "usage": None,
        "provider": "mistral",
    }
    errors = [{"message": e.get("message"), "code": None} for e in data.get("errors") or [] if isinstance(e, dict)]
    if errors:
        doc["errors"] = {"object": "list", "data": errors}
    if status.upper() in _TERMINAL_AT and data.get("completed_at"):
        doc[_TERMINAL_AT[status.upper()]] = data["completed_at"]
    return Batch.model_validate(doc)


def file_from_mistral(data: dict) -> FileObject:
    return FileObject.model_validate({**data, "purpose": data.get("purpose") or "batch"})


def mistral_lines(raw: bytes) -> tuple[bytes, Optional[str]]:
    """Our input lines as Mistral's ``{custom_id, body}`` lines, and the model they name (None if several)."""
    out, models = [], set()
    for text in raw.splitlines():
        if not text.strip():
            continue
        obj = json.loads(text)
        body = obj.get("body") or {}
        models.add(body.get("model"))
        out.append(json.dumps({"custom_id": obj.get("custom_id"), "body": body}, separators=(",", ":")))
    model = models.pop() if len(models) == 1 else None
    return ("\n".join(out) + "\n").encode(), model


def _hours(window: str) -> int:
    match = _HOURS.match(str(window))
    if not match:
        raise ValueError(f"Mistral jobs take a timeout in whole hours (e.g. '24h'); got completion_window={window!r}")
    return int(match.group(1))


class MistralDialect:
    """Describes each API call as keyword arguments of the transport's call description."""

    name = "mistral"
    supports_files = True
    supports_metadata = True

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._next_page: dict[str, int] = {}  # last id of a page -> the page after it
        self._file_models: dict[str, str] = {}  # uploaded file id -> the model its lines name

    # -- jobs
    def list_batches(self, limit: int, after: Optional[str]) -> dict:
        page = self._next_page.get(after, 0) if after else 0

        def parse(response: httpx.Response) -> BatchPage:
            data = response.json()
            jobs = [batch_from_mistral(d) for d in data.get("data") or []]
            has_more = (page + 1) * limit < int(data.get("total") or 0)
            if jobs and has_more:
                self._next_page[jobs[-1].id] = page + 1
            return BatchPage(
                data=jobs,
                has_more=has_more,
                first_id=jobs[0].id if jobs else None,
                last_id=jobs[-1].id if jobs else None,
            )

        return {"method": "GET", "path": "/v1/batch/jobs", "parse": parse, "params": {"page": page, "page_size": limit}}

    def retrieve_batch(self, batch_id: str) -> dict:
        return {"method": "GET", "path": f"/v1/batch/jobs/{quote(batch_id, safe='')}", "parse": _job}

    def cancel_batch(self, batch_id: str) -> dict:
        return {"method": "POST", "path": f"/v1/batch/jobs/{quote(batch_id, safe='')}/cancel", "parse": _job}

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: Optional[dict],
        output_expires_after: Any,
        tag: Optional[str],
    ) -> dict:
        if output_expires_after is not None:
            raise ValueError("Mistral jobs have no output_expires_after")
        body: dict[str, Any] = {
            "input_files": [input_file_id],
            "endpoint": endpoint,
            "timeout_hours": _hours(completion_window),
        }
        if input_file_id in self._file_models:
            body["model"] = self._file_models[input_file_id]
        if metadata:
            body["metadata"] = metadata
        return {
            "method": "POST",
            "path": "/v1/batch/jobs",
            "parse": _job,
            "json": body,
            "create_tag": tag,
            "retry_ambiguous": tag is not None,
        }

    def lookup_tagged(self, tag: str) -> dict:
        def parse(response: httpx.Response) -> Optional[Batch]:
            jobs = [batch_from_mistral(d) for d in response.json().get("data") or []]
            return next((b for b in jobs if (b.metadata or {}).get(REQUEST_TAG_KEY) == tag), None)

        return {"method": "GET", "path": "/v1/batch/jobs", "parse": parse, "params": {"page_size": 100}}

    # -- files
    def upload_file(self, fh: Any, filename: str, purpose: str, seekable: bool) -> dict:
        raw, model = mistral_lines(fh.read())
        models = self._file_models

        def parse(response: httpx.Response) -> FileObject:
            uploaded = file_from_mistral(response.json())
            if model:
                models[uploaded.id] = model
            return uploaded

        files = {"file": (filename, io.BytesIO(raw), "application/jsonl")}
        return {"method": "POST", "path": "/v1/files", "parse": parse, "data": {"purpose": purpose}, "files": files}

    def retrieve_file(self, file_id: str) -> dict:
        return {
            "method": "GET",
            "path": f"/v1/files/{quote(file_id, safe='')}",
            "parse": lambda r: file_from_mistral(r.json()),
        }

    def file_content(self, file_id: str, download: Any = None) -> dict:
        return {
            "method": "GET",
            "path": f"/v1/files/{quote(file_id, safe='')}/content",
            "parse": lambda r: r.content,
            "headers": {"Accept": "application/octet-stream"},
            "download": download,
        }

    def delete_file(self, file_id: str) -> dict:
        return {
            "method": "DELETE",
            "path": f"/v1/files/{quote(file_id, safe='')}",
            "parse": lambda r: FileDeleted.model_validate(r.json()),
        }

    def list_files(self, purpose: Optional[str], limit: int, after: Optional[str], order: str) -> dict:
        def parse(response: httpx.Response) -> FilePage:
            data = response.json()
            files = [file_from_mistral(d) for d in data.get("data") or []]
            return FilePage(data=files, has_more=False)

        return {
            "method": "GET",
            "path": "/v1/files",
            "parse": parse,
            "params": {"page_size": limit, "purpose": purpose},
        }


def _job(response: httpx.Response) -> Batch:
    return batch_from_mistral(response.json())
