"""BatchTransport and AsyncBatchTransport: the OpenAI-compatible /v1/batches and /v1/files API over httpx.

Transport only: batches, files, paging, retries, typed errors and event hooks. The workflow (submit, wait,
results, retry_failed) sits on top in ``workflow.py`` and never the other way round; ``client.py`` puts the two
together as the public ``BatchClient`` / ``AsyncBatchClient``.

Both transports share one core (``_Core``) that describes every request as a ``_Call`` (method, path, query,
body, how to parse the answer), turns failures into typed errors and decides about retries. The sync and async
classes differ only in how they send a call and how they sleep between attempts.

Configured like the official SDK (see ``_config``); with nothing configured, the embedded local batch server is
started and used, so everything works offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
import time
import uuid
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Optional, Sequence, Union
from urllib.parse import quote

import httpx

from . import _retry
from ._config import ClientConfig, resolve_config, warn_local_fallback
from ._files import Download, FileInput, upload_source
from ._network import default_transport
from ._responses import error_from_response, model_parser
from .errors import APIConnectionError, APIError, APITimeoutError, UnsupportedByProviderError
from .facts import DEFAULT_COMPLETION_WINDOW, METADATA_MAX_KEYS, REQUEST_TAG_KEY
from .models import Batch, BatchPage, FileDeleted, FileObject, FilePage, Model, ModelPage

__all__ = ["AsyncBatchTransport", "BatchTransport", "CursorPager", "EventHooks"]

logger = logging.getLogger(__name__)

#: iter_batches stops, with a warning, after this many pages (100,000 batches at 100 a page).
MAX_PAGES = 1000
#: How many of the newest batches are searched for a tagged create that may have landed.
LOOKUP_PAGE_SIZE = 100

#: ``event_hooks`` (httpx style): "request" and "response" go to httpx; "batch" is called as ``hook(batch)``
#: with every single batch this client reads or changes (create, retrieve, cancel), so a live view on the same
#: connection (the widget store) shows it at once. A hook's failure is logged, never raised to the caller.
EventHooks = Mapping[str, Sequence[Callable[..., Any]]]
HOOK_EVENTS = ("request", "response", "batch")


def _split_hooks(event_hooks: Optional[EventHooks]) -> tuple[dict[str, list[Callable[..., Any]]], list[Callable]]:
    hooks = dict(event_hooks or {})
    unknown = set(hooks) - set(HOOK_EVENTS)
    if unknown:
        raise ValueError(f"unknown event hook(s) {sorted(unknown)}; known: {', '.join(HOOK_EVENTS)}")
    for name, fns in hooks.items():
        if callable(fns) or not all(callable(f) for f in fns):
            raise TypeError(f"event_hooks[{name!r}] must be a list of callables, got {fns!r}")
    batch_hooks = list(hooks.pop("batch", ()))
    return {name: list(fns) for name, fns in hooks.items()}, batch_hooks


@dataclass
class _Call:
    """One API request, described without sending it."""

    method: str
    path: str
    parse: Callable[[httpx.Response], Any]
    params: Optional[dict[str, Any]] = None
    json: Optional[dict[str, Any]] = None
    data: Optional[dict[str, Any]] = None
    files: Optional[dict[str, Any]] = None
    headers: Optional[dict[str, str]] = None
    retryable: bool = True  # False when the body cannot be sent again (a non-seekable upload)
    retry_ambiguous: bool = True  # False: do not resend after a failure that may have reached the server
    create_tag: Optional[str] = None  # look for a batch with this tag before resending an ambiguous create
    download: Optional[Download] = None  # stream the body into this file instead of parsing it
    postprocess: Optional[Callable[[Any], Any]] = None  # applied to the parsed answer (or the downloaded path)


@dataclass
class _Plan:
    """What to do after a failed attempt."""

    error: APIError
    delay: Optional[float]  # seconds to wait before resending; None = give up
    lookup: Optional[_Call]  # a call whose result (a Batch or None) may make resending unnecessary


def _find_tagged(tag: str) -> Callable[[httpx.Response], Optional[Batch]]:
    def parse(response: httpx.Response) -> Optional[Batch]:
        page = model_parser(BatchPage)(response)
        return next((b for b in page.data if (b.metadata or {}).get(REQUEST_TAG_KEY) == tag), None)

    return parse


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _nonempty(value: str, what: str) -> str:
    """``value`` unchanged once checked (dialects quote path segments themselves)."""
    _segment(value, what)
    return value


def _local_config(organization: Optional[str], project: Optional[str]) -> ClientConfig:
    from .server.local import shared_server  # imported here: FastAPI/uvicorn load only when needed

    server = shared_server()
    logger.info("No provider configured: using the embedded local batch server at %s", server.base_url)
    warn_local_fallback(server.base_url)  # once per kernel, in the notebook: answers will be simulated
    return ClientConfig(
        base_url=server.base_url.rstrip("/"),
        api_key=server.api_key,
        organization=organization,
        project=project,
        is_local=True,
    )


class _Core:
    """Configuration, request descriptions, error mapping and retry decisions, shared by both clients."""

    def __init__(
        self,
        api_key: Optional[str],
        base_url: Optional[str],
        organization: Optional[str],
        project: Optional[str],
        api_version: Optional[str],
        max_retries: int,
        timeout: Union[float, httpx.Timeout, None],
        config: Optional[ClientConfig] = None,  # already resolved (another dialect's)
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        config = config or resolve_config(
            api_key, base_url, organization=organization, project=project, api_version=api_version
        )
        self.config = config or _local_config(organization, project)
        self.max_retries = max_retries
        if isinstance(timeout, (int, float)):
            timeout = httpx.Timeout(timeout, connect=min(5.0, timeout))
        self.timeout = timeout
        self.rand: Callable[[], float] = random.random

    def http_options(self, transport: Any, is_async: bool) -> dict[str, Any]:
        transport = default_transport(transport, is_async)
        return {"headers": self.config.headers(), "timeout": self.timeout, "transport": transport}

    def request(self, http: Union[httpx.Client, httpx.AsyncClient], call: _Call) -> httpx.Request:
        return http.build_request(
            call.method,
            self.config.base_url + call.path,
            params=self.config.params(call.params),
            json=call.json,
            data=call.data,
            files=call.files,
            headers={**(call.headers or {}), **(call.download.headers() if call.download else {})},
        )

    # -- request descriptions ------------------------------------------------------------------------------
    def list_batches(self, limit: int, after: Optional[str]) -> _Call:
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, got {limit}")
        return _Call("GET", "/batches", model_parser(BatchPage), params={"limit": limit, "after": after})

    def retrieve_batch(self, batch_id: str) -> _Call:
        return _Call("GET", f"/batches/{_segment(batch_id, 'batch_id')}", model_parser(Batch))

    def cancel_batch(self, batch_id: str) -> _Call:
        return _Call("POST", f"/batches/{_segment(batch_id, 'batch_id')}/cancel", model_parser(Batch))

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: Optional[dict[str, str]],
        output_expires_after: Union[int, dict[str, Any], None],
    ) -> _Call:
        _segment(input_file_id, "input_file_id")
        metadata = dict(metadata or {})
        # A fresh tag every time: one copied from an older batch (e.g. when retrying it) would match that batch.
        metadata.pop(REQUEST_TAG_KEY, None)
        tag = uuid.uuid4().hex if len(metadata) < METADATA_MAX_KEYS else None
        if tag:
            metadata[REQUEST_TAG_KEY] = tag
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
        }
        if metadata:
            body["metadata"] = metadata
        if isinstance(output_expires_after, int):
            output_expires_after = {"anchor": "created_at", "seconds": output_expires_after}
        if output_expires_after is not None:
            body["output_expires_after"] = output_expires_after
        # Without a tag there is no way to tell whether an ambiguous failure created the batch: do not resend.
        parse = model_parser(Batch)
        return _Call("POST", "/batches", parse, json=body, create_tag=tag, retry_ambiguous=tag is not None)

    def upload_file(self, fh: Any, filename: str, purpose: str, seekable: bool) -> _Call:
        # httpx streams file objects in chunks and seeks them back to 0 before each attempt.
        files = {"file": (filename, fh, "application/jsonl")}
        data = {"purpose": purpose}
        return _Call("POST", "/files", model_parser(FileObject), data=data, files=files, retryable=seekable)

    def retrieve_file(self, file_id: str) -> _Call:
        return _Call("GET", f"/files/{_segment(file_id, 'file_id')}", model_parser(FileObject))

    def file_content(self, file_id: str, download: Optional[Download] = None) -> _Call:
        path = f"/files/{_segment(file_id, 'file_id')}/content"
        binary = {"Accept": "application/binary"}
        return _Call("GET", path, lambda r: r.content, headers=binary, download=download)

    def delete_file(self, file_id: str) -> _Call:
        return _Call("DELETE", f"/files/{_segment(file_id, 'file_id')}", model_parser(FileDeleted))

    def list_files(self, purpose: Optional[str], limit: int, after: Optional[str], order: str) -> _Call:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        params = {"purpose": purpose, "limit": limit, "after": after, "order": order}
        return _Call("GET", "/files", model_parser(FilePage), params=params)

    def list_models(self) -> _Call:
        return _Call("GET", "/models", lambda r: model_parser(ModelPage)(r).data)

    def create_inline(self, requests: list[dict], metadata: Optional[dict[str, str]]) -> _Call:
        raise UnsupportedByProviderError(
            f"{self.config.provider} batches are made from an uploaded input file (create_batch), not inline"
        )

    # -- failures ------------------------------------------------------------------------------------------
    def error_from_exception(self, call: _Call, exc: httpx.TransportError) -> APIError:
        what = f"{call.method} {self.config.base_url}{call.path}"
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"{what} timed out ({type(exc).__name__})")
        return APIConnectionError(self.config.redact(f"{what} failed: {type(exc).__name__}: {exc}"))

    def after_failure(
        self, call: _Call, attempt: int, response: Optional[httpx.Response], exc: Optional[httpx.TransportError]
    ) -> _Plan:
        if response is not None:
            error = error_from_response(response, self.config.redact)
            retry = _retry.should_retry_status(response.status_code, response.headers)
            ambiguous = response.status_code >= 500
        else:
            assert exc is not None
            error = self.error_from_exception(call, exc)
            retry = True
            # A failed connect never sent the request; anything later may have reached the server.
            ambiguous = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        retry = retry and attempt < self.max_retries and call.retryable and (call.retry_ambiguous or not ambiguous)
        delay = _retry.retry_delay(attempt, response.headers if response is not None else None, self.rand)
        lookup = None
        if ambiguous and call.create_tag:
            lookup = _Call("GET", "/batches", _find_tagged(call.create_tag), params={"limit": LOOKUP_PAGE_SIZE})
        return _Plan(error, delay if retry else None, lookup)


class _DialectCore(_Core):
    """A core whose request descriptions come from a provider dialect (``batch_widgets.providers``): the same
    retries, errors and pager, other paths and shapes, translated into our vocabulary on the way in."""

    def __init__(
        self, dialect: Any, config: ClientConfig, max_retries: int, timeout: Union[float, httpx.Timeout, None]
    ) -> None:
        super().__init__(config.api_key, config.base_url, None, None, None, max_retries, timeout, config=config)
        self.dialect = dialect

    def request(self, http: Union[httpx.Client, httpx.AsyncClient], call: _Call) -> httpx.Request:
        if "://" not in call.path:
            return super().request(http, call)
        return http.build_request(  # an absolute URL the provider gave (Anthropic's results_url)
            call.method,
            call.path,
            params=self.config.params(call.params),
            headers={**(call.headers or {}), **(call.download.headers() if call.download else {})},
        )

    def list_batches(self, limit: int, after: Optional[str]) -> _Call:
        return _Call(**self.dialect.list_batches(limit, after))

    def retrieve_batch(self, batch_id: str) -> _Call:
        return _Call(**self.dialect.retrieve_batch(_nonempty(batch_id, "batch_id")))

    def cancel_batch(self, batch_id: str) -> _Call:
        return _Call(**self.dialect.cancel_batch(_nonempty(batch_id, "batch_id")))

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: Optional[dict[str, str]],
        output_expires_after: Union[int, dict[str, Any], None],
    ) -> _Call:
        _segment(input_file_id, "input_file_id")
        metadata = dict(metadata or {})
        metadata.pop(REQUEST_TAG_KEY, None)
        tag = uuid.uuid4().hex if self.dialect.supports_metadata and len(metadata) < METADATA_MAX_KEYS else None
        if tag:
            metadata[REQUEST_TAG_KEY] = tag
        return _Call(
            **self.dialect.create_batch(
                input_file_id, endpoint, completion_window, metadata or None, output_expires_after, tag
            )
        )

    def create_inline(self, requests: list[dict], metadata: Optional[dict[str, str]]) -> _Call:
        return _Call(**self.dialect.create_inline(requests, metadata))

    def upload_file(self, fh: Any, filename: str, purpose: str, seekable: bool) -> _Call:
        return _Call(**self.dialect.upload_file(fh, filename, purpose, seekable))

    def retrieve_file(self, file_id: str) -> _Call:
        return _Call(**self.dialect.retrieve_file(_nonempty(file_id, "file_id")))

    def file_content(self, file_id: str, download: Optional[Download] = None) -> _Call:
        return _Call(**self.dialect.file_content(_nonempty(file_id, "file_id"), download))

    def delete_file(self, file_id: str) -> _Call:
        return _Call(**self.dialect.delete_file(_nonempty(file_id, "file_id")))

    def list_files(self, purpose: Optional[str], limit: int, after: Optional[str], order: str) -> _Call:
        return _Call(**self.dialect.list_files(purpose, limit, after, order))

    def after_failure(
        self, call: _Call, attempt: int, response: Optional[httpx.Response], exc: Optional[httpx.TransportError]
    ) -> _Plan:
        plan = super().after_failure(call, attempt, response, exc)
        if plan.lookup is not None and call.create_tag:  # look for the tagged create in this dialect's list
            spec = self.dialect.lookup_tagged(call.create_tag)
            plan.lookup = _Call(**spec) if spec else None
        return plan


def _make_core(
    api_key: Optional[str],
    base_url: Optional[str],
    organization: Optional[str],
    project: Optional[str],
    api_version: Optional[str],
    max_retries: int,
    timeout: Union[float, httpx.Timeout, None],
    provider: Optional[str],
) -> _Core:
    """The core for a provider: given, or detected from the base URL (see ``batch_widgets.providers``)."""
    from . import providers

    name = providers.check_provider(provider) or providers.detect_provider(base_url)
    args = (api_key, base_url, organization, project, api_version, max_retries, timeout)
    if name == "openai":
        return _Core(*args)
    config = providers.resolve_provider_config(name, api_key, base_url) or providers.local_provider_config(name)
    return _DialectCore(providers.make_dialect(config), config, max_retries, timeout)


class CursorPager:
    """The one cursor for batch lists (``iter_batches`` and the history index): follows ``after`` = last id until
    ``has_more`` is false, guarding against servers that send an empty page saying has_more, a cursor that does
    not advance, or pages without end. Sends nothing itself: the caller reads ``after`` and feeds ``take``."""

    def __init__(self, page_size: int = 100, max_pages: int = MAX_PAGES, *, what: str = "iter_batches") -> None:
        self.page_size, self.max_pages, self.what = page_size, max_pages, what
        self.after: Optional[str] = None
        self.seen: set[str] = set()
        self.pages = 0
        self.done = False
        self.stopped: Optional[str] = None  # why paging stopped before the last page (None: it reached the end)

    def take(self, page: BatchPage) -> list[Batch]:
        """The batches of this page not seen on an earlier one; sets ``done`` after the last page."""
        self.pages += 1
        fresh = [b for b in page.data if b.id not in self.seen]
        cursor = page.data[-1].id if page.data else None
        if not page.has_more:
            self.done = True
        elif cursor is None:
            self._stop("an empty page said has_more=true")
        elif not fresh or cursor in self.seen or cursor == self.after:
            self._stop(f"the cursor did not advance (after={self.after!r} returned only known batches)")
        elif self.pages >= self.max_pages:
            self._stop(f"read {self.pages} pages, the limit (max_pages={self.max_pages})")
        self.after = cursor
        self.seen.update(b.id for b in fresh)
        return fresh

    def _stop(self, why: str) -> None:
        logger.warning("%s stopped early: %s; the list may be incomplete", self.what, why)
        self.done, self.stopped = True, why


class _ClientCommon:
    _core: _Core
    _http: Union[httpx.Client, httpx.AsyncClient]
    _batch_hooks: list[Callable[..., Any]]
    #: Seconds from a monotonic clock, and how to wait: retries and ``wait`` use them (tests inject their own).
    clock: Callable[[], float]
    sleep: Callable[[float], Any]

    @property
    def base_url(self) -> str:
        return self._core.config.base_url

    @property
    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """The live hook lists, as httpx's ``client.event_hooks``: ``client.event_hooks["batch"].append(fn)``."""
        return {
            "request": self._http.event_hooks["request"],
            "response": self._http.event_hooks["response"],
            "batch": self._batch_hooks,
        }

    @property
    def connection_key(self) -> tuple[str, str, str, str]:
        """Which account this client talks to: base URL, a digest of the credentials, organization, project.
        Two clients with equal keys see the same batches (the widget store shares one poller between them).
        The secret itself is never part of it."""
        config = self._core.config
        secret = config.api_key or ""
        digest = hashlib.sha256(secret.encode()).hexdigest()[:16] if secret else ""
        return (config.base_url, digest, config.organization or "", config.project or "")

    def _hooked(self, batch: Batch) -> list[Any]:
        """Call every "batch" hook; the results (awaitables from async hooks) go back to the async client."""
        results = []
        for hook in list(self._batch_hooks):
            try:
                results.append(hook(batch))
            except Exception:  # a broken view must not turn a successful call into an error
                logger.exception("batch event hook %r failed", hook)
        return results

    @property
    def is_local(self) -> bool:
        return self._core.config.is_local

    @property
    def max_retries(self) -> int:
        return self._core.max_retries

    @property
    def provider(self) -> str:
        """The dialect this client speaks: "openai", "anthropic" or "mistral"."""
        return self._core.config.provider

    @property
    def supports_files(self) -> bool:
        """False where batches are sent inline (Anthropic): ``submit`` then sends the requests themselves."""
        dialect = getattr(self._core, "dialect", None)
        return dialect is None or dialect.supports_files

    @property
    def accepted_endpoints(self) -> Optional[tuple[str, ...]]:
        """The batch endpoints this client's target accepts (None: not known, not checked before upload)."""
        from .dialects import MISTRAL_ENDPOINTS
        from .facts import ENDPOINTS

        return {"openai": ENDPOINTS, "mistral": MISTRAL_ENDPOINTS}.get(self._core.config.provider)

    def __repr__(self) -> str:  # never the key or headers
        return f"{type(self).__name__}(base_url={self.base_url!r}, is_local={self.is_local})"

    def _found_existing(self, batch: Batch) -> Batch:
        logger.warning("create_batch: an earlier attempt reached the server; using %s, not a duplicate", batch.id)
        return batch

    def _log_retry(self, call: _Call, plan: _Plan, attempt: int) -> None:
        logger.info(
            "%s %s failed (%s); retry %d of %d in %.2f s",
            call.method,
            call.path,
            plan.error,
            attempt + 1,
            self.max_retries,
            plan.delay,
        )


class BatchTransport(_ClientCommon):
    """Synchronous transport for an OpenAI-compatible Batch API (OpenAI, Azure OpenAI, or the local server)."""

    _http: httpx.Client

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        api_version: Optional[str] = None,
        max_retries: int = 2,
        timeout: Union[float, httpx.Timeout, None] = 60.0,
        transport: Optional[httpx.BaseTransport] = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        event_hooks: Optional[EventHooks] = None,
        provider: Optional[str] = None,
    ) -> None:
        http_hooks, self._batch_hooks = _split_hooks(event_hooks)
        self._core = _make_core(api_key, base_url, organization, project, api_version, max_retries, timeout, provider)
        self._http = httpx.Client(**self._core.http_options(transport, False), event_hooks=http_hooks)
        self.sleep = sleep
        self.clock = clock

    def _emit(self, batch: Batch) -> Batch:
        self._hooked(batch)
        return batch

    def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response: Optional[httpx.Response] = None
            exc: Optional[httpx.TransportError] = None
            try:
                response = self._http.send(self._core.request(self._http, call), stream=True)
                try:
                    if response.is_success:
                        return self._receive(call, response)
                    response.read()
                finally:
                    response.close()
            except httpx.TransportError as err:
                response, exc = None, err
            plan = self._core.after_failure(call, attempt, response, exc)
            if plan.delay is not None:
                self._log_retry(call, plan, attempt)
                self.sleep(plan.delay)  # also gives an in-flight create time to show up in the list
            if plan.lookup is not None:
                try:
                    found = self._send(plan.lookup)
                except APIError as lookup_error:
                    raise plan.error from lookup_error
                if found is not None:
                    return self._found_existing(found)
            if plan.delay is None:
                raise plan.error from exc
            attempt += 1

    def _receive(self, call: _Call, response: httpx.Response) -> Any:
        if call.download is None:
            response.read()
            result = call.parse(response)
        else:
            result = call.download.save(response)
        return call.postprocess(result) if call.postprocess else result

    # -- batches -------------------------------------------------------------------------------------------
    def list_batches(self, limit: int = 20, after: Optional[str] = None) -> BatchPage:
        """One page of batches, newest first."""
        return self._send(self._core.list_batches(limit, after))

    def iter_batches(self, page_size: int = 100, *, max_pages: int = MAX_PAGES) -> Iterator[Batch]:
        """Every batch, newest first, page by page (stops with a warning if the server pages badly)."""
        pager = CursorPager(page_size, max_pages)
        while not pager.done:
            yield from pager.take(self.list_batches(page_size, pager.after))

    def retrieve_batch(self, batch_id: str) -> Batch:
        return self._emit(self._send(self._core.retrieve_batch(batch_id)))

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: Optional[dict[str, str]] = None,
        output_expires_after: Union[int, dict[str, Any], None] = None,
    ) -> Batch:
        """Create a batch. Tagged in metadata (``facts.REQUEST_TAG_KEY``) so that a retry after a failure that may
        have reached the server returns the batch it created instead of creating a second one."""
        call = self._core.create_batch(input_file_id, endpoint, completion_window, metadata, output_expires_after)
        return self._emit(self._send(call))

    def create_inline_batch(self, requests: list[dict], *, metadata: Optional[dict[str, str]] = None) -> Batch:
        """Create a batch from requests sent in the call itself (Anthropic's ``{custom_id, params}``); dialects
        that take an uploaded file raise UnsupportedByProviderError. ``submit`` converts input lines for you."""
        return self._emit(self._send(self._core.create_inline(requests, metadata)))

    def cancel_batch(self, batch_id: str) -> Batch:
        """Ask to cancel; a batch that already ended raises ConflictError (409, never retried)."""
        return self._emit(self._send(self._core.cancel_batch(batch_id)))

    # -- files ---------------------------------------------------------------------------------------------
    def upload_file(self, file: FileInput, *, purpose: str = "batch", filename: Optional[str] = None) -> FileObject:
        """Upload a path, bytes or binary file object (streamed from disk; retried only if re-readable)."""
        with upload_source(file, filename) as (fh, name, seekable):
            return self._send(self._core.upload_file(fh, name, purpose, seekable))

    def retrieve_file(self, file_id: str) -> FileObject:
        return self._send(self._core.retrieve_file(file_id))

    def file_content(self, file_id: str) -> bytes:
        return self._send(self._core.file_content(file_id))

    def download_file(self, file_id: str, path: Union[str, "PathLike[str]"]) -> Path:
        """Stream a file's content to ``path`` (a file, or a directory for ``<file_id>.jsonl``) in constant
        memory; the file appears only once complete, and a dropped connection resumes where it stopped."""
        download = Download(file_id, path)
        try:
            return self._send(self._core.file_content(file_id, download))
        finally:
            download.discard()

    def delete_file(self, file_id: str) -> FileDeleted:
        return self._send(self._core.delete_file(file_id))

    def list_files(
        self, purpose: Optional[str] = None, limit: int = 10_000, after: Optional[str] = None, order: str = "desc"
    ) -> FilePage:
        return self._send(self._core.list_files(purpose, limit, after, order))

    # -- models --------------------------------------------------------------------------------------------
    def list_models(self) -> list[Model]:
        """The models the server offers (``GET /v1/models``); the local server lists what it answers for."""
        return self._send(self._core.list_models())

    # -- lifetime ------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "BatchTransport":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class AsyncBatchTransport(_ClientCommon):
    """The async twin of BatchTransport: the same methods as coroutines, built on the same core."""

    _http: httpx.AsyncClient

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        api_version: Optional[str] = None,
        max_retries: int = 2,
        timeout: Union[float, httpx.Timeout, None] = 60.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        event_hooks: Optional[EventHooks] = None,
        provider: Optional[str] = None,
    ) -> None:
        http_hooks, self._batch_hooks = _split_hooks(event_hooks)
        self._core = _make_core(api_key, base_url, organization, project, api_version, max_retries, timeout, provider)
        self._http = httpx.AsyncClient(**self._core.http_options(transport, True), event_hooks=http_hooks)
        self.sleep = sleep
        self.clock = clock

    async def _emit(self, batch: Batch) -> Batch:
        for result in self._hooked(batch):  # "batch" hooks may be plain functions or coroutines
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception:
                    logger.exception("batch event hook failed")
        return batch

    async def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response: Optional[httpx.Response] = None
            exc: Optional[httpx.TransportError] = None
            try:
                response = await self._http.send(self._core.request(self._http, call), stream=True)
                try:
                    if response.is_success:
                        return await self._receive(call, response)
                    await response.aread()
                finally:
                    await response.aclose()
            except httpx.TransportError as err:
                response, exc = None, err
            plan = self._core.after_failure(call, attempt, response, exc)
            if plan.delay is not None:
                self._log_retry(call, plan, attempt)
                await self.sleep(plan.delay)
            if plan.lookup is not None:
                try:
                    found = await self._send(plan.lookup)
                except APIError as lookup_error:
                    raise plan.error from lookup_error
                if found is not None:
                    return self._found_existing(found)
            if plan.delay is None:
                raise plan.error from exc
            attempt += 1

    async def _receive(self, call: _Call, response: httpx.Response) -> Any:
        if call.download is None:
            await response.aread()
            result = call.parse(response)
        else:
            result = await call.download.asave(response)
        return call.postprocess(result) if call.postprocess else result

    async def list_batches(self, limit: int = 20, after: Optional[str] = None) -> BatchPage:
        return await self._send(self._core.list_batches(limit, after))

    async def iter_batches(self, page_size: int = 100, *, max_pages: int = MAX_PAGES) -> AsyncIterator[Batch]:
        pager = CursorPager(page_size, max_pages)
        while not pager.done:
            for batch in pager.take(await self.list_batches(page_size, pager.after)):
                yield batch

    async def retrieve_batch(self, batch_id: str) -> Batch:
        return await self._emit(await self._send(self._core.retrieve_batch(batch_id)))

    async def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: Optional[dict[str, str]] = None,
        output_expires_after: Union[int, dict[str, Any], None] = None,
    ) -> Batch:
        call = self._core.create_batch(input_file_id, endpoint, completion_window, metadata, output_expires_after)
        return await self._emit(await self._send(call))

    async def create_inline_batch(self, requests: list[dict], *, metadata: Optional[dict[str, str]] = None) -> Batch:
        return await self._emit(await self._send(self._core.create_inline(requests, metadata)))

    async def cancel_batch(self, batch_id: str) -> Batch:
        return await self._emit(await self._send(self._core.cancel_batch(batch_id)))

    async def upload_file(
        self, file: FileInput, *, purpose: str = "batch", filename: Optional[str] = None
    ) -> FileObject:
        with upload_source(file, filename) as (fh, name, seekable):
            return await self._send(self._core.upload_file(fh, name, purpose, seekable))

    async def retrieve_file(self, file_id: str) -> FileObject:
        return await self._send(self._core.retrieve_file(file_id))

    async def file_content(self, file_id: str) -> bytes:
        return await self._send(self._core.file_content(file_id))

    async def download_file(self, file_id: str, path: Union[str, "PathLike[str]"]) -> Path:
        download = Download(file_id, path)
        try:
            return await self._send(self._core.file_content(file_id, download))
        finally:
            download.discard()

    async def delete_file(self, file_id: str) -> FileDeleted:
        return await self._send(self._core.delete_file(file_id))

    async def list_files(
        self, purpose: Optional[str] = None, limit: int = 10_000, after: Optional[str] = None, order: str = "desc"
    ) -> FilePage:
        return await self._send(self._core.list_files(purpose, limit, after, order))

    async def list_models(self) -> list[Model]:
        """The models the server offers (``GET /v1/models``)."""
        return await self._send(self._core.list_models())

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncBatchTransport":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
