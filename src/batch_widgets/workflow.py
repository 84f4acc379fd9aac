"""The whole loop in four calls on top of either transport: submit, wait, results, retry_failed.

    batch = client.submit(build_requests(df, model="gpt-4o-mini"), description="eval run", tags=["eval"])
    batch = client.wait(batch.id)                  # progress bar in a notebook, one \\r line in a terminal
    df = client.results(batch.id).to_dataframe()
    client.retry_failed(batch.id)                  # only the failed / expired / never-run requests

``Workflow`` drives a ``BatchTransport``, ``AsyncWorkflow`` an ``AsyncBatchTransport`` with the same names and
arguments (``await aclient.submit(...)``); ``BatchClient`` / ``AsyncBatchClient`` delegate to them. The
decisions (what to validate and split, how long to sleep, what a retry inherits) are shared; only the calls
differ.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence, TextIO, Union

from .errors import (
    APIConnectionError,
    BatchWidgetsError,
    InputTooLargeError,
    InvalidRequestsError,
    LineProblem,
    RateLimitError,
    ServerError,
    UnsupportedByProviderError,
)
from .facts import (
    DEFAULT_COMPLETION_WINDOW,
    DESCRIPTION_KEY,
    METADATA_MAX_KEY_CHARS,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_CHARS,
    PARENT_KEY,
    PER_BATCH_KEYS,
    REQUEST_TAG_KEY,
    TAGS_KEY,
    TAGS_SEPARATOR,
)

log = logging.getLogger(__name__)
#: Failures wait() rides out: the request may work again in a moment.
_TRANSIENT = (APIConnectionError, RateLimitError, ServerError)

if TYPE_CHECKING:
    from .models import Batch, RequestCounts
    from .results import BatchResults
    from .transport import AsyncBatchTransport, BatchTransport

__all__ = [
    "AsyncWorkflow",
    "InvalidMetadataError",
    "Workflow",
    "build_metadata",
    "endpoint_of",
    "request_lines",
    "split_lines",
]

Requests = Union[str, "os.PathLike[str]", Iterable[Mapping[str, Any]], Any]


class InvalidMetadataError(BatchWidgetsError, ValueError):
    """Batch metadata breaks the API's limits; nothing was uploaded."""


def build_metadata(
    metadata: Optional[Mapping[str, Any]] = None,
    *,
    description: Optional[str] = None,
    tags: Optional[Sequence[str]] = None,
) -> dict[str, str]:
    """Metadata with ``description`` and comma-joined ``tags`` added, checked against the API's limits
    (``facts.METADATA_MAX_*``: how many keys, how long a key, how long a string value). Every problem is listed
    in one error."""
    result: dict[str, Any] = dict(metadata or {})
    if description is not None:
        result[DESCRIPTION_KEY] = description
    if tags is not None:
        if isinstance(tags, str):
            tags = [tags]
        cleaned = [str(t).strip() for t in tags]
        bad = [t for t in cleaned if TAGS_SEPARATOR in t or not t]
        if bad:
            raise InvalidMetadataError(f"tags cannot be empty or contain commas (they travel comma-joined): {bad}")
        result[TAGS_KEY] = TAGS_SEPARATOR.join(cleaned)
    problems = []
    if len(result) > METADATA_MAX_KEYS:
        problems.append(f"{len(result)} keys, at most {METADATA_MAX_KEYS} allowed (keys: {sorted(result)})")
    for key, value in result.items():
        if not isinstance(key, str) or not key:
            problems.append(f"key {key!r} must be a non-empty string")
        elif len(key) > METADATA_MAX_KEY_CHARS:
            problems.append(f"key {key[:20]!r}... is {len(key)} characters, at most {METADATA_MAX_KEY_CHARS}")
        if value is None or isinstance(value, (dict, list, tuple, set)):
            problems.append(f"value of {key!r} must be a string, not {type(value).__name__}")
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) > METADATA_MAX_VALUE_CHARS:
            problems.append(f"value of {key!r} is {len(text)} characters, at most {METADATA_MAX_VALUE_CHARS}")
        result[key] = text
    if problems:
        raise InvalidMetadataError("invalid batch metadata; nothing was uploaded:\n  " + "\n  ".join(problems))
    return result


def split_lines(lines: Sequence[bytes], *, max_requests: int, max_bytes: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of at most ``max_requests`` lines and ``max_bytes`` bytes (newlines counted)."""
    ranges, start, size = [], 0, 0
    for index, line in enumerate(lines):
        length = len(line) + 1
        if index > start and (index - start >= max_requests or size + length > max_bytes):
            ranges.append((start, index))
            start, size = index, 0
        size += length
    if lines:
        ranges.append((start, len(lines)))
    return ranges


def request_lines(requests: Requests, endpoint: Optional[str] = None, **build_options: Any) -> tuple[list[bytes], str]:
    """The encoded input lines ``submit`` would send, and where they came from (for error messages): a path,
    JSONL bytes, a DataFrame, rows or prompts (built with ``build_requests`` and its keywords, ``model=``...),
    or input lines. The same inputs as ``validation.validate_requests``."""
    from .jsonl import DEFAULT_ENDPOINT, build_requests, builds_rows, encode_line

    if not isinstance(requests, (str, os.PathLike, bytes, bytearray)) and not hasattr(requests, "columns"):
        requests = list(requests)  # looked at twice: lines or rows?
    if builds_rows(requests, build_options):
        options: dict[str, Any] = {**build_options, **({"endpoint": endpoint} if endpoint else {})}
        built = build_requests(requests, **options)
        source = os.fspath(requests) if isinstance(requests, (str, os.PathLike)) else "the requests"
        return [encode_line(item) for item in built], source
    if build_options:
        raise TypeError(
            f"{', '.join(sorted(build_options))}: only used when building requests from rows "
            "(a DataFrame, a table file, or dicts/prompts), not with ready input lines"
        )
    if isinstance(requests, (str, os.PathLike)):
        with open(requests, "rb") as handle:
            return [line.rstrip(b"\r\n") for line in handle if line.strip()], os.fspath(requests)
    if isinstance(requests, (bytes, bytearray)):
        return [line.rstrip(b"\r") for line in bytes(requests).split(b"\n") if line.strip()], "the requests"
    if hasattr(requests, "columns"):  # a DataFrame of prompts/messages/bodies
        requests = build_requests(requests, endpoint=endpoint or DEFAULT_ENDPOINT)
    items = list(requests)
    if all(isinstance(i, bytes) for i in items):
        return items, "the requests"
    # Input lines (even broken ones: the validator will say what is wrong) or rows/prompts to build them from.
    if not any(isinstance(i, Mapping) and ("body" in i or "url" in i) for i in items):
        items = build_requests(items, endpoint=endpoint or DEFAULT_ENDPOINT)
    return [
        encode_line(item) if isinstance(item, Mapping) else json.dumps(item).encode() for item in items
    ], "the requests"


def endpoint_of(first_line: bytes) -> Optional[str]:
    try:
        url = json.loads(first_line).get("url")
    except (ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url.startswith("/") else None


class _SubmitPlan:
    """What submit sends, validated before anything is uploaded (pure: no client needed). One batch: an input
    over one batch's limits raises InputTooLargeError pointing to ``submit_job``."""

    def __init__(
        self,
        requests: Requests,
        endpoint: Optional[str],
        description: Optional[str],
        tags: Optional[Sequence[str]],
        metadata: Optional[Mapping[str, Any]],
        *,
        accepted: Optional[Sequence[str]] = None,
        build_options: Optional[Mapping[str, Any]] = None,
        inline: bool = False,
    ) -> None:
        from .jsonl import DEFAULT_ENDPOINT, upload_filename
        from .validation import MAX_FILE_BYTES, MAX_REQUESTS, validate_lines

        lines, source = request_lines(requests, endpoint, **(build_options or {}))
        # The uploaded file's name says what it is: the user's file, else the description, else "requests".
        self.filename = upload_filename(
            requests if isinstance(requests, (str, os.PathLike)) else None, description=description
        )
        if not lines:
            raise InvalidRequestsError([LineProblem(None, "empty_file", "the input holds no requests")], source)
        self.endpoint = endpoint or endpoint_of(lines[0]) or DEFAULT_ENDPOINT
        base = build_metadata(metadata, description=description, tags=tags)
        base.pop(REQUEST_TAG_KEY, None)
        #: Anthropic's inline ``{custom_id, params}`` (its own limits and rules), else None: upload the lines.
        self.inline: Optional[list[dict]] = None
        if inline:
            from .providers.anthropic import requests_from_lines

            self.lines, self.metadata, self.inline = lines, base or None, requests_from_lines(lines, source)
            return
        ranges = split_lines(lines, max_requests=MAX_REQUESTS, max_bytes=MAX_FILE_BYTES)
        if len(ranges) > 1:
            size = sum(len(line) + 1 for line in lines)
            raise InputTooLargeError(
                f"{source} holds {len(lines):,} requests ({size / 2**20:,.1f} MiB); one batch takes at most "
                f"{MAX_REQUESTS:,} requests and {MAX_FILE_BYTES // 2**20} MiB, so it needs {len(ranges)} batches. "
                "Use client.submit_job(...) with the same arguments: it splits the input into parts, retries "
                "failures and merges the results as one job. Nothing was uploaded."
            )
        report = validate_lines(lines, endpoint=self.endpoint, source=source, endpoints=accepted)
        if not report.ok:
            raise InvalidRequestsError(report.problems, source)
        self.lines, self.metadata = lines, base or None


def _check_inputs_returned(client: Any) -> None:
    """retry_failed rebuilds requests from the batch's input file; inline batches (Anthropic) have none."""
    if not getattr(client, "supports_files", True):
        raise UnsupportedByProviderError(
            f"retry_failed needs the batch's input lines and {client.provider} does not return them; resubmit "
            "the failed requests from your own input: client.submit([lines whose custom_id failed])"
        )


def _batch_id(batch: Any) -> str:
    """The id of a batch given as its id or as an object with an ``id`` (ours, or an SDK's)."""
    return getattr(batch, "id", batch)


class _Waiter:
    """wait()'s decisions, shared by the sync and async workflow: what each poll means and how long to sleep.
    Time comes from the client's clock, so tests run a long wait without real time passing."""

    def __init__(
        self,
        batch_id: str,
        clock: Callable[[], float],
        *,
        poll_interval: float,
        max_poll_interval: float,
        timeout: Optional[float],
        progress: bool,
        max_outage: float,
    ) -> None:
        self.batch_id, self.clock, self.timeout = batch_id, clock, timeout
        self.poll_interval, self.max_poll_interval, self.max_outage = poll_interval, max_poll_interval, max_outage
        self.deadline = None if timeout is None else clock() + timeout
        self.reporter = make_progress(batch_id) if progress else None
        self.interval = poll_interval
        self.last: Optional["Batch"] = None
        self.outage_since: Optional[float] = None

    def step(self, batch: Optional["Batch"], error: Optional[Exception]) -> tuple[Optional[float], Optional["Batch"]]:
        """One poll's outcome -> (seconds to sleep, or None once the batch ended; the batch if it changed)."""
        now = self.clock()
        if error is not None:
            # The client already retried this call; a longer outage is waited out, not fatal.
            self.outage_since = now if self.outage_since is None else self.outage_since
            if now - self.outage_since > self.max_outage:
                raise error
            log.warning("wait(%s): %s; still waiting", self.batch_id, error)
            batch = self.last
        else:
            self.outage_since = None
        changed = None
        if batch is not None and batch != self.last:
            self.interval = self.poll_interval
            if self.reporter:
                self.reporter.update(batch)
            self.last = changed = batch
        else:
            self.interval = min(self.interval * 2, self.max_poll_interval)
        if batch is not None and batch.is_terminal:
            return None, changed
        if self.deadline is not None and now >= self.deadline:
            state = (
                f"still {batch.status} ({batch.request_counts.done}/{batch.request_counts.total} requests done)"
                if batch is not None
                else "unreachable"
            )
            raise TimeoutError(f"batch {self.batch_id} is {state} after {self.timeout:g} s")
        return (self.interval if self.deadline is None else max(0.0, min(self.interval, self.deadline - now))), changed

    @property
    def ended(self) -> "Batch":
        """The terminal batch: step() returns no delay only once it has seen one."""
        if self.last is None:
            raise RuntimeError(f"wait({self.batch_id}) ended without a batch")
        return self.last

    def close(self) -> None:
        if self.reporter:
            self.reporter.close()


def _retry_metadata(parent: "Batch", metadata: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    inherited = {k: v for k, v in (parent.metadata or {}).items() if k not in PER_BATCH_KEYS}
    return {**inherited, **(metadata or {}), PARENT_KEY: parent.id}


def _check_retryable(parent: "Batch") -> None:
    if parent.is_active:
        raise ValueError(f"batch {parent.id} is still {parent.status}; wait for it to end before retrying")


def _failed_lines(parent: "Batch", results: "BatchResults") -> list[Mapping[str, Any]]:
    try:
        lines = results.failed_requests()
    finally:
        results.close()
    if not lines:
        raise ValueError(f"batch {parent.id} has no failed, expired or unexecuted requests to retry")
    return lines


class Workflow:
    """submit / wait / results / retry_failed on top of a sync transport (``BatchClient`` delegates here)."""

    def __init__(self, client: "BatchTransport") -> None:
        self.client = client

    # -- submit ------------------------------------------------------------------------------------------
    def submit(
        self,
        requests: Requests,
        *,
        endpoint: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        **build_options: Any,
    ) -> "Batch":
        """Validate, upload and create in one call.

        ``requests`` is a list of input lines (dicts), a path to a JSONL file, JSONL bytes, or rows that
        :func:`~batch_widgets.jsonl.build_requests` understands, with its keywords (``submit(df, model=...)``,
        ``prompt_column=``, ``body_template=``...). Everything is validated (and every problem
        reported with its line) before anything is uploaded. An input over one batch's limits
        (``facts.MAX_REQUESTS`` requests or ``facts.MAX_FILE_BYTES``) raises
        :class:`~batch_widgets.errors.InputTooLargeError` pointing to ``submit_job``, which splits it into parts
        and tracks them as one job.
        """
        from .jsonl import write_jsonl

        plan = _SubmitPlan(
            requests,
            endpoint,
            description,
            tags,
            metadata,
            accepted=getattr(self.client, "accepted_endpoints", None),
            build_options=build_options,
            inline=not getattr(self.client, "supports_files", True),
        )
        if plan.inline is not None:  # Anthropic: no upload, the requests go in the create call
            return self.client.create_inline_batch(plan.inline, metadata=plan.metadata)
        path = write_jsonl(plan.lines)
        try:
            uploaded = self.client.upload_file(path, purpose="batch", filename=plan.filename)
        finally:
            path.unlink(missing_ok=True)
        return self.client.create_batch(
            uploaded.id, plan.endpoint, completion_window=completion_window, metadata=plan.metadata
        )

    # -- wait --------------------------------------------------------------------------------------------
    def wait(
        self,
        batch_id: Union[str, "Batch", Sequence[Union[str, "Batch"]]],
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        timeout: Optional[float] = None,
        on_update: Optional[Callable[["Batch"], Any]] = None,
        progress: bool = True,
        max_outage: float = 600.0,
    ) -> Union["Batch", list["Batch"]]:
        """Block until the batch is completed, failed, expired or cancelled; return it.

        Polls every ``poll_interval`` seconds, doubling up to ``max_poll_interval`` while nothing changes and
        back to ``poll_interval`` on any change. ``on_update(batch)`` is called on each change. ``timeout``
        (seconds) raises ``TimeoutError``. A list of batches (from a split submit) is waited for in turn.
        Connection errors, rate limits and server errors are waited out for up to ``max_outage`` seconds.
        Time is the client's: its ``clock`` and ``sleep``.
        """
        options: dict[str, Any] = dict(
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            progress=progress,
            max_outage=max_outage,
        )
        if isinstance(batch_id, (list, tuple)):
            return [self._wait_one(_batch_id(b), on_update, options) for b in batch_id]
        return self._wait_one(_batch_id(batch_id), on_update, options)

    def _wait_one(
        self, batch_id: str, on_update: Optional[Callable[["Batch"], Any]], options: dict[str, Any]
    ) -> "Batch":
        waiter = _Waiter(batch_id, self.client.clock, **options)
        try:
            while True:
                try:
                    batch, error = self.client.retrieve_batch(batch_id), None
                except _TRANSIENT as exc:
                    batch, error = None, exc
                delay, changed = waiter.step(batch, error)
                if changed is not None and on_update is not None:
                    on_update(changed)
                if delay is None:
                    return waiter.ended
                self.client.sleep(delay)
        finally:
            waiter.close()

    # -- results -----------------------------------------------------------------------------------------
    def results(
        self,
        batch_id: Union[str, "Batch"],
        *,
        directory: Optional[Union[str, "os.PathLike[str]"]] = None,
        include_inputs: bool = True,
    ) -> "BatchResults":
        """The batch's output and error files (streamed to ``directory`` or a temporary one), joined to its
        input lines; ``.to_dataframe()`` gives one row per request."""
        from .results import BatchResults

        return BatchResults.from_batch(self.client, batch_id, directory=directory, include_inputs=include_inputs)

    # -- retry -------------------------------------------------------------------------------------------
    def retry_failed(
        self,
        batch_id: Union[str, "Batch"],
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> "Batch":
        """Submit a new batch of the requests that failed, expired or never ran; its metadata names the parent
        in ``parent_batch_id`` and keeps the parent's description and tags unless new ones are given."""
        _check_inputs_returned(self.client)
        parent = batch_id if not isinstance(batch_id, str) else self.client.retrieve_batch(batch_id)
        _check_retryable(parent)
        lines = _failed_lines(parent, self.results(parent))
        return self.submit(
            lines,
            endpoint=parent.endpoint,
            description=description,
            tags=tags,
            metadata=_retry_metadata(parent, metadata),
        )


class AsyncWorkflow:
    """The async twin of :class:`Workflow`: the same methods and arguments, awaited (``AsyncBatchClient``
    delegates here)."""

    def __init__(self, client: "AsyncBatchTransport") -> None:
        self.client = client

    async def submit(
        self,
        requests: Requests,
        *,
        endpoint: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        **build_options: Any,
    ) -> "Batch":
        from .jsonl import write_jsonl

        plan = _SubmitPlan(
            requests,
            endpoint,
            description,
            tags,
            metadata,
            accepted=getattr(self.client, "accepted_endpoints", None),
            build_options=build_options,
            inline=not getattr(self.client, "supports_files", True),
        )
        if plan.inline is not None:
            return await self.client.create_inline_batch(plan.inline, metadata=plan.metadata)
        path = write_jsonl(plan.lines)
        try:
            uploaded = await self.client.upload_file(path, purpose="batch", filename=plan.filename)
        finally:
            path.unlink(missing_ok=True)
        return await self.client.create_batch(
            uploaded.id, plan.endpoint, completion_window=completion_window, metadata=plan.metadata
        )

    submit.__doc__ = Workflow.submit.__doc__

    async def wait(
        self,
        batch_id: Union[str, "Batch", Sequence[Union[str, "Batch"]]],
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        timeout: Optional[float] = None,
        on_update: Optional[Callable[["Batch"], Any]] = None,
        progress: bool = True,
        max_outage: float = 600.0,
    ) -> Union["Batch", list["Batch"]]:
        options: dict[str, Any] = dict(
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            progress=progress,
            max_outage=max_outage,
        )
        if isinstance(batch_id, (list, tuple)):
            return [await self._wait_one(_batch_id(b), on_update, options) for b in batch_id]
        return await self._wait_one(_batch_id(batch_id), on_update, options)

    async def _wait_one(
        self, batch_id: str, on_update: Optional[Callable[["Batch"], Any]], options: dict[str, Any]
    ) -> "Batch":
        waiter = _Waiter(batch_id, self.client.clock, **options)
        try:
            while True:
                try:
                    batch, error = await self.client.retrieve_batch(batch_id), None
                except _TRANSIENT as exc:
                    batch, error = None, exc
                delay, changed = waiter.step(batch, error)
                if changed is not None and on_update is not None:
                    outcome = on_update(changed)
                    if inspect.isawaitable(outcome):  # an async on_update is awaited
                        await outcome
                if delay is None:
                    return waiter.ended
                await self.client.sleep(delay)
        finally:
            waiter.close()

    wait.__doc__ = (Workflow.wait.__doc__ or "") + "\n        ``on_update`` may be a coroutine function.\n"

    async def results(
        self,
        batch_id: Union[str, "Batch"],
        *,
        directory: Optional[Union[str, "os.PathLike[str]"]] = None,
        include_inputs: bool = True,
    ) -> "BatchResults":
        from .results import BatchResults

        return await BatchResults.afrom_batch(self.client, batch_id, directory=directory, include_inputs=include_inputs)

    results.__doc__ = Workflow.results.__doc__

    async def retry_failed(
        self,
        batch_id: Union[str, "Batch"],
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> "Batch":
        _check_inputs_returned(self.client)
        parent = batch_id if not isinstance(batch_id, str) else await self.client.retrieve_batch(batch_id)
        _check_retryable(parent)
        lines = _failed_lines(parent, await self.results(parent))
        return await self.submit(
            lines,
            endpoint=parent.endpoint,
            description=description,
            tags=tags,
            metadata=_retry_metadata(parent, metadata),
        )

    retry_failed.__doc__ = Workflow.retry_failed.__doc__


# --------------------------------------------------------------------------------------------- progress


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where a widget progress bar can be shown)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progressing(Protocol):
    """What a progress display reads: a batch, or a job of several batches."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def is_terminal(self) -> bool: ...
    @property
    def request_counts(self) -> "RequestCounts": ...


def _summary(batch: Progressing) -> str:
    counts = batch.request_counts
    failed = f", {counts.failed:,} failed" if counts.failed else ""
    return f"{batch.id}: {batch.status} {counts.done:,}/{counts.total:,}{failed}"


class TerminalProgress:
    """One line rewritten in place with ``\\r``; finished with a newline."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self._width, self._started = stream, 0, time.monotonic()

    def update(self, batch: Progressing) -> None:
        counts = batch.request_counts
        percent = f" ({100 * counts.done / counts.total:.0f}%)" if counts.total else ""
        text = f"{_summary(batch)}{percent}  {time.monotonic() - self._started:.0f}s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self._width:
            self.stream.write("\n")
            self.stream.flush()


class NotebookProgress:
    """An ipywidgets progress bar with a label, displayed in the cell's output."""

    def __init__(self, batch_id: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.IntProgress(min=0, max=1, value=0, description="", layout=w.Layout(width="40%"))
        self.label = w.Label(f"{batch_id}: waiting")
        self.box = w.HBox([self.bar, self.label])
        display(self.box)

    def update(self, batch: Progressing) -> None:
        counts = batch.request_counts
        self.bar.max = max(counts.total, 1)
        self.bar.value = min(counts.done, self.bar.max)
        if batch.is_terminal:
            ok = batch.status == "completed" and not counts.failed
            self.bar.bar_style = "success" if ok else ("warning" if batch.status == "completed" else "danger")
        self.label.value = _summary(batch)

    def close(self) -> None:  # the bar stays in the output as a record of the final state
        pass


def make_progress(batch_id: str) -> Optional[Union[TerminalProgress, NotebookProgress]]:
    if in_kernel():
        return NotebookProgress(batch_id)
    if sys.stderr is not None and sys.stderr.isatty():
        return TerminalProgress(sys.stderr)
    return None  # piped output or a log file: no progress noise
