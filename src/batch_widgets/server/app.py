"""FastAPI routes of the local batch server: ``/v1/files`` and ``/v1/batches`` as OpenAI serves them.

Errors always come back in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}`` — including
FastAPI's own request validation (422) and unknown URLs (404). Work happens in the Runner, never in a handler.
"""

from __future__ import annotations

import hmac
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..facts import (
    COMPLETION_WINDOWS,
    DEFAULT_COMPLETION_WINDOW,
    ENDPOINTS,
    MAX_EXPIRES_AFTER_SECONDS,
    MAX_LIST_LIMIT,
    METADATA_MAX_KEY_CHARS,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_CHARS,
    MIN_EXPIRES_AFTER_SECONDS,
    SIMULATED_FIELD,
)
from . import anthropic_api, mistral_api
from .executor import make_executor
from .runner import Runner
from .settings import ServerSettings, parse_window
from .storage import BATCH_ID_RE, FILE_ID_RE, Storage, new_batch_doc, new_id
from .upload import BadUpload, UploadTooLarge, receive_upload

__all__ = ["create_app", "APIFailure"]

log = logging.getLogger("batch_widgets.server")


class APIFailure(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: Optional[str] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")


def error_response(
    status: int,
    message: str,
    *,
    param: Optional[str] = None,
    code: Optional[str] = None,
    type: Optional[str] = None,
    headers: Optional[dict] = None,
) -> JSONResponse:
    err = APIFailure(status, message, param=param, code=code, type=type)
    body = {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}
    return JSONResponse(body, status_code=status, headers=headers)


class OutputExpiresAfter(BaseModel):
    anchor: Literal["created_at"] = "created_at"
    seconds: int


class CreateBatch(BaseModel):
    input_file_id: str
    endpoint: str
    completion_window: str = DEFAULT_COMPLETION_WINDOW
    metadata: Optional[dict[str, str]] = None
    output_expires_after: Optional[OutputExpiresAfter] = None


def create_app(settings: ServerSettings) -> FastAPI:
    storage = Storage(settings.data_dir)
    executor = make_executor(
        settings.executor,
        rate=settings.rate,
        latency=settings.latency,
        failure_rate=settings.failure_rate,
        upstream_url=settings.upstream_url,
        upstream_api_key=settings.upstream_api_key,
        concurrency=settings.concurrency,
        seed=settings.seed,
    )
    runner = Runner(storage, executor, settings)
    if settings.webhook_url:
        if not settings.webhook_secret:
            raise ValueError("webhook_url needs webhook_secret (a 'whsec_…' secret that signs the events)")
        from .webhooks import WebhookSender

        storage.record_events = True
        runner.webhooks = WebhookSender(storage, settings.webhook_url, settings.webhook_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            storage.close()

    app = FastAPI(
        title="batch_widgets local batch server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.storage, app.state.runner, app.state.settings = storage, runner, settings
    _install_error_handlers(app)
    if settings.api_key:
        app.add_middleware(_BearerAuth, api_key=settings.api_key)

    # -- files -------------------------------------------------------------------------------------------------
    @app.post("/v1/files")
    async def upload_file(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + 1024 * 1024:
            raise _too_large(settings.max_upload_bytes)
        tmp = storage.temp_path()
        try:
            upload = await receive_upload(request, tmp, settings.max_upload_bytes)
        except UploadTooLarge:
            raise _too_large(settings.max_upload_bytes) from None
        except BadUpload as exc:
            raise APIFailure(400, str(exc)) from None
        try:
            purpose = upload.fields.get("purpose")
            if upload.filename is None:
                raise APIFailure(
                    400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
                )
            if purpose is None:
                raise APIFailure(
                    400, "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter"
                )
            if purpose != "batch":
                raise APIFailure(
                    400,
                    f"Invalid value for 'purpose': {purpose[:40]!r}. The local batch server only "
                    "accepts purpose 'batch'.",
                    param="purpose",
                    code="invalid_value",
                )
            now = int(time.time())
            expires_at = _upload_expiry(upload.fields, now)
            file_id = new_id("file-")
            tmp.replace(storage.file_path(file_id))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return storage.add_file(file_id, upload.nbytes, now, upload.filename, purpose, expires_at)

    @app.get("/v1/files")
    def list_files(
        purpose: Optional[str] = None,
        limit: int = Query(10_000, ge=1, le=10_000),
        after: Optional[str] = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> Any:
        data, has_more = storage.list_files(purpose=purpose, limit=limit, after=after, order=order)
        return _page(data, has_more)

    @app.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str) -> Any:
        return _file_or_404(storage, file_id)

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Any:
        doc = _file_or_404(storage, file_id)
        return _FileResponse(
            storage.file_path(file_id),
            media_type="application/octet-stream",
            filename=doc["filename"],
            content_disposition_type="attachment",
        )

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> Any:
        _file_or_404(storage, file_id)
        storage.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- models ------------------------------------------------------------------------------------------------
    @app.get("/v1/models")
    def list_models() -> Any:
        return _outcome(*executor.models())

    @app.get("/v1/models/{model_id:path}")
    def retrieve_model(model_id: str) -> Any:
        return _outcome(*executor.model(model_id))

    # -- batches -----------------------------------------------------------------------------------------------
    @app.post("/v1/batches")
    def create_batch(body: CreateBatch) -> Any:
        if body.endpoint not in ENDPOINTS:
            raise APIFailure(
                400,
                f"Invalid value for 'endpoint': {body.endpoint[:80]!r}. Supported: " + ", ".join(ENDPOINTS) + ".",
                param="endpoint",
                code="invalid_value",
            )
        if not executor.supports(body.endpoint):
            raise APIFailure(
                400,
                f"The {executor.name} executor of the local batch server does not answer {body.endpoint}.",
                param="endpoint",
                code="unsupported_endpoint",
            )
        if body.completion_window not in COMPLETION_WINDOWS:
            raise APIFailure(
                400,
                f"Invalid value for 'completion_window': {body.completion_window[:40]!r}. "
                "Supported values are: " + ", ".join(f"'{w}'" for w in COMPLETION_WINDOWS) + ".",
                param="completion_window",
                code="invalid_value",
            )
        # The server's own --window-seconds shortens every window, to show expiry in a demo or a test.
        window = settings.window_seconds or parse_window(body.completion_window)
        _check_metadata(body.metadata)
        seconds = body.output_expires_after.seconds if body.output_expires_after else None
        if seconds is not None and not MIN_EXPIRES_AFTER_SECONDS <= seconds <= MAX_EXPIRES_AFTER_SECONDS:
            raise APIFailure(
                400,
                f"output_expires_after.seconds must be between {MIN_EXPIRES_AFTER_SECONDS} and "
                f"{MAX_EXPIRES_AFTER_SECONDS}.",
                param="output_expires_after.seconds",
                code="invalid_value",
            )
        source = _file_or_404(storage, body.input_file_id, param="input_file_id")
        if source["purpose"] != "batch":
            raise APIFailure(
                400,
                f"The input file {body.input_file_id} has purpose {source['purpose']!r}; "
                "a batch needs a file uploaded with purpose 'batch'.",
                param="input_file_id",
                code="invalid_value",
            )
        now = int(time.time())
        doc = new_batch_doc(
            new_id("batch_"),
            endpoint=body.endpoint,
            model=None,
            input_file_id=body.input_file_id,
            completion_window=body.completion_window,
            now=now,
            window=window,
            metadata=body.metadata,
        )
        if executor.name == "simulated":  # say so: clients mark these batches' costs as simulated
            doc[SIMULATED_FIELD] = True
        storage.insert_batch(
            doc, {"output_expires_after": {"anchor": "created_at", "seconds": seconds} if seconds else None}
        )
        runner.wake()
        return doc

    @app.get("/v1/batches")
    def list_batches(after: Optional[str] = None, limit: int = Query(20, ge=1, le=MAX_LIST_LIMIT)) -> Any:
        data, has_more = storage.list_batches(limit=limit, after=after, glob="batch_*")  # not other dialects'
        return _page(data, has_more)

    @app.get("/v1/batches/{batch_id}")
    def retrieve_batch(batch_id: str) -> Any:
        return _batch_or_404(storage, batch_id)

    @app.post("/v1/batches/{batch_id}/cancel")
    def cancel_batch(batch_id: str) -> Any:
        _batch_or_404(storage, batch_id)
        doc, status = storage.request_cancel(batch_id)
        if status != "cancelling":
            raise APIFailure(409, f"Cannot cancel a batch with status '{status}'.", code="batch_not_cancellable")
        runner.wake()
        return doc

    # -- the other dialects, on the same storage and runner ------------------------------------------------------
    for dialect in (anthropic_api, mistral_api):
        dialect.register(app, storage, runner, executor, settings)
    return app


def _outcome(status: int, body: Any) -> Any:
    return body if status == 200 else JSONResponse(body, status_code=status)


def _page(data: list[dict], has_more: bool) -> dict:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


class _FileResponse(FileResponse):
    # Starlette reads a file 64 KiB at a time, each read a hop to a worker thread: at 1 MiB a loopback download
    # of a results file runs near the speed of a static file server (benchmarks/bench_results.py).
    chunk_size = 1 << 20


def _file_or_404(storage: Storage, file_id: str, param: Optional[str] = None) -> dict:
    doc = storage.get_file(file_id) if FILE_ID_RE.match(file_id) else None
    if doc is None:
        raise APIFailure(404, f"No such File object: {file_id[:80]}", param=param or "id", code="file_not_found")
    return doc


def _batch_or_404(storage: Storage, batch_id: str) -> dict:
    doc = storage.get_batch(batch_id) if BATCH_ID_RE.match(batch_id) else None
    if doc is None:
        raise APIFailure(404, f"No batch found with id '{batch_id[:80]}'.", param="batch_id", code="batch_not_found")
    return doc


def _too_large(limit: int) -> APIFailure:
    return APIFailure(
        413,
        f"The file is too large: the limit for batch input files is {limit:,} bytes.",
        param="file",
        code="file_too_large",
    )


def _upload_expiry(fields: dict[str, str], now: int) -> Optional[int]:
    seconds = fields.get("expires_after[seconds]")
    if seconds is None:
        return None
    if (
        fields.get("expires_after[anchor]", "created_at") != "created_at"
        or not seconds.isdigit()
        or not MIN_EXPIRES_AFTER_SECONDS <= int(seconds) <= MAX_EXPIRES_AFTER_SECONDS
    ):
        raise APIFailure(
            400,
            "expires_after needs anchor 'created_at' and seconds between "
            f"{MIN_EXPIRES_AFTER_SECONDS} and {MAX_EXPIRES_AFTER_SECONDS}.",
            param="expires_after",
            code="invalid_value",
        )
    return now + int(seconds)


def _check_metadata(metadata: Optional[dict[str, str]]) -> None:
    if not metadata:
        return
    if len(metadata) > METADATA_MAX_KEYS:
        raise APIFailure(
            400,
            f"metadata can hold at most {METADATA_MAX_KEYS} key-value pairs.",
            param="metadata",
            code="invalid_value",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_CHARS or len(value) > METADATA_MAX_VALUE_CHARS:
            raise APIFailure(
                400,
                f"metadata key {key[:METADATA_MAX_KEY_CHARS]!r}: keys are at most "
                f"{METADATA_MAX_KEY_CHARS} characters and values at most {METADATA_MAX_VALUE_CHARS}.",
                param="metadata",
                code="invalid_value",
            )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIFailure)
    async def _api_failure(request: Request, exc: APIFailure) -> JSONResponse:
        return error_response(exc.status, exc.message, param=exc.param, code=exc.code, type=exc.type)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
            return error_response(404, message, code="unknown_url")
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        what = f"'{param}'" if param else "the request"
        message = f"Invalid value for {what}: {first.get('msg', 'invalid')}."
        if len(errors) > 1:
            message += f" ({len(errors) - 1} more problem(s))"
        code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
        return error_response(422, message, param=param, code=code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "The local batch server failed to handle this request.", code="server_error")


class _BearerAuth:
    """Plain ASGI middleware (streams request bodies untouched): every request needs ``Bearer <api_key>``, or
    ``x-api-key: <api_key>`` as Anthropic's clients send it."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()
        self.expected_x = api_key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        given_x = next((v for k, v in scope["headers"] if k == b"x-api-key"), b"")
        if hmac.compare_digest(given, self.expected) or (given_x and hmac.compare_digest(given_x, self.expected_x)):
            return await self.app(scope, receive, send)
        if scope["path"].startswith(anthropic_api.PREFIX):
            response = anthropic_api.anthropic_error(
                401, "invalid x-api-key" if given_x or given else "x-api-key header is required"
            )
        elif scope["path"].startswith(mistral_api.PREFIX):
            response = mistral_api.mistral_error(401, "Unauthorized")
        elif not given:
            response = error_response(
                401, "You didn't provide an API key. Send 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        else:
            response = error_response(401, "Incorrect API key provided.", code="invalid_api_key")
        await response(scope, receive, send)
