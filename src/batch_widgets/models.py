"""Pydantic v2 models of the Batch API: the one vocabulary shared by the client, the server and the analytics.

Provider deviations (uppercase statuses and synonyms, ISO-8601 timestamps, ``""`` file ids, ``null`` request
counts) are normalised here, on the way in, so nothing downstream has to know about them.
"""

from __future__ import annotations

import difflib
import enum
from datetime import datetime, timezone
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import facts
from .display import Fields, RichDisplay, duration, when
from .facts import BATCH_TIMESTAMP_FIELDS, ENDPOINTS

__all__ = [
    "ENDPOINTS",
    "Batch",
    "BatchError",
    "BatchErrors",
    "BatchLineError",
    "BatchOutputLine",
    "BatchPage",
    "BatchResponse",
    "BatchStatus",
    "BatchUsage",
    "FileDeleted",
    "FileObject",
    "FilePage",
    "Model",
    "ModelPage",
    "RequestCounts",
    "to_unix_seconds",
]


class BatchStatus(str, enum.Enum):
    """The statuses of :data:`facts.STATUSES`, in that (lifecycle) order."""

    VALIDATING = facts.VALIDATING
    IN_PROGRESS = facts.IN_PROGRESS
    FINALIZING = facts.FINALIZING
    COMPLETED = facts.COMPLETED
    FAILED = facts.FAILED
    EXPIRED = facts.EXPIRED
    CANCELLING = facts.CANCELLING
    CANCELLED = facts.CANCELLED

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    @classmethod
    def parse(cls, value: Any) -> "BatchStatus":
        """Accept our spelling, any case, and the synonyms other providers use."""
        if isinstance(value, cls):
            return value
        key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(_STATUS_SYNONYMS.get(key, key))
        except ValueError:
            valid = [s.value for s in cls]
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{str(value)[:60]!r} is not a batch status; use one of {', '.join(valid)}{hint}"
            ) from None

    def __str__(self) -> str:  # f-strings show "completed", not "BatchStatus.COMPLETED"
        return self.value


_TERMINAL = frozenset(BatchStatus(s) for s in facts.TERMINAL_STATUSES)
assert tuple(s.value for s in BatchStatus) == facts.STATUSES, "BatchStatus must list facts.STATUSES in order"
_STATUS_SYNONYMS = {
    "progress": "in_progress",
    "running": "in_progress",
    "inprogress": "in_progress",
    "success": "completed",
    "succeeded": "completed",
    "timeout_exceeded": "expired",
    "cancellation_requested": "cancelling",
    "canceling": "cancelling",
    "canceled": "cancelled",
    "queued": "validating",
    "pending": "validating",
}


def to_unix_seconds(value: Any) -> Optional[int]:
    """Unix seconds from an int, a float, a numeric string or an ISO-8601 string; ``None``/``""`` stay ``None``.

    Values that are clearly milliseconds (after the year 33658 in seconds) are scaled down.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # pydantic turns ValueError, not OverflowError, into a ValidationError
            raise ValueError(f"timestamp out of range: {value!r:.40}") from None
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp())
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
            return int(moment.timestamp())
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"timestamp is not a finite number: {value!r:.40}")
    if number > 1e12:
        number /= 1000.0
    return int(number)


class _Open(BaseModel):
    """Base for API objects: unknown fields from providers are kept, not dropped."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestCounts(_Open):
    total: int = 0
    completed: int = 0
    failed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _nulls_to_zero(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            data = dict(data)
            # Mistral/Novita spell successes "succeeded".
            if data.get("completed") is None and data.get("succeeded") is not None:
                data["completed"] = data["succeeded"]
            for key in ("total", "completed", "failed"):
                if data.get(key) is None:
                    data[key] = 0
        return data

    @property
    def done(self) -> int:
        return self.completed + self.failed


class BatchError(_Open):
    code: Optional[str] = None
    message: Optional[str] = None
    param: Optional[str] = None
    line: Optional[int] = None


class BatchErrors(_Open):
    object: str = "list"
    data: list[BatchError] = Field(default_factory=list)


class InputTokensDetails(_Open):
    cached_tokens: int = 0


class OutputTokensDetails(_Open):
    reasoning_tokens: int = 0


class BatchUsage(_Open):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: Optional[InputTokensDetails] = None
    output_tokens_details: Optional[OutputTokensDetails] = None

    @property
    def cached_tokens(self) -> int:
        return self.input_tokens_details.cached_tokens if self.input_tokens_details else 0

    @property
    def reasoning_tokens(self) -> int:
        """Part of ``output_tokens`` (and billed as output): what the model spent thinking."""
        return self.output_tokens_details.reasoning_tokens if self.output_tokens_details else 0


class Batch(RichDisplay, _Open):
    """One batch as the API returns it. In a notebook it shows as a table of its fields; ``repr`` is one line."""

    id: str
    object: str = "batch"
    endpoint: Optional[str] = None  # required by the spec, but Azure has returned null
    input_file_id: str
    completion_window: str = facts.DEFAULT_COMPLETION_WINDOW
    status: BatchStatus
    created_at: int
    model: Optional[str] = None
    errors: Optional[BatchErrors] = None
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None
    in_progress_at: Optional[int] = None
    expires_at: Optional[int] = None
    finalizing_at: Optional[int] = None
    completed_at: Optional[int] = None
    failed_at: Optional[int] = None
    expired_at: Optional[int] = None
    cancelling_at: Optional[int] = None
    cancelled_at: Optional[int] = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    metadata: Optional[dict[str, str]] = None
    usage: Optional[BatchUsage] = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # Together wraps create responses as {"job": {...}, "warning": ...}.
        if "job" in data and isinstance(data["job"], dict) and "id" not in data:
            data = {**data["job"], **{k: v for k, v in data.items() if k != "job"}}
        if data.get("input_file_id") is None:
            data["input_file_id"] = data.get("input_file") or ""
        if data.get("endpoint") == "":
            data["endpoint"] = None
        if data.get("model") is None and data.get("model_id"):
            data["model"] = data["model_id"]
        for key in ("output_file_id", "error_file_id"):
            if data.get(key) == "":
                data[key] = None
        if data.get("request_counts") is None:
            data["request_counts"] = {}
        if data.get("completion_window") is None:
            data["completion_window"] = facts.DEFAULT_COMPLETION_WINDOW
        if isinstance(data.get("errors"), list):  # some gateways send a bare list
            data["errors"] = {"object": "list", "data": data["errors"]}
        for key in BATCH_TIMESTAMP_FIELDS:
            if key in data:
                data[key] = to_unix_seconds(data[key])
        return data

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> BatchStatus:
        return BatchStatus.parse(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def ended_at(self) -> Optional[int]:
        """When the batch reached its terminal state (None while active)."""
        field = facts.ENDED_AT_FIELDS.get(self.status.value)
        return getattr(self, field) if field else None

    @property
    def description(self) -> Optional[str]:
        return (self.metadata or {}).get(facts.DESCRIPTION_KEY)

    @property
    def tags(self) -> list[str]:
        raw = (self.metadata or {}).get(facts.TAGS_KEY) or ""
        return [t.strip() for t in raw.split(facts.TAGS_SEPARATOR) if t.strip()]

    @property
    def simulated(self) -> bool:
        """Answered by a simulator (our local server's simulated executor), not a model: costs are not real."""
        return (self.model_extra or {}).get(facts.SIMULATED_FIELD) is True

    @property
    def label(self) -> str:
        """How messages name the batch: its description, else its id."""
        return self.description or self.id

    @property
    def failed_validation(self) -> bool:
        """Failed before any request ran: the input file was refused (``errors`` says why)."""
        return self.status is BatchStatus.FAILED and not self.request_counts.total

    # -- display -------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        counts = self.request_counts
        about = f" {self.description[:40]!r}" if self.description else ""
        return f"<Batch {self.id} {self.status.value} {counts.done:,}/{counts.total:,} done{about}>"

    def _display_fields(self) -> Fields:
        counts = self.request_counts
        progress = f"{counts.completed:,} of {counts.total:,} requests succeeded"
        if counts.failed:
            progress += f", {counts.failed:,} failed"
        errors = self.errors.data if self.errors else []
        if self.failed_validation:
            progress = "the input failed validation; no request ran"
        error_text = "\n".join(
            f"{'line ' + str(e.line) + ': ' if e.line is not None else ''}{e.message or ''}"
            f"{' (' + e.code + ')' if e.code else ''}"
            for e in errors[:5]
        )
        if len(errors) > 5:
            error_text += f"\n… and {len(errors) - 5:,} more (batch.errors)"
        meta = {k: v for k, v in (self.metadata or {}).items() if k not in ("description", "tags")}
        ended = self.ended_at
        return (
            self.label,
            [
                ("id", self.id if self.description else ""),
                ("status", f"{self.status.value}: {progress}"),
                ("errors", error_text),
                ("endpoint", self.endpoint or ""),
                ("model", self.model or ""),
                ("tags", ", ".join(self.tags)),
                ("created", when(self.created_at)),
                (f"{self.status.value}", when(ended) if ended else ""),
                ("took", duration(ended - self.created_at) if ended else ""),
                ("expires", when(self.expires_at) if self.is_active else ""),
                ("input file", self.input_file_id),
                ("output file", self.output_file_id or ""),
                ("error file", self.error_file_id or ""),
                ("metadata", ", ".join(f"{k}={v}" for k, v in meta.items())),
            ],
        )


class BatchPage(_Open):
    object: str = "list"
    data: list[Batch] = Field(default_factory=list)
    first_id: Optional[str] = None
    last_id: Optional[str] = None
    has_more: bool = False

    @model_validator(mode="before")
    @classmethod
    def _null_has_more(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("has_more") is None:
            data = {**data, "has_more": False}
        return data


class FileObject(_Open):
    id: str
    object: str = "file"
    bytes: Optional[int] = None
    created_at: int
    filename: str = ""
    purpose: str = "batch"
    status: Optional[str] = None
    status_details: Optional[str] = None
    expires_at: Optional[int] = None

    @field_validator("created_at", "expires_at", mode="before")
    @classmethod
    def _timestamps(cls, value: Any) -> Optional[int]:
        return to_unix_seconds(value)


class FilePage(_Open):
    object: str = "list"
    data: list[FileObject] = Field(default_factory=list)
    first_id: Optional[str] = None
    last_id: Optional[str] = None
    has_more: bool = False


class FileDeleted(_Open):
    id: str
    object: str = "file"
    deleted: bool = True


class Model(_Open):
    """One entry of ``GET /v1/models``."""

    id: str
    object: str = "model"
    created: Optional[int] = None
    owned_by: Optional[str] = None


class ModelPage(_Open):
    object: str = "list"
    data: list[Model] = Field(default_factory=list)


class BatchResponse(_Open):
    status_code: int
    request_id: Optional[str] = None
    body: Any = None


class BatchLineError(_Open):
    code: Optional[str] = None
    message: Optional[str] = None


class BatchOutputLine(_Open):
    """One line of an output or error file (both share this shape)."""

    id: Optional[str] = None
    custom_id: str
    response: Optional[BatchResponse] = None
    error: Optional[BatchLineError] = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None and 200 <= self.response.status_code < 300
