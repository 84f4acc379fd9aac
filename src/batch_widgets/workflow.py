"""The whole loop in four calls, mixed into ``BatchClient``: submit, wait, results, retry_failed.

    batch = client.submit(build_requests(df, model="gpt-4o-mini"), description="eval run", tags=["eval"])
    batch = client.wait(batch.id)                  # progress bar in a notebook, one \\r line in a terminal
    df = client.results(batch.id).to_dataframe()
    client.retry_failed(batch.id)                  # only the failed / expired / never-run requests
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence, TextIO, Union

from .errors import (
    APIConnectionError,
    BatchWidgetsError,
    InputTooLargeError,
    InvalidRequestsError,
    LineProblem,
    RateLimitError,
    ServerError,
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
    from .models import Batch
    from .results import BatchResults

__all__ = [
    "InvalidMetadataError",
    "WorkflowMixin",
    "build_metadata",
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


def _raw_lines(requests: Requests, endpoint: Optional[str]) -> tuple[list[bytes], str]:
    """Encoded input lines, and where they came from (for error messages)."""
    from .jsonl import build_requests, encode_line

    if isinstance(requests, (str, os.PathLike)):
        with open(requests, "rb") as handle:
            return [line.rstrip(b"\r\n") for line in handle if line.strip()], os.fspath(requests)
    if isinstance(requests, (bytes, bytearray)):
        return [line.rstrip(b"\r") for line in bytes(requests).split(b"\n") if line.strip()], "the requests"
    if hasattr(requests, "columns"):  # a DataFrame of prompts/messages/bodies
        requests = build_requests(requests, **({"endpoint": endpoint} if endpoint else {}))
    items = list(requests)
    if all(isinstance(i, bytes) for i in items):
        return items, "the requests"
    # Input lines (even broken ones: the validator will say what is wrong) or rows/prompts to build them from.
    if not any(isinstance(i, Mapping) and ("body" in i or "url" in i) for i in items):
        items = build_requests(items, **({"endpoint": endpoint} if endpoint else {}))
    return [encode_line(item) if isinstance(item, Mapping) else json.dumps(item).encode() for item in items], \
        "the requests"


def _endpoint_of(first_line: bytes) -> Optional[str]:
    try:
        url = json.loads(first_line).get("url")
    except (ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url.startswith("/") else None


class WorkflowMixin:
    """submit / wait / results / retry_failed on top of BatchClient's plain API calls."""

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
    ) -> "Batch":
        """Validate, upload and create in one call.

        ``requests`` is a list of input lines (dicts), a path to a JSONL file, JSONL bytes, or rows that
        :func:`~batch_widgets.jsonl.build_requests` understands. Everything is validated (and every problem
        reported with its line) before anything is uploaded. An input over one batch's limits
        (``facts.MAX_REQUESTS`` requests or ``facts.MAX_FILE_BYTES``) raises
        :class:`~batch_widgets.errors.InputTooLargeError` pointing to ``submit_job``, which splits it into parts
        and tracks them as one job.
        """
        from .jsonl import DEFAULT_ENDPOINT, write_jsonl
        from .validation import MAX_FILE_BYTES, MAX_REQUESTS, validate_lines

        lines, source = _raw_lines(requests, endpoint)
        if not lines:
            raise InvalidRequestsError([LineProblem(None, "empty_file", "the input holds no requests")], source)
        endpoint = endpoint or _endpoint_of(lines[0]) or DEFAULT_ENDPOINT
        base = build_metadata(metadata, description=description, tags=tags)
        base.pop(REQUEST_TAG_KEY, None)
        ranges = split_lines(lines, max_requests=MAX_REQUESTS, max_bytes=MAX_FILE_BYTES)
        if len(ranges) > 1:
            size = sum(len(line) + 1 for line in lines)
            raise InputTooLargeError(
                f"{source} holds {len(lines):,} requests ({size / 2**20:,.1f} MiB); one batch takes at most "
                f"{MAX_REQUESTS:,} requests and {MAX_FILE_BYTES // 2**20} MiB, so it needs {len(ranges)} batches. "
                "Use client.submit_job(...) with the same arguments: it splits the input into parts, retries "
                "failures and merges the results as one job. Nothing was uploaded.")
        report = validate_lines(lines, endpoint=endpoint, source=source,
                                endpoints=getattr(self, "accepted_endpoints", None))
        if not report.ok:
            raise InvalidRequestsError(report.problems, source)
        path = write_jsonl(lines)
        try:
            uploaded = self.upload_file(path, purpose="batch", filename="batch_input.jsonl")
        finally:
            path.unlink(missing_ok=True)
        return self.create_batch(uploaded.id, endpoint, completion_window=completion_window, metadata=base or None)

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
        """
        if isinstance(batch_id, (list, tuple)):
            return [self.wait(b, poll_interval=poll_interval, max_poll_interval=max_poll_interval,
                              timeout=timeout, on_update=on_update, progress=progress, max_outage=max_outage)
                    for b in batch_id]
        batch_id = getattr(batch_id, "id", batch_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        reporter = make_progress(batch_id) if progress else None
        interval, last, outage_since = poll_interval, None, None
        try:
            while True:
                try:
                    batch = self.retrieve_batch(batch_id)
                    outage_since = None
                except _TRANSIENT as exc:
                    # The client already retried this call; a longer outage is waited out, not fatal.
                    outage_since = outage_since or time.monotonic()
                    if time.monotonic() - outage_since > max_outage:
                        raise
                    log.warning("wait(%s): %s; still waiting", batch_id, exc)
                    batch = last
                if batch is not None and batch != last:
                    interval = poll_interval
                    if reporter:
                        reporter.update(batch)
                    if on_update is not None:
                        on_update(batch)
                    last = batch
                else:
                    interval = min(interval * 2, max_poll_interval)
                if batch is not None and batch.is_terminal:
                    return batch
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    state = f"still {batch.status} ({batch.request_counts.done}/{batch.request_counts.total} " \
                            "requests done)" if batch is not None else "unreachable"
                    raise TimeoutError(f"batch {batch_id} is {state} after {timeout:g} s")
                time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
        finally:
            if reporter:
                reporter.close()

    # -- results -----------------------------------------------------------------------------------------
    def results(
        self, batch_id: Union[str, "Batch"], *, directory: Optional[Union[str, "os.PathLike[str]"]] = None,
        include_inputs: bool = True,
    ) -> "BatchResults":
        """The batch's output and error files (streamed to ``directory`` or a temporary one), joined to its
        input lines; ``.to_dataframe()`` gives one row per request."""
        from .results import BatchResults

        return BatchResults.from_batch(self, batch_id, directory=directory, include_inputs=include_inputs)

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
        parent = batch_id if not isinstance(batch_id, str) else self.retrieve_batch(batch_id)
        if parent.is_active:
            raise ValueError(f"batch {parent.id} is still {parent.status}; wait for it to end before retrying")
        results = self.results(parent)
        try:
            lines = results.failed_requests()
        finally:
            results.close()
        if not lines:
            raise ValueError(f"batch {parent.id} has no failed, expired or unexecuted requests to retry")
        inherited = {k: v for k, v in (parent.metadata or {}).items()
                     if k not in PER_BATCH_KEYS}
        merged = {**inherited, **(metadata or {}), PARENT_KEY: parent.id}
        return self.submit(lines, endpoint=parent.endpoint, description=description, tags=tags, metadata=merged)


# --------------------------------------------------------------------------------------------- progress

def in_kernel() -> bool:
    """True inside a Jupyter kernel (where a widget progress bar can be shown)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _summary(batch: "Batch") -> str:
    counts = batch.request_counts
    failed = f", {counts.failed:,} failed" if counts.failed else ""
    return f"{batch.id}: {batch.status} {counts.done:,}/{counts.total:,}{failed}"


class TerminalProgress:
    """One line rewritten in place with ``\\r``; finished with a newline."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self._width, self._started = stream, 0, time.monotonic()

    def update(self, batch: "Batch") -> None:
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

    def update(self, batch: "Batch") -> None:
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
