"""The demo helpers the notebooks and browser tests rely on."""

from __future__ import annotations

import json

import pytest

from batch_widgets.demo import demo_dataframe, demo_requests, ensure_local, runs_locally, start_demo_batches, to_jsonl
from batch_widgets.validation import validate_lines, validate_requests


def test_demo_requests_are_valid_deterministic_and_varied():
    lines = demo_requests(200, "gpt-4o-mini")
    report = validate_requests(lines)
    assert report.ok, report.problems
    assert (report.line_count, report.model, report.endpoint) == (200, "gpt-4o-mini", "/v1/chat/completions")
    assert demo_requests(200) == lines  # same seed, same requests
    assert demo_requests(200, seed=1) != lines
    assert len({line["custom_id"].split("-")[-1] for line in lines}) == 4  # every task kind shows up
    assert demo_requests(0) == []
    with pytest.raises(ValueError, match="n must be >= 0"):
        demo_requests(-1)


def test_to_jsonl_round_trips_through_the_validator():
    data = to_jsonl(demo_requests(5))
    assert data.endswith(b"\n") and data.count(b"\n") == 5
    assert [json.loads(line) for line in data.splitlines()] == demo_requests(5)
    assert validate_lines(data.splitlines()).ok


def test_demo_dataframe_shape():
    df = demo_dataframe(7)
    assert list(df.columns) == ["ticket_id", "text", "priority"] and len(df) == 7 and df["ticket_id"].is_unique


class _Client:
    def __init__(self, base_url, is_local=False):
        self.base_url, self.is_local = base_url, is_local


@pytest.mark.parametrize(
    "url,local",
    [
        ("http://127.0.0.1:8765/v1", True),
        ("http://localhost:1/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://res.openai.azure.com/openai", False),
    ],
)
def test_ensure_local_refuses_remote_providers(url, local):
    client = _Client(url)
    assert runs_locally(client) is local
    if local:
        assert ensure_local(client) is client
    else:
        with pytest.raises(RuntimeError, match="unset OPENAI_API_KEY"):
            ensure_local(client)
    assert runs_locally(_Client(url, is_local=True))


def test_start_demo_batches_against_a_local_server(tmp_path):
    from batch_widgets import BatchClient
    from batch_widgets.server.local import LocalBatchServer

    with (
        LocalBatchServer(tmp_path, api_key="sk-demo") as server,
        BatchClient(base_url=server.base_url, api_key=server.api_key) as client,
    ):
        batches = start_demo_batches(client, n_batches=3, requests_per_batch=10, metadata={"owner": "tests"})
        assert len({b.id for b in batches}) == 3
        for batch in batches:
            done = client.wait(batch.id, progress=False, poll_interval=0.05)
            assert done.status == "completed" and done.request_counts.total == 10
            assert done.metadata["owner"] == "tests" and done.description and done.tags
        assert [b.description for b in batches] == [
            "Support ticket triage",
            "Weekly report summaries",
            "Help-centre translations (FR)",
        ]


def test_seed_demo_history_writes_a_varied_30_day_past(tmp_path):
    from batch_widgets.demo import seed_demo_history
    from batch_widgets.server.storage import Storage

    now = 1_780_000_000
    n = seed_demo_history(tmp_path, days=30, now=now)
    storage = Storage(tmp_path)
    docs, more = storage.list_batches(limit=1000, after=None)
    storage.close()
    assert len(docs) == n > 60 and not more
    assert {d["status"] for d in docs} == {"completed", "failed", "cancelled", "expired"}
    assert len({d["model"] for d in docs}) >= 5 and len({d["endpoint"] for d in docs}) == 3
    runs = [d["completed_at"] - d["in_progress_at"] for d in docs if d["status"] == "completed"]
    assert min(runs) < 600 and max(runs) > 2 * 3600  # minutes to hours
    assert now - 31 * 86_400 < min(d["created_at"] for d in docs) and max(d["created_at"] for d in docs) < now
    assert [d["created_at"] for d in docs] == sorted((d["created_at"] for d in docs), reverse=True)  # newest first
    assert seed_demo_history(tmp_path / "again", days=30, now=now) == n  # deterministic
