"""The shared vocabulary: spec objects parse, provider deviations normalise, unknown fields survive."""

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from batch_widgets import facts
from batch_widgets.models import (
    Batch,
    BatchOutputLine,
    BatchPage,
    BatchStatus,
    FileObject,
    RequestCounts,
    to_unix_seconds,
)

OPENAI_BATCH = {
    "id": "batch_abc123",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "model": "gpt-4o-mini-2024-07-18",
    "errors": None,
    "input_file_id": "file-abc123",
    "completion_window": "24h",
    "status": "completed",
    "output_file_id": "file-cvaTdG",
    "error_file_id": "file-HOWS94",
    "created_at": 1711471533,
    "in_progress_at": 1711471538,
    "expires_at": 1711557933,
    "finalizing_at": 1711493133,
    "completed_at": 1711493163,
    "failed_at": None,
    "expired_at": None,
    "cancelling_at": None,
    "cancelled_at": None,
    "request_counts": {"total": 100, "completed": 95, "failed": 5},
    "usage": {
        "input_tokens": 1500,
        "input_tokens_details": {"cached_tokens": 100},
        "output_tokens": 500,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 2000,
    },
    "metadata": {"description": "Nightly eval job", "tags": "eval, nightly"},
}


def test_openai_batch_parses_every_field():
    batch = Batch.model_validate(OPENAI_BATCH)
    assert batch.status is BatchStatus.COMPLETED
    assert batch.request_counts.done == 100
    assert batch.usage.cached_tokens == 100
    assert batch.ended_at == 1711493163
    assert batch.description == "Nightly eval job"
    assert batch.tags == ["eval", "nightly"]
    assert batch.is_terminal and not batch.is_active


def test_spec_required_fields_are_required():
    for key in ("id", "status", "created_at"):
        broken = {k: v for k, v in OPENAI_BATCH.items() if k != key}
        with pytest.raises(ValidationError):
            Batch.model_validate(broken)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("IN_PROGRESS", "in_progress"),
        ("PROGRESS", "in_progress"),
        ("RUNNING", "in_progress"),
        ("SUCCESS", "completed"),
        ("TIMEOUT_EXCEEDED", "expired"),
        ("CANCELLATION_REQUESTED", "cancelling"),
        ("QUEUED", "validating"),
        ("PENDING", "validating"),
        ("Cancelled", "cancelled"),
        ("finalizing", "finalizing"),
    ],
)
def test_status_synonyms(raw, expected):
    assert Batch.model_validate({**OPENAI_BATCH, "status": raw}).status.value == expected


def test_unknown_status_is_an_error():
    with pytest.raises(ValidationError, match="status"):
        Batch.model_validate({**OPENAI_BATCH, "status": "exploded"})


def test_active_and_terminal_partition_all_eight_statuses():
    active = {s for s in BatchStatus if s.is_active}
    terminal = {s for s in BatchStatus if s.is_terminal}
    assert {s.value for s in active} == set(facts.ACTIVE_STATUSES)
    assert {s.value for s in terminal} == set(facts.TERMINAL_STATUSES)
    assert len(BatchStatus) == 8


def test_azure_shape_empty_file_ids_null_counts_null_endpoint():
    raw = {
        **OPENAI_BATCH,
        "id": "batch_6287e7a1-4dd0-4a58-a6f3-1e8e4c3e0a53",
        "endpoint": None,
        "output_file_id": "",
        "error_file_id": "",
        "request_counts": {"total": None, "completed": None, "failed": None},
        "usage": None,
    }
    batch = Batch.model_validate(raw)
    assert batch.output_file_id is None and batch.error_file_id is None
    assert batch.request_counts == RequestCounts(total=0, completed=0, failed=0)
    assert batch.endpoint is None


def test_together_shape_wrapped_uppercase_iso_and_extra_fields_kept():
    raw = {
        "job": {
            "id": "toBatch1",
            "input_file_id": "file-1",
            "endpoint": "/v1/chat/completions",
            "status": "IN_PROGRESS",
            "created_at": "2025-01-15T10:00:00Z",
            "model_id": "meta-llama/Llama-3-8b",
            "progress": 42.0,
            "job_deadline": "2025-01-16T10:00:00Z",
            "request_counts": None,
        },
        "warning": "uses default window",
    }
    batch = Batch.model_validate(raw)
    assert batch.status is BatchStatus.IN_PROGRESS
    assert batch.created_at == int(datetime(2025, 1, 15, 10, tzinfo=timezone.utc).timestamp())
    assert batch.model == "meta-llama/Llama-3-8b"
    assert batch.model_extra["progress"] == 42.0
    assert batch.model_extra["warning"] == "uses default window"


def test_novita_shape_string_timestamps_and_extras():
    raw = {
        **OPENAI_BATCH,
        "status": "PROGRESS",
        "created_at": "1711471533",
        "in_progress_at": "1711471538",
        "version": 2,
        "created_by": "user-1",
        "remark": "",
        "error_file_id": "",
    }
    batch = Batch.model_validate(raw)
    assert batch.status is BatchStatus.IN_PROGRESS
    assert batch.in_progress_at == 1711471538
    assert batch.model_extra["created_by"] == "user-1"


@pytest.mark.parametrize(
    "value, expected",
    [
        (1711471533, 1711471533),
        (1711471533.9, 1711471533),
        ("1711471533", 1711471533),
        (1711471533000, 1711471533),  # milliseconds
        ("2024-03-26T16:45:33Z", 1711471533),
        ("2024-03-26T16:45:33+00:00", 1711471533),
        ("2024-03-26T16:45:33", 1711471533),  # naive ISO is UTC
        (None, None),
        ("", None),
    ],
)
def test_timestamps(value, expected):
    assert to_unix_seconds(value) == expected


def test_page_and_file_and_output_lines():
    page = BatchPage.model_validate({"object": "list", "data": [OPENAI_BATCH], "has_more": None})
    assert page.has_more is False and page.data[0].id == "batch_abc123"
    file = FileObject.model_validate(
        {
            "id": "file-1",
            "object": "file",
            "bytes": 10,
            "created_at": "2024-03-26T16:45:33Z",
            "filename": "in.jsonl",
            "purpose": "batch",
        }
    )
    assert file.created_at == 1711471533
    ok = BatchOutputLine.model_validate(
        {
            "id": "batch_req_1",
            "custom_id": "r1",
            "response": {"status_code": 200, "request_id": "req_1", "body": {"x": 1}},
            "error": None,
        }
    )
    failed = BatchOutputLine.model_validate(
        {
            "id": "batch_req_2",
            "custom_id": "r2",
            "response": None,
            "error": {"code": "batch_expired", "message": "not run"},
        }
    )
    rejected = BatchOutputLine.model_validate(
        {"id": "batch_req_3", "custom_id": "r3", "response": {"status_code": 400, "body": {"error": {}}}}
    )
    assert ok.ok and not failed.ok and not rejected.ok


def test_metadata_values_become_strings():
    batch = Batch.model_validate({**OPENAI_BATCH, "metadata": {"n": 3, "none": None}})
    assert batch.metadata == {"n": "3", "none": ""}


def test_batch_reads_well_in_a_notebook():
    from batch_widgets.models import Batch

    batch = Batch(
        id="batch_1",
        input_file_id="file_1",
        status="completed",
        created_at=1_764_400_000,
        completed_at=1_764_400_130,
        endpoint="/v1/chat/completions",
        model="gpt-4o-mini",
        request_counts={"total": 10, "completed": 9, "failed": 1},
        metadata={"description": "Nightly <b>eval</b>", "tags": "a,b", "owner": "me"},
    )
    assert repr(batch) == "<Batch batch_1 completed 10/10 done 'Nightly <b>eval</b>'>"
    page = batch._repr_html_()
    assert "Nightly &lt;b&gt;eval&lt;/b&gt;" in page and "<b>" not in page  # API text is never markup
    assert "2025-11-29 07:08:50 UTC" in page and "1764400130" not in page  # times, not epoch integers
    assert "9 of 10 requests succeeded, 1 failed" in page and "2 min 10 s" in page
    assert "| tags | a, b |" in batch._repr_markdown_()
    assert str(batch).splitlines()[1].split() == ["id", "batch_1"]
    failed = Batch(
        id="batch_2",
        input_file_id="file_2",
        status="failed",
        created_at=1_764_400_000,
        errors={"data": [{"code": "invalid_json_line", "message": "not valid JSON", "line": 2}]},
    )
    text = str(failed)
    assert "the input failed validation" in text and "line 2: not valid JSON (invalid_json_line)" in text
