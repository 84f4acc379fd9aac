"""API facts of the non-OpenAI batch dialects (Anthropic Message Batches, Mistral batch jobs), defined once.

Both the local server (which speaks these dialects) and the client's provider adapters (which translate them into
our one vocabulary) read them from here. Like ``models``, this module imports nothing of ours.
Sources: anthropics/anthropic-sdk-python ``types/messages/message_batch*.py`` and Anthropic's Message Batches
guide; mistralai/client-python ``models/batchjob*.py`` and Mistral's batch guide.
"""

from __future__ import annotations

__all__ = [
    "ANTHROPIC_ENDPOINT",
    "ANTHROPIC_ERROR_TYPES",
    "ANTHROPIC_MAX_BYTES",
    "ANTHROPIC_MAX_LIST_LIMIT",
    "ANTHROPIC_MAX_REQUESTS",
    "ANTHROPIC_PROCESSING_STATUS",
    "ANTHROPIC_RESULT_TYPES",
    "ANTHROPIC_VERSION",
    "CUSTOM_ID_PATTERN",
    "MISTRAL_ENDPOINTS",
    "MISTRAL_PREFIX",
    "MISTRAL_STATUS",
]

# -- Anthropic Message Batches -----------------------------------------------------------------------------------
ANTHROPIC_ENDPOINT = "/v1/messages"  # every request of a Message Batch is a Messages API call
ANTHROPIC_VERSION = "2023-06-01"  # the ``anthropic-version`` header value the API requires
ANTHROPIC_MAX_REQUESTS = 100_000
ANTHROPIC_MAX_BYTES = 256 * 1024 * 1024
ANTHROPIC_MAX_LIST_LIMIT = 1000
#: custom_id rule of Message Batches (1-64 letters, digits, ``_`` and ``-``).
CUSTOM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

#: Our status -> Anthropic ``processing_status``.
ANTHROPIC_PROCESSING_STATUS = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "cancelling": "canceling",
    "completed": "ended",
    "failed": "ended",
    "expired": "ended",
    "cancelled": "ended",
}

#: ``result.type`` of one results line, keyed by what happened to the request.
ANTHROPIC_RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")

#: HTTP status -> Anthropic error ``type`` (their errors page).
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# -- Mistral batch jobs ------------------------------------------------------------------------------------------
#: Mistral's routes collide with OpenAI's (/v1/files), so the local server serves them under this prefix.
MISTRAL_PREFIX = "/mistral"
MISTRAL_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/fim/completions",
    "/v1/moderations",
    "/v1/chat/moderations",
    "/v1/ocr",
    "/v1/classifications",
    "/v1/chat/classifications",
    "/v1/conversations",
    "/v1/audio/transcriptions",
)

#: Our status -> Mistral job status (the reverse is in ``models.BatchStatus.parse``'s synonyms).
MISTRAL_STATUS = {
    "validating": "QUEUED",
    "in_progress": "RUNNING",
    "finalizing": "RUNNING",
    "completed": "SUCCESS",
    "failed": "FAILED",
    "expired": "TIMEOUT_EXCEEDED",
    "cancelling": "CANCELLATION_REQUESTED",
    "cancelled": "CANCELLED",
}
