"""The one validator of Batch API input: used by the local server, the Python API and mirrored by the JS panel.

Input is streamed line by line (never held whole), so a 200 MB file costs little memory. Every problem is
reported with its 1-based line number and a code; OpenAI's own codes where they exist (``invalid_json_line``,
``duplicate_custom_id``, ``url_mismatch``, ``model_mismatch``, ``empty_file``, ``too_many_tasks``), ours for
the rest. At most ``MAX_PROBLEMS`` problems are kept, but all are counted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Optional, Union

from .errors import InvalidRequestsError, LineProblem
from .facts import MAX_FILE_BYTES, MAX_REQUESTS, VALIDATION_CODES

__all__ = [
    "CODES",
    "MAX_FILE_BYTES",
    "MAX_PROBLEMS",
    "MAX_REQUESTS",
    "LineValidator",
    "ValidationReport",
    "validate_file",
    "validate_lines",
    "validate_requests",
]

MAX_PROBLEMS = 1_000
#: Every code the validator can report, with what it means.
CODES = VALIDATION_CODES

Line = Union[bytes, str]


@dataclass
class ValidationReport:
    """What the validator found. ``problems`` keeps at most MAX_PROBLEMS; ``problem_count`` counts them all."""

    problems: list[LineProblem] = field(default_factory=list)
    problem_count: int = 0
    line_count: int = 0  # requests seen (non-blank lines)
    model: Optional[str] = None
    endpoint: Optional[str] = None
    size_bytes: int = 0
    source: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def raise_for_problems(self) -> "ValidationReport":
        """Raise InvalidRequestsError listing every kept problem; return self when there are none."""
        if not self.ok:
            raise InvalidRequestsError(self.problems, self.source)
        return self


class LineValidator:
    """Incremental validator: ``feed`` lines one by one, then ``finish``. Holds only the set of custom ids."""

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        source: Optional[str] = None,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_FILE_BYTES,
        max_problems: int = MAX_PROBLEMS,
        endpoints: Optional[Collection[str]] = None,
    ) -> None:
        self.report = ValidationReport(endpoint=endpoint, source=source)
        # The endpoints the target accepts (None: any); the batch's endpoint is checked once, on its first line.
        self._endpoints = None if endpoints is None else tuple(endpoints)
        self._endpoint_checked = False
        self._fixed_endpoint = endpoint is not None
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._max_problems = max_problems
        self._seen: dict[str, int] = {}  # custom_id -> first line
        self._line_no = 0
        self._blank_from: Optional[int] = None  # first line of a run of blank lines not yet known to be trailing
        self.stopped = False  # set once the size cap is passed: nothing more is read

    def _problem(self, line: Optional[int], code: str, message: str, field: Optional[str] = None) -> None:
        # With a field, the message does not name it: every display shows the field beside the message.
        self.report.problem_count += 1
        if len(self.report.problems) < self._max_problems:
            self.report.problems.append(LineProblem(line, code, message, field))

    def feed(self, raw: Line) -> None:
        """Check one raw JSONL line (bytes or str, with or without its newline)."""
        if self.stopped:
            return
        self._line_no += 1
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8"))
        if not self._add_size(size + (0 if raw[-1:] in (b"\n", "\n") else 1)):
            return
        if not raw.strip():
            if self._blank_from is None:
                self._blank_from = self._line_no
            return
        self._start_request()
        try:
            obj = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError) and exc.lineno > 1:  # past the newline: say where in the line
                line = raw.rstrip(b"\r\n") if isinstance(raw, bytes) else raw.rstrip("\r\n")
                exc = _decode_error(line) or exc
            self._problem(self._line_no, "invalid_json_line", f"not valid JSON: {_json_error(exc)}")
            return
        self._check(self._line_no, obj)

    def feed_object(self, obj: Any) -> None:
        """Check one already-parsed request dict, as the next line (``validate_requests`` uses this)."""
        if self.stopped:
            return
        self._line_no += 1
        try:
            size = len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1
        except (TypeError, ValueError) as exc:
            self._start_request()
            self._problem(self._line_no, "invalid_line", f"request is not JSON-serialisable: {_short(exc)}")
            return
        if self._add_size(size):
            self._start_request()
            self._check(self._line_no, obj)

    def _add_size(self, size: int) -> bool:
        self.report.size_bytes += size
        if self.report.size_bytes <= self._max_bytes:
            return True
        self._problem(
            None,
            "file_too_large",
            f"the input is larger than {self._max_bytes:,} bytes; validation stopped at line {self._line_no}",
        )
        self.stopped = True
        return False

    def _start_request(self) -> None:
        self._flush_blanks()
        self._count_request()

    def _check(self, n: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            self._problem(n, "invalid_line", f"each line must be a JSON object, not {_json_type(obj)}")
            return
        self._check_custom_id(n, obj)
        method = obj.get("method")
        if method != "POST":
            what = "missing" if method is None else repr(method)
            self._problem(n, "invalid_method", f'must be "POST" (got {what})', "method")
        self._check_url(n, obj.get("url"))
        self._check_body(n, obj.get("body"))

    def _count_request(self) -> None:
        self.report.line_count += 1
        if self.report.line_count == self._max_requests + 1:
            self._problem(
                self._line_no,
                "too_many_tasks",
                f"a batch holds at most {self._max_requests:,} requests; this is request {self._max_requests + 1:,}",
            )

    def _flush_blanks(self) -> None:
        # Blank lines are only tolerated at the end of the file.
        if self._blank_from is not None:
            for n in range(self._blank_from, self._line_no):
                self._problem(n, "invalid_json_line", "empty line (only trailing blank lines are allowed)")
            self._blank_from = None

    def _check_custom_id(self, n: int, obj: dict) -> None:
        cid = obj.get("custom_id")
        if cid is None or cid == "":
            self._problem(n, "missing_custom_id", "missing or empty", "custom_id")
        elif not isinstance(cid, str):
            self._problem(n, "invalid_line", f"must be a string, not {_json_type(cid)}", "custom_id")
        elif cid in self._seen:
            self._problem(
                n, "duplicate_custom_id", f"{_clip(cid)!r} was already used on line {self._seen[cid]}", "custom_id"
            )
        else:
            self._seen[cid] = n

    def _check_url(self, n: int, url: Any) -> None:
        rep = self.report
        if not isinstance(url, str) or not url:
            self._problem(n, "url_mismatch", "missing or not a string", "url")
            return
        if rep.endpoint is None:
            rep.endpoint = url
        if url == rep.endpoint and not self._endpoint_checked:
            self._endpoint_checked = True
            if self._endpoints is not None and url not in self._endpoints:
                self._problem(
                    n,
                    "unsupported_endpoint",
                    f"{_clip(url)!r} is not a batch endpoint of this server; it accepts {', '.join(self._endpoints)}",
                    "url",
                )
        elif url != rep.endpoint:
            against = "the batch endpoint" if self._fixed_endpoint else "the first line's url"
            self._problem(n, "url_mismatch", f"{_clip(url)!r} differs from {against} {_clip(rep.endpoint)!r}", "url")

    def _check_body(self, n: int, body: Any) -> None:
        if not isinstance(body, dict):
            what = "missing" if body is None else _json_type(body)
            self._problem(n, "missing_body", f"must be a JSON object (got {what})", "body")
            return
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._problem(n, "missing_model", "missing or not a string", "body.model")
        elif self.report.model is None:
            self.report.model = model
        elif model != self.report.model:
            self._problem(
                n,
                "model_mismatch",
                f"{_clip(model)!r} differs from the first model {_clip(self.report.model)!r}; a batch uses one model",
                "body.model",
            )
        if body.get("stream") is True:
            self._problem(n, "stream_not_supported", "true is not supported in a batch", "body.stream")

    def finish(self) -> ValidationReport:
        if self.report.line_count == 0 and not self.stopped:
            self._problem(None, "empty_file", "the input holds no requests")
        return self.report


def validate_lines(
    lines: Iterable[Line],
    *,
    endpoint: Optional[str] = None,
    source: Optional[str] = None,
    endpoints: Optional[Collection[str]] = None,
) -> ValidationReport:
    """Validate JSONL lines (bytes or str, one request each) as they are iterated; ``endpoints``, when given,
    are the only urls the target accepts."""
    checker = LineValidator(endpoint, source=source, endpoints=endpoints)
    for raw in lines:
        checker.feed(raw)
        if checker.stopped:
            break
    return checker.finish()


def validate_file(path: Union[str, "os.PathLike[str]"], *, endpoint: Optional[str] = None) -> ValidationReport:
    """Validate a JSONL file on disk, streaming it (memory stays flat whatever its size)."""
    with open(path, "rb") as fh:
        return validate_lines(fh, endpoint=endpoint, source=os.fspath(path))


def validate_requests(requests: Any, *, endpoint: Optional[str] = None, **build_options: Any) -> ValidationReport:
    """Validate what :meth:`BatchClient.submit` would send, taking the same inputs and nothing uploaded:

    - a path to a JSONL file (streamed) or JSONL bytes;
    - input lines as dicts (``{"custom_id", "method", "url", "body"}``);
    - rows to build lines from: a DataFrame, a ``.csv``/``.parquet``/``.json`` path, or dicts/prompts together
      with :func:`~batch_widgets.jsonl.build_requests` keywords (``model=``, ``prompt_column=``, ...).

    Line numbers are 1-based positions in the JSONL file the input makes.
    """
    from .jsonl import build_requests, builds_rows

    if not isinstance(requests, (str, os.PathLike, bytes, bytearray)) and not hasattr(requests, "columns"):
        requests = list(requests)  # looked at twice: lines or rows?
    if builds_rows(requests, build_options):
        options: dict[str, Any] = {**build_options, **({"endpoint": endpoint} if endpoint else {})}
        requests = build_requests(requests, **options)
    elif build_options:
        raise TypeError(
            f"{', '.join(sorted(build_options))}: only used when building requests from rows "
            "(a DataFrame, a table file, or dicts/prompts)"
        )
    elif isinstance(requests, (str, os.PathLike)):
        return validate_file(requests, endpoint=endpoint)
    elif isinstance(requests, (bytes, bytearray)):
        return validate_lines(bytes(requests).splitlines(keepends=True), endpoint=endpoint, source="the requests")
    checker = LineValidator(endpoint, source="the requests")
    for obj in requests:
        checker.feed_object(obj)
        if checker.stopped:
            break
    return checker.finish()


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON (RFC 8259); Python accepts them, the API and the browser's JSON.parse do not.
    raise ValueError(f"{name} is not valid JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decode_error(line: Line) -> Optional[json.JSONDecodeError]:
    """The error of a line without its newline (a line cut short fails at its end: "column M", as the browser's
    validator says, not "line 2 column 1" past the newline)."""
    try:
        json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return exc
    except (ValueError, RecursionError):
        return None
    return None


def _json_error(exc: BaseException) -> str:
    # The line number is shown beside the message already, so keep only the parser's reason and the column
    # (JSONDecodeError's own text adds "line 1 column M (char N)").
    if isinstance(exc, json.JSONDecodeError):
        return _clip(f"{exc.msg} at column {exc.colno}", 120)
    return _short(exc)


def _short(exc: BaseException) -> str:
    return _clip(str(exc) or type(exc).__name__, 120)
