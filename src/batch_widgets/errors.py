"""Typed exceptions. One base class; API errors carry status, code, message and the server's request id.

No exception here ever holds the API key: messages are built from the response body and our own words only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class BatchWidgetsError(Exception):
    """Base class of every error batch_widgets raises on purpose."""


class LocalServerWarning(UserWarning):
    """No provider is configured, so the embedded local server answers (with simulated text and costs)."""


class APIError(BatchWidgetsError):
    """The API answered with an error status, or could not be reached."""

    #: Set when the answer shows the base URL has no Batch API (see ``_responses``).
    _wrong_base_url: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        param: Optional[str] = None,
        request_id: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        self.message = message
        #: How to fix it, when the cause is on our side (a wrong key or base URL); shown after the message.
        self.hint = hint
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else None, self.code, self.message]
        text = ": ".join(p for p in parts if p)
        text = f"{text} (request id {self.request_id})" if self.request_id else text
        return f"{text.rstrip('.')}. Hint: {self.hint}" if self.hint else text

    @property
    def fatal(self) -> bool:
        """No retry can help: the key is refused, or the base URL has no Batch API. Polling stops on these."""
        return isinstance(self, (AuthenticationError, PermissionDeniedError)) or (
            isinstance(self, NotFoundError) and self.wrong_base_url
        )

    @property
    def wrong_base_url(self) -> bool:
        return bool(self._wrong_base_url)


class BadRequestError(APIError):
    """400: the request was malformed or refused."""


class AuthenticationError(APIError):
    """401: missing or wrong API key."""


class PermissionDeniedError(APIError):
    """403: the key may not do this."""


class NotFoundError(APIError):
    """404: no such batch or file (old output files are deleted after 30 days)."""


class ConflictError(APIError):
    """409: e.g. cancelling a batch that already finished."""


class PayloadTooLargeError(APIError):
    """413: the upload is too large."""


class UnprocessableEntityError(APIError):
    """422: the request body failed validation."""


class RateLimitError(APIError):
    """429: too many requests, or a quota reached."""


class ServerError(APIError):
    """5xx: the server failed."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection dropped."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


@dataclass(frozen=True)
class LineProblem:
    """One problem in a JSONL input, located by 1-based line number (``None`` for whole-file problems)."""

    line: Optional[int]
    code: str
    message: str
    field: Optional[str] = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message} ({self.code})"


class InvalidRequestsError(BatchWidgetsError, ValueError):
    """The requests failed validation; nothing was uploaded. ``.problems`` lists every problem found."""

    def __init__(self, problems: list[LineProblem], source: Optional[str] = None, limit: int = 20) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source or 'the requests'}; nothing was uploaded:"
        lines = [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more (see .problems)")
        super().__init__("\n".join([head, *lines]))


class InputTooLargeError(BatchWidgetsError, ValueError):
    """The input needs more than one batch; ``submit_job`` splits it into parts. Nothing was uploaded."""


class UnsupportedByProviderError(BatchWidgetsError, NotImplementedError):
    """The provider's API has no equivalent of this operation (e.g. file upload on Anthropic Message Batches)."""


class BatchFailedError(BatchWidgetsError, ValueError):
    """The batch failed as a whole (its input failed the provider's validation, or a limit was hit), so it has
    no results and nothing to retry. ``.problems`` lists the provider's errors, with their input line numbers."""

    def __init__(self, batch_id: str, problems: list[LineProblem], limit: int = 20) -> None:
        self.batch_id = batch_id
        self.problems = list(problems)
        head = f"batch {batch_id} failed before running any request, so it has no results"
        lines = [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more (see .problems)")
        what = "; the provider reported:" if self.problems else " (the provider gave no reason)"
        fix = "Fix the input and submit it again (batch_widgets.validate(path) checks a file the same way)."
        super().__init__("\n".join([head + what, *lines, fix]))
