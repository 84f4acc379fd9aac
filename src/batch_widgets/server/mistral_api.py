"""Mistral batch jobs on the local server, under ``/mistral/v1`` (Mistral's ``/v1/files`` differs from OpenAI's).

``/mistral/v1/files…`` and ``/mistral/v1/batch/jobs…`` in Mistral's shapes, on the same storage, runner and
executors as the OpenAI routes. A job's input files hold ``{custom_id, body}`` lines (the model may be given once
for the job); creating the job writes them as one input file of OpenAI lines, which the runner validates (status
``QUEUED``) and runs (``RUNNING``). Output and error files keep the OpenAI output-line shape, as Mistral's do.
Errors come back as ``{"object": "error", "message", "type", "param", "code"}``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any, Optional

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from ..dialects import MISTRAL_ENDPOINTS, MISTRAL_PREFIX, MISTRAL_STATUS
from ..facts import ENDED_AT_FIELDS, TERMINAL_STATUSES
from .storage import FILE_ID_RE, Storage, new_batch_doc, new_id
from .upload import BadUpload, UploadTooLarge, receive_upload

__all__ = ["register", "MistralFailure", "mistral_error", "PREFIX"]

PREFIX = MISTRAL_PREFIX + "/v1"
_JOB_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_JOB_GLOB = "????????-????-????-????-????????????"
_TERMINAL = TERMINAL_STATUSES


class MistralFailure(Exception):
    def __init__(self, status: int, message: str, *, param: Optional[str] = None, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def mistral_error(
    status: int, message: str, *, param: Optional[str] = None, code: Optional[str] = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "internal_error"
    return JSONResponse(
        {"object": "error", "message": message, "type": kind, "param": param, "code": code}, status_code=status
    )


def _job_id() -> str:
    # Mistral's job ids are UUIDs; ours start with new_id's millisecond stamp so later jobs sort later.
    raw = new_id("")[:12] + secrets.token_hex(10)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def file_object(doc: dict) -> dict:
    """Our file record as Mistral's file schema."""
    name = doc["filename"]
    output = doc["purpose"] == "batch_output"
    sample = ("batch_error" if name.endswith("_error.jsonl") else "batch_result") if output else "batch_request"
    return {
        "id": doc["id"],
        "object": "file",
        "bytes": doc["bytes"],
        "created_at": doc["created_at"],
        "filename": name,
        "purpose": "batch",
        "sample_type": sample,
        "source": "mistral" if output else "upload",
        "num_lines": None,
        "mimetype": "application/jsonl",
        "signature": None,
        "expires_at": doc["expires_at"],
        "visibility": "workspace",
    }


def batch_job(doc: dict) -> dict:
    """Our stored batch document as Mistral's BatchJob."""
    counts = doc["request_counts"]
    status = doc["status"]
    errors = [
        {"message": (f"line {e['line']}: " if e.get("line") else "") + (e.get("message") or ""), "count": 1}
        for e in ((doc.get("errors") or {}).get("data") or [])
    ]
    return {
        "id": doc["id"],
        "object": "batch",
        "input_files": doc.get("input_files") or [doc["input_file_id"]],
        "metadata": doc.get("metadata"),
        "endpoint": doc["endpoint"],
        "model": doc.get("model"),
        "agent_id": None,
        "output_file": doc.get("output_file_id"),
        "error_file": doc.get("error_file_id"),
        "errors": errors,
        "outputs": None,
        "status": MISTRAL_STATUS[status],
        "created_at": doc["created_at"],
        "total_requests": counts["total"],
        "completed_requests": counts["completed"] + counts["failed"],
        "succeeded_requests": counts["completed"],
        "failed_requests": counts["failed"],
        "started_at": doc.get("in_progress_at"),
        "completed_at": doc.get(ENDED_AT_FIELDS[status]) if status in _TERMINAL else None,
    }


def register(app: FastAPI, storage: Storage, runner: Any, executor: Any, settings: Any) -> None:
    router = APIRouter(prefix=PREFIX)

    @app.exception_handler(MistralFailure)
    async def _failure(request: Request, exc: MistralFailure) -> JSONResponse:
        return mistral_error(exc.status, exc.message, param=exc.param, code=exc.code)

    def file_or_404(file_id: str) -> dict:
        doc = storage.get_file(file_id) if FILE_ID_RE.match(file_id) else None
        if doc is None:
            raise MistralFailure(404, f"File {file_id[:80]} not found.", param="file_id", code="not_found")
        return doc

    def job_or_404(job_id: str) -> dict:
        doc = storage.get_batch(job_id) if _JOB_RE.match(job_id) else None
        if doc is None:
            raise MistralFailure(404, f"Batch job {job_id[:80]} not found.", param="job_id", code="not_found")
        return doc

    # -- files -------------------------------------------------------------------------------------------------
    @router.post("/files")
    async def upload(request: Request) -> Any:
        limit = settings.max_upload_bytes
        tmp = storage.temp_path()
        try:
            received = await receive_upload(request, tmp, limit)
        except UploadTooLarge:
            raise MistralFailure(413, f"The file is larger than {limit:,} bytes.", param="file") from None
        except BadUpload as exc:
            raise MistralFailure(400, str(exc)) from None
        try:
            purpose = received.fields.get("purpose")
            if received.filename is None:
                raise MistralFailure(422, "Field required: 'file'.", param="file")
            if purpose != "batch":
                raise MistralFailure(
                    422,
                    f"The local server keeps batch files only: purpose must be 'batch' (got "
                    f"{(purpose or 'none')[:40]!r}).",
                    param="purpose",
                )
            now = int(time.time())
            expiry = received.fields.get("expiry")  # hours, per Mistral's upload form
            expires_at = now + int(expiry) * 3600 if expiry and expiry.isdigit() else None
            file_id = new_id("file-")
            tmp.replace(storage.file_path(file_id))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return file_object(storage.add_file(file_id, received.nbytes, now, received.filename, "batch", expires_at))

    @router.get("/files")
    def list_files(page: int = 0, page_size: int = 100) -> Any:
        docs, _ = storage.list_files(purpose=None, limit=10**9, after=None, order="desc")
        start = max(0, page) * max(1, page_size)
        return {
            "data": [file_object(d) for d in docs[start : start + max(1, page_size)]],
            "object": "list",
            "total": len(docs),
        }

    @router.get("/files/{file_id}")
    def retrieve_file(file_id: str) -> Any:
        return {**file_object(file_or_404(file_id)), "deleted": False}

    @router.delete("/files/{file_id}")
    def delete_file(file_id: str) -> Any:
        file_or_404(file_id)
        storage.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    @router.get("/files/{file_id}/content")
    def download(file_id: str) -> Any:
        doc = file_or_404(file_id)
        return FileResponse(
            storage.file_path(file_id),
            media_type="application/octet-stream",
            filename=doc["filename"],
            content_disposition_type="attachment",
        )

    # -- batch jobs --------------------------------------------------------------------------------------------
    @router.post("/batch/jobs")
    async def create(request: Request) -> Any:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise MistralFailure(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise MistralFailure(422, "The request body must be a JSON object.")
        endpoint = body.get("endpoint")
        if endpoint not in MISTRAL_ENDPOINTS:
            raise MistralFailure(
                422,
                f"endpoint must be one of {', '.join(MISTRAL_ENDPOINTS)}; got {str(endpoint)[:80]!r}.",
                param="endpoint",
            )
        if not executor.supports(endpoint):
            raise MistralFailure(
                400,
                f"The {executor.name} executor of the local batch server does not answer {endpoint}.",
                param="endpoint",
            )
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise MistralFailure(422, "model must be a string.", param="model")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        ):
            raise MistralFailure(422, "metadata must map strings to strings.", param="metadata")
        hours = body.get("timeout_hours", 24)
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
            raise MistralFailure(422, "timeout_hours must be a positive integer.", param="timeout_hours")
        input_files, inline = body.get("input_files"), body.get("requests")
        if bool(input_files) == bool(inline):
            raise MistralFailure(
                422, "Give either input_files (ids of uploaded files) or requests, not both.", param="input_files"
            )
        sources = []
        if input_files:
            if not isinstance(input_files, list) or not all(isinstance(f, str) for f in input_files):
                raise MistralFailure(422, "input_files must be a list of file ids.", param="input_files")
            sources = [storage.file_path(file_or_404(f)["id"]) for f in input_files]
        elif not isinstance(inline, list):
            raise MistralFailure(422, "requests must be a list of {custom_id, body}.", param="requests")
        now = int(time.time())
        job_id, file_id = _job_id(), new_id("file-")
        tmp = storage.temp_path()
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            n = 0
            for raw in _lines(sources, inline):
                n += 1
                out.write(_openai_line(raw, n, endpoint, model))
                out.write("\n")
            nbytes = out.tell()
        tmp.replace(storage.file_path(file_id))
        storage.add_file(file_id, nbytes, now, f"{job_id}_requests.jsonl", "batch")
        window = settings.window_seconds or hours * 3600
        doc = new_batch_doc(
            job_id,
            endpoint=endpoint,
            model=model,
            input_file_id=file_id,
            completion_window=f"{hours}h",
            now=now,
            window=window,
            metadata=metadata,
        )
        doc["input_files"] = input_files or [file_id]
        storage.insert_batch(doc, {"dialect": "mistral"})
        runner.wake()
        return batch_job(doc)

    @router.get("/batch/jobs")
    def list_jobs(
        request: Request, page: int = 0, page_size: int = 100, model: Optional[str] = None, order_by: str = "-created"
    ) -> Any:
        wanted = set(request.query_params.getlist("status"))
        docs, _ = storage.list_batches(limit=10**9, after=None, glob=_JOB_GLOB)
        jobs = [batch_job(d) for d in docs if (not model or d.get("model") == model)]
        jobs = [j for j in jobs if not wanted or j["status"] in wanted]
        if order_by == "created":
            jobs.reverse()
        start = max(0, page) * max(1, page_size)
        return {"data": jobs[start : start + max(1, page_size)], "object": "list", "total": len(jobs)}

    @router.get("/batch/jobs/{job_id}")
    def get_job(job_id: str) -> Any:
        return batch_job(job_or_404(job_id))

    @router.post("/batch/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> Any:
        job_or_404(job_id)
        doc, status = storage.request_cancel(job_id)
        if status in _TERMINAL and not doc.get("cancelling_at"):
            raise MistralFailure(
                400, f"Batch job {job_id} is {MISTRAL_STATUS[status]} and cannot be cancelled.", param="job_id"
            )
        runner.wake()
        return batch_job(doc)

    @router.delete("/batch/jobs/{job_id}")
    def delete(job_id: str) -> Any:
        doc = job_or_404(job_id)
        if doc["status"] not in _TERMINAL:
            raise MistralFailure(
                400,
                f"Batch job {job_id} is {MISTRAL_STATUS[doc['status']]}; cancel it and wait "
                "until it ends before deleting it.",
                param="job_id",
            )
        storage.delete_batch(job_id)
        return {"id": job_id, "object": "batch", "deleted": True}

    app.include_router(router)


def _lines(sources: list, inline: Optional[list]):
    if inline is not None:
        for item in inline:
            yield item
        return
    for path in sources:
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    yield raw


def _openai_line(raw: Any, n: int, endpoint: str, model: Optional[str]) -> str:
    """One Mistral request (``{custom_id, body}``) as an OpenAI input line; the job's model fills a body without
    one. What is not a request object passes through unchanged, so the validator reports it with its line."""
    item = raw
    if isinstance(raw, bytes):
        try:
            item = json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace").rstrip("\r\n")
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        return json.dumps(item, separators=(",", ":"))
    body = dict(item["body"])
    if model and "model" not in body:
        body["model"] = model
    cid = item.get("custom_id")
    return json.dumps(
        {"custom_id": str(n - 1) if cid is None else cid, "method": "POST", "url": endpoint, "body": body},
        separators=(",", ":"),
    )
