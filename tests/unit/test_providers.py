"""The provider dialects' translations into our one vocabulary. Every fixture is first parsed by the provider's own
SDK model (anthropic's MessageBatch, mistralai's BatchJob), so the inputs are their shapes, not our guess."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from mistralai.client.models import BatchJob

from batch_widgets._config import ClientConfig
from batch_widgets.errors import InvalidRequestsError
from batch_widgets.models import BatchOutputLine, BatchStatus
from batch_widgets.providers import detect_provider, resolve_provider_config
from batch_widgets.providers.anthropic import batch_from_anthropic, output_line, requests_from_lines
from batch_widgets.providers.mistral import batch_from_mistral, mistral_lines


def _anthropic(status="in_progress", **counts):
    data = {
        "id": "msgbatch_01",
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0, **counts},
        "created_at": "2026-11-30T04:00:00Z",
        "expires_at": "2026-12-01T04:00:00Z",
        "ended_at": None,
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": None,
    }
    return data


def _ended(data, **extra):
    data.update(
        ended_at="2026-11-30T05:00:00.123456Z",
        results_url="https://api.anthropic.com/v1/messages/batches/msgbatch_01/results",
        **extra,
    )
    MessageBatch.model_validate(data)
    return data


@pytest.mark.parametrize(
    "data, status",
    [
        (_anthropic(processing=5), BatchStatus.IN_PROGRESS),
        (_anthropic("canceling", processing=5), BatchStatus.CANCELLING),
        (_ended(_anthropic("ended", succeeded=3, errored=2)), BatchStatus.COMPLETED),
        (
            _ended(_anthropic("ended", succeeded=1, canceled=4), cancel_initiated_at="2026-11-30T04:30:00Z"),
            BatchStatus.CANCELLED,
        ),
        (_ended(_anthropic("ended", expired=5)), BatchStatus.EXPIRED),
        (_ended(_anthropic("ended", succeeded=4, expired=1)), BatchStatus.COMPLETED),
    ],
)
def test_anthropic_batches_map_to_our_statuses_counts_and_times(data, status):
    MessageBatch.model_validate(data)
    batch = batch_from_anthropic(data)
    assert batch.status is status
    counts = data["request_counts"]
    assert batch.request_counts.total == sum(counts.values())
    assert (batch.request_counts.completed, batch.request_counts.failed) == (counts["succeeded"], counts["errored"])
    created = int(datetime(2026, 11, 30, 4, tzinfo=timezone.utc).timestamp())
    assert batch.created_at == created and batch.expires_at == created + 86400
    if status.is_terminal:
        assert batch.ended_at == created + 3600 and batch.output_file_id == data["results_url"]
    else:
        assert batch.ended_at is None and batch.output_file_id is None
    assert batch.metadata is None and batch.description is None and batch.input_file_id == ""


def test_anthropic_results_become_our_output_lines():
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
    lines = [
        {"custom_id": "a", "result": {"type": "succeeded", "message": message}},
        {
            "custom_id": "b",
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "max_tokens: too large"},
                },
            },
        },
        {"custom_id": "c", "result": {"type": "canceled"}},
        {"custom_id": "d", "result": {"type": "expired"}},
    ]
    out = []
    for line in lines:
        MessageBatchIndividualResponse.model_validate(line)
        out.append(BatchOutputLine.model_validate(output_line(line)))
    assert [o.ok for o in out] == [True, False, False, False]
    assert out[0].response.body["content"][0]["text"] == "Hi"
    assert out[1].response.status_code == 400 and out[1].response.body["error"]["message"] == "max_tokens: too large"
    assert (out[2].error.code, out[3].error.code) == ("batch_cancelled", "batch_expired")


def _line(i, **body):
    payload = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": f"q{i}"}]}
    payload.update(body)
    return json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": payload}).encode()


def test_chat_lines_convert_to_params():
    system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    requests = requests_from_lines(
        [
            _line(0, messages=system, temperature=0.2, stop="END"),
            _line(1, max_tokens=None, max_completion_tokens=9, n=1),
        ]
    )
    assert requests[0] == {
        "custom_id": "r0",
        "params": {
            "model": "claude-haiku-4-5",
            "max_tokens": 20,
            "temperature": 0.2,
            "stop_sequences": ["END"],
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "q"}],
        },
    }
    assert requests[1]["params"]["max_tokens"] == 9


def test_lines_that_cannot_convert_are_rejected_with_line_numbers():
    lines = [
        _line(0),
        _line(1, response_format={"type": "json_object"}),
        b"not json",
        _line(3, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        json.dumps(
            {"custom_id": "has space", "url": "/v1/messages", "body": {"model": "m", "max_tokens": 1, "messages": []}}
        ).encode(),
        _line(5, max_tokens=None),
    ]
    with pytest.raises(InvalidRequestsError) as info:
        requests_from_lines(lines)
    found = {(p.line, p.field) for p in info.value.problems}
    assert found == {
        (2, "body.response_format"),
        (3, None),
        (4, "body.messages.0"),
        (5, "custom_id"),
        (6, "body.max_tokens"),
    }


def _job(**extra):
    data = {
        "id": "0b1c",
        "object": "batch",
        "input_files": ["file-1"],
        "endpoint": "/v1/chat/completions",
        "model": "mistral-small-latest",
        "errors": [],
        "status": "RUNNING",
        "created_at": 1795925600,
        "total_requests": 10,
        "completed_requests": 4,
        "succeeded_requests": 3,
        "failed_requests": 1,
        "metadata": {"description": "weekly"},
        "started_at": 1795925610,
    }
    data.update(extra)
    BatchJob.model_validate(data)
    return data


@pytest.mark.parametrize(
    "status, ours",
    [
        ("QUEUED", "validating"),
        ("RUNNING", "in_progress"),
        ("SUCCESS", "completed"),
        ("FAILED", "failed"),
        ("TIMEOUT_EXCEEDED", "expired"),
        ("CANCELLATION_REQUESTED", "cancelling"),
        ("CANCELLED", "cancelled"),
    ],
)
def test_mistral_jobs_map_to_our_vocabulary(status, ours):
    done = status in ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
    batch = batch_from_mistral(
        _job(
            status=status,
            completed_at=1795929200 if done else None,
            output_file="file-out",
            errors=[{"message": "line 3: bad", "count": 1}],
        )
    )
    assert batch.status.value == ours
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (10, 3, 1)
    assert batch.input_file_id == "file-1" and batch.output_file_id == "file-out"
    assert batch.in_progress_at == 1795925610 and batch.ended_at == (1795929200 if done else None)
    assert batch.description == "weekly" and batch.errors.data[0].message == "line 3: bad"


def test_mistral_upload_lines_and_model():
    raw = _line(0) + b"\n" + _line(1) + b"\n"
    converted, model = mistral_lines(raw)
    assert model == "claude-haiku-4-5"
    assert [set(json.loads(line)) for line in converted.splitlines()] == [{"custom_id", "body"}] * 2


def test_detect_and_configure_providers():
    assert detect_provider("https://api.anthropic.com") == "anthropic"
    assert detect_provider("https://api.mistral.ai/") == "mistral"
    assert detect_provider("http://127.0.0.1:8000/mistral") == "mistral"
    assert detect_provider("https://api.openai.com/v1") == "openai"
    assert detect_provider("https://res.openai.azure.com") == "openai"
    assert resolve_provider_config("anthropic", env={}) is None  # nothing set: the local server
    config = resolve_provider_config("anthropic", env={"ANTHROPIC_API_KEY": "sk-ant-x"})
    assert config.base_url == "https://api.anthropic.com" and config.provider == "anthropic"
    headers = config.headers()
    assert headers["x-api-key"] == "sk-ant-x" and "anthropic-version" in headers and "Authorization" not in headers
    mistral = resolve_provider_config("mistral", env={"MISTRAL_API_KEY": "m", "MISTRAL_BASE_URL": "http://h/mistral/"})
    assert mistral.base_url == "http://h/mistral" and mistral.headers()["Authorization"] == "Bearer m"
    assert "x-api-key" not in ClientConfig(base_url="https://api.openai.com/v1", api_key="k").headers()
