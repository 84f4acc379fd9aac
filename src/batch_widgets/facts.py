"""API facts, each written once: statuses and their groups, limits, endpoints, validator codes, metadata keys.

Everything else reads them from here: the client, the workflow, the validator, the models, the local server,
the widgets and the tests. The browser gets the same values from ``js/lib/facts.js``, which ``make js``
generates from this module (``python src/batch_widgets/facts.py js/lib/facts.js``); ``make js-check`` fails when the
committed file differs from what this module generates.

This module imports nothing of ours (and nothing outside the standard library) so every layer may import it.
Sources: ../reference/openai-batch-api.md (OpenAI's SDK, spec and batch guide).
"""

from __future__ import annotations

import json
import sys
from typing import Any

# --------------------------------------------------------------------------------------------- statuses
VALIDATING = "validating"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
FAILED = "failed"
EXPIRED = "expired"
CANCELLING = "cancelling"
CANCELLED = "cancelled"

#: Every batch status, in lifecycle (display) order.
STATUSES: tuple[str, ...] = (VALIDATING, IN_PROGRESS, FINALIZING, COMPLETED, FAILED, EXPIRED, CANCELLING, CANCELLED)
#: A batch in one of these can still change.
ACTIVE_STATUSES: tuple[str, ...] = (VALIDATING, IN_PROGRESS, FINALIZING, CANCELLING)
#: A batch in one of these never changes again.
TERMINAL_STATUSES: tuple[str, ...] = (COMPLETED, FAILED, EXPIRED, CANCELLED)
#: A cancel is accepted in these (the local server's rule; elsewhere a cancel answers 409).
CANCELLABLE_STATUSES: tuple[str, ...] = (VALIDATING, IN_PROGRESS)
#: The terminal statuses that end a batch early: its requests did not all run. Never shown as healthy.
CUT_SHORT_STATUSES: tuple[str, ...] = (FAILED, EXPIRED, CANCELLED)
#: The timestamp field that records entering each terminal status.
ENDED_AT_FIELDS: dict[str, str] = {s: f"{s}_at" for s in TERMINAL_STATUSES}
STATUS_LABELS: dict[str, str] = {s: s.replace("_", " ").capitalize() for s in STATUSES}

# --------------------------------------------------------------------------------------------- limits
#: Requests one batch may hold.
MAX_REQUESTS = 50_000
#: Bytes one batch input file may hold (200 MB).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Batch metadata: at most this many pairs, keys and (string) values at most this many characters.
METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512
#: Completion windows OpenAI accepts (other providers accept longer ones).
COMPLETION_WINDOWS: tuple[str, ...] = ("24h",)
DEFAULT_COMPLETION_WINDOW = COMPLETION_WINDOWS[0]
#: ``output_expires_after`` / file ``expires_after`` seconds: one hour to thirty days.
MIN_EXPIRES_AFTER_SECONDS = 3600
MAX_EXPIRES_AFTER_SECONDS = 30 * 24 * 3600
#: ``limit`` of a batch list page.
MAX_LIST_LIMIT = 100

# --------------------------------------------------------------------------------------------- endpoints
#: Every endpoint the Batch API accepts (openai-python ``batch_create_params``), in display order.
ENDPOINTS: tuple[str, ...] = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)

# --------------------------------------------------------------------------------------------- validator
#: Every code the input validator can report, with what it means. OpenAI's own codes where they exist
#: (the first six), ours for the rest.
VALIDATION_CODES: dict[str, str] = {
    "invalid_json_line": "the line is not valid JSON",
    "duplicate_custom_id": "the custom_id was already used on an earlier line",
    "url_mismatch": "the url differs from the batch endpoint (or from the first line's url)",
    "model_mismatch": "body.model differs from the first line's model",
    "empty_file": "the file holds no requests",
    "too_many_tasks": f"more than {MAX_REQUESTS:,} requests",
    "missing_custom_id": "custom_id is missing or empty",
    "invalid_method": 'method must be "POST"',
    "missing_body": "body is missing or not a JSON object",
    "missing_model": "body.model is missing or not a string",
    "stream_not_supported": "body.stream = true is not supported in a batch",
    "file_too_large": f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB",
    "invalid_line": "the line (or one of its fields) has the wrong JSON type",
    "unsupported_endpoint": "the url is not an endpoint the target server accepts in a batch",
}

#: Batch-level error code of a batch refused for the provider's enqueued-token limit (it never ran).
TOKEN_LIMIT_CODE = "token_limit_exceeded"

#: Line-level error codes of requests a batch never ran, per the terminal status that stopped it.
NOT_EXECUTED_CODES: dict[str, str] = {CANCELLED: "batch_cancelled", EXPIRED: "batch_expired"}

# --------------------------------------------------------------------------------------------- metadata keys
#: Written by the client on every create, so an ambiguous failure can be resolved without a duplicate batch.
REQUEST_TAG_KEY = "bw_request_id"
#: A batch's description and its tags (comma-joined).
DESCRIPTION_KEY = "description"
TAGS_KEY = "tags"
TAGS_SEPARATOR = ","
#: A submit split into several batches: the shared group id and "part/parts".
GROUP_ID_KEY = "group_id"
GROUP_PART_KEY = "group_part"
#: A retry batch names the batch whose failed requests it re-runs.
PARENT_KEY = "parent_batch_id"
#: A job's batches (``client.submit_job``): the job id and part reuse the group keys; then the retry round, the
#: job's encoded spec and the part's token estimate.
JOB_ID_KEY, JOB_PART_KEY = GROUP_ID_KEY, GROUP_PART_KEY
JOB_ROUND_KEY = "job_round"
JOB_SPEC_KEY = "job_spec"
JOB_TOKENS_KEY = "job_tokens"
#: Every key the library writes into batch metadata.
LIBRARY_KEYS: tuple[str, ...] = (
    REQUEST_TAG_KEY,
    DESCRIPTION_KEY,
    TAGS_KEY,
    GROUP_ID_KEY,
    GROUP_PART_KEY,
    PARENT_KEY,
    JOB_ROUND_KEY,
    JOB_SPEC_KEY,
    JOB_TOKENS_KEY,
)
#: Keys for the library's own bookkeeping: never shown in a view, never exported.
HIDDEN_KEYS: tuple[str, ...] = (REQUEST_TAG_KEY, JOB_SPEC_KEY, JOB_TOKENS_KEY)
#: Keys that belong to one batch only: a retry does not copy them from its parent (a retried part of a job is
#: not part of the job).
PER_BATCH_KEYS: tuple[str, ...] = tuple(key for key in LIBRARY_KEYS if key not in (DESCRIPTION_KEY, TAGS_KEY))

# --------------------------------------------------------------------------------------------- history frame
#: The Batch fields that are Unix timestamps, by their API names, in display order.
BATCH_TIMESTAMP_FIELDS: tuple[str, ...] = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "expires_at",
)
#: The history frame's times: the Batch timestamps plus the derived end time.
TIMESTAMP_COLUMNS: tuple[str, ...] = (*BATCH_TIMESTAMP_FIELDS, "ended_at")
DURATION_COLUMNS: tuple[str, ...] = ("queue_seconds", "run_seconds", "finalize_seconds", "total_seconds")
#: The columns of ``BatchHistory.to_dataframe()`` and of its CSV, in order (the browser's CSV export too).
FRAME_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "endpoint",
    "model",
    "description",
    "tags",
    *TIMESTAMP_COLUMNS,
    *DURATION_COLUMNS,
    "total_requests",
    "completed_requests",
    "failed_requests",
    "success_rate",
    "input_file_id",
    "output_file_id",
    "error_file_id",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "cost_source",
    GROUP_ID_KEY,
    PARENT_KEY,
    "metadata",
    "connection",  # the label of the batch's connection when a view watches several (clients={...}), else None
)


def visible_metadata(metadata: Any) -> dict[str, str]:
    """Metadata without the :data:`HIDDEN_KEYS` (what views and exports show)."""
    return {k: v for k, v in (metadata or {}).items() if k not in HIDDEN_KEYS}


# --------------------------------------------------------------------------------------------- cost sources
#: Where a batch's cost comes from, best first: the batch's own ``usage``, token counts summed from its
#: downloaded results, an estimate per completed request, or unknown (no price for the model). "simulated":
#: a price put on a simulator's answers (the local server's simulated executor): no money was spent.
COST_SOURCES: tuple[str, ...] = ("usage", "results", "estimate", "simulated", "unknown")
#: The Batch field our local server sets (true) when a simulator, not a model, answers the batch.
SIMULATED_FIELD = "simulated"


# --------------------------------------------------------------------------------------------- JS module
#: The facts the browser gets, in this order.
_JS_NAMES = (
    "STATUSES",
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "CUT_SHORT_STATUSES",
    "ENDED_AT_FIELDS",
    "STATUS_LABELS",
    "MAX_REQUESTS",
    "MAX_FILE_BYTES",
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_CHARS",
    "METADATA_MAX_VALUE_CHARS",
    "COMPLETION_WINDOWS",
    "ENDPOINTS",
    "VALIDATION_CODES",
    "REQUEST_TAG_KEY",
    "DESCRIPTION_KEY",
    "TAGS_KEY",
    "TAGS_SEPARATOR",
    "GROUP_ID_KEY",
    "GROUP_PART_KEY",
    "PARENT_KEY",
    "JOB_ROUND_KEY",
    "LIBRARY_KEYS",
    "HIDDEN_KEYS",
    "COST_SOURCES",
    "FRAME_COLUMNS",
)


def to_js() -> str:
    """The ES module ``js/lib/facts.js``: every fact above as a frozen ``export const``."""
    lines = [
        "// @ts-check",
        "// generated by `make js` (python src/batch_widgets/facts.py js/lib/facts.js) from",
        "// src/batch_widgets/facts.py; do not edit: change the Python module and run `make js`.",
        "",
    ]
    for name in _JS_NAMES:
        value = globals()[name]
        text = json.dumps(value, ensure_ascii=False)
        if isinstance(value, (tuple, list, dict)):
            text = f"Object.freeze(/** @type {{const}} */ ({text}))"
        lines.append(f"export const {name} = {text};")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python src/batch_widgets/facts.py [OUT.js] (stdlib only: no install needed)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as out:
            out.write(to_js())
    else:
        sys.stdout.write(to_js())
