"""The whole loop against the real local server (and scripted HTTP for polling behaviour)."""

import asyncio
import io
import json

import httpx
import pytest

from batch_widgets import facts, validation, workflow
from batch_widgets.client import AsyncBatchClient, BatchClient
from batch_widgets.errors import InputTooLargeError, InvalidRequestsError
from batch_widgets.jsonl import build_requests, write_jsonl
from batch_widgets.server.local import LocalBatchServer
from batch_widgets.workflow import InvalidMetadataError, TerminalProgress, build_metadata, split_lines

KEY = "workflow-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(
        tmp_path_factory.mktemp("wf"), api_key=KEY, rate=0, failure_rate=0.25, poll_interval=0.05
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with BatchClient(api_key=KEY, base_url=server.base_url) as c:
        yield c


def prompts(n, start=0):
    return build_requests([f"question {i}" for i in range(start, start + n)], model="gpt-4o-mini")


def test_submit_wait_results_round_trip(client):
    updates = []
    batch = client.submit(prompts(40), description="smoke run", tags=["eval", "nightly"], metadata={"owner": "ana"})
    assert batch.metadata["description"] == "smoke run"
    assert batch.metadata["tags"] == "eval,nightly" and batch.tags == ["eval", "nightly"]
    assert batch.metadata["owner"] == "ana"
    done = client.wait(batch.id, poll_interval=0.05, timeout=60, on_update=updates.append, progress=False)
    assert done.status == "completed" and done.request_counts.total == 40
    assert updates and updates[-1] == done
    assert len({(u.status, u.request_counts.done) for u in updates}) == len(updates)  # called on change only
    results = client.results(done.id)
    df = results.to_dataframe()
    assert len(df) == 40 and df["custom_id"].tolist() == [f"request-{i}" for i in range(40)]
    assert int(df["ok"].sum()) == done.request_counts.completed
    assert int((~df["ok"]).sum()) == done.request_counts.failed > 0  # failure_rate=0.25 over 40
    assert df.loc[df["ok"], "text"].notna().all()
    assert df.loc[~df["ok"], "error_message"].notna().all()
    assert df.loc[0, "input"] == "question 0"
    tmpdir = results._tempdir
    results.close()
    import os

    assert not os.path.exists(tmpdir)


def test_retry_failed_resubmits_only_failures_with_parent(client):
    parent = client.wait(
        client.submit(prompts(40, 100), description="to retry", tags=["x"]),
        poll_interval=0.05,
        timeout=60,
        progress=False,
    )
    failed = client.results(parent.id).failed_custom_ids()
    assert failed
    child = client.retry_failed(parent.id)
    assert child.metadata[facts.PARENT_KEY] == parent.id
    assert child.metadata["description"] == "to retry" and child.tags == ["x"]
    child = client.wait(child, poll_interval=0.05, timeout=60, progress=False)
    assert child.request_counts.total == len(failed)
    assert sorted(client.results(child.id).to_dataframe()["custom_id"]) == sorted(failed)


def test_retry_with_nothing_to_retry(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=0, poll_interval=0.05) as srv,
        BatchClient(base_url=srv.base_url, api_key="k") as c,
    ):
        batch = c.wait(c.submit(prompts(3)), poll_interval=0.05, timeout=30, progress=False)
        assert batch.request_counts.completed == 3
        with pytest.raises(ValueError, match="no failed"):
            c.retry_failed(batch.id)


def test_cancelled_batch_rows_not_executed_then_retry(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=4, poll_interval=0.05) as srv,
        BatchClient(base_url=srv.base_url, api_key="k") as c,
    ):
        batch = c.submit(prompts(30))
        c.cancel_batch(batch.id)
        batch = c.wait(batch.id, poll_interval=0.05, timeout=60, progress=False)
        assert batch.status == "cancelled"
        df = c.results(batch.id).to_dataframe()
        assert len(df) == 30
        not_run = df[df["status"] == "not_executed"]
        assert len(not_run) >= 20 and not not_run["ok"].any()
        child = c.retry_failed(batch.id)
        child = c.wait(child, poll_interval=0.05, timeout=60, progress=False)
        assert child.request_counts.total == len(not_run) + int((df["status"] == "error").sum())


def test_invalid_requests_are_reported_before_any_upload(client):
    before = len(client.list_files(purpose="batch").data)
    lines = prompts(4)
    lines[1]["custom_id"] = lines[0]["custom_id"]
    lines[3]["method"] = "GET"
    with pytest.raises(InvalidRequestsError) as info:
        client.submit(lines)
    codes = {(p.line, p.code) for p in info.value.problems}
    assert (2, "duplicate_custom_id") in codes and (4, "invalid_method") in codes
    assert "nothing was uploaded" in str(info.value)
    with pytest.raises(InvalidMetadataError, match=f"at most {facts.METADATA_MAX_KEYS}"):
        client.submit(prompts(2), metadata={f"k{i}": "v" for i in range(facts.METADATA_MAX_KEYS + 1)})
    assert len(client.list_files(purpose="batch").data) == before


def test_submit_accepts_a_path_and_jsonl_bytes(client, tmp_path):
    path = write_jsonl(prompts(3), tmp_path / "in.jsonl")
    from_path = client.wait(client.submit(path), poll_interval=0.05, timeout=30, progress=False)
    assert from_path.request_counts.total == 3 and from_path.endpoint == "/v1/chat/completions"
    data = b"".join(
        json.dumps(line).encode() + b"\n"
        for line in build_requests(["a", "b"], endpoint="/v1/embeddings", model="text-embedding-3-small")
    )
    embedded = client.wait(client.submit(data + b"\n"), poll_interval=0.05, timeout=30, progress=False)
    assert embedded.endpoint == "/v1/embeddings" and embedded.request_counts.total == 2
    df = client.results(embedded).to_dataframe()
    ok = df[df["ok"]]
    assert all(len(e) > 0 for e in ok["embedding"]) and ok["text"].isna().all()


def test_submit_takes_build_requests_keywords_and_names_its_uploads(client, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [7, 8], "question": ["a", "b"]})
    # The error used to say "pass model=", and submit(df, model=...) then raised TypeError.
    batch = client.submit(
        frame, model="gpt-4o-mini", prompt_column="question", custom_id_column="id", description="Eval: run 2/3"
    )
    content = client.file_content(batch.input_file_id).decode()
    assert [json.loads(line)["custom_id"] for line in content.splitlines()] == ["7", "8"]
    name = client.retrieve_file(batch.input_file_id).filename
    assert name.startswith("Eval-run-2-3_") and name.endswith(".jsonl")  # says what it is, not batch_input_1
    path = write_jsonl(prompts(2), tmp_path / "nightly_questions.jsonl")
    assert client.retrieve_file(client.submit(path).input_file_id).filename == "nightly_questions.jsonl"
    table = tmp_path / "rows.csv"
    frame.to_csv(table, index=False)
    from_table = client.submit(table, model="gpt-4o-mini", prompt_column="question")
    assert client.retrieve_file(from_table.input_file_id).filename == "rows.jsonl"
    with pytest.raises(TypeError, match="model"):
        client.submit(prompts(1), model="gpt-4o-mini")  # ready input lines: model= would be ignored silently


def test_over_the_request_cap_points_to_submit_job(client, monkeypatch):
    monkeypatch.setattr(validation, "MAX_REQUESTS", 3)
    before = len(client.list_files(purpose="batch").data)
    with pytest.raises(InputTooLargeError, match=r"holds 7 requests.*needs 3 batches.*client\.submit_job"):
        client.submit(prompts(7), description="big job")
    assert len(client.list_files(purpose="batch").data) == before


def test_split_lines_by_count_and_bytes():
    lines = [b"x" * 9] * 7  # 10 bytes each with the newline
    assert split_lines(lines, max_requests=3, max_bytes=10**6) == [(0, 3), (3, 6), (6, 7)]
    assert split_lines(lines, max_requests=100, max_bytes=25) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert split_lines([], max_requests=3, max_bytes=10) == []


def test_metadata_limits_have_clear_messages():
    assert build_metadata({"n": 3}, description="d", tags=["a", " b "]) == {"n": "3", "description": "d", "tags": "a,b"}
    key_max, value_max = facts.METADATA_MAX_KEY_CHARS, facts.METADATA_MAX_VALUE_CHARS
    with pytest.raises(
        InvalidMetadataError, match=f"key 'kkkkkkkkkkkkkkkkkkkk'... is {key_max + 1} characters, at most {key_max}"
    ):
        build_metadata({"k" * (key_max + 1): "v"})
    with pytest.raises(
        InvalidMetadataError, match=f"value of 'description' is {value_max + 1} characters, at most {value_max}"
    ):
        build_metadata(description="d" * (value_max + 1))
    with pytest.raises(InvalidMetadataError, match="commas"):
        build_metadata(tags=["a,b"])
    with pytest.raises(InvalidMetadataError, match="must be a string"):
        build_metadata({"x": None})


# -- polling behaviour, with scripted HTTP and the client's own clock and sleep -------------------------------


class FakeTime:
    """A clock and a sleep for the client: sleeping advances the clock, no real time passes."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds):
        self.sleep(seconds)


def scripted_handler(states, calls):
    def handle(request):
        calls.append(request)
        state = states[min(len(calls) - 1, len(states) - 1)]
        if isinstance(state, int):
            return httpx.Response(state, json={"error": {"message": "try later", "type": "server_error"}})
        status, completed = state
        body = {
            "id": "b1",
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": "f",
            "completion_window": "24h",
            "status": status,
            "created_at": 1_700_000_000,
            "request_counts": {"total": 10, "completed": completed, "failed": 0},
        }
        return httpx.Response(200, json=body)

    return handle


def scripted_client(states, time=None):
    """A client whose GET /batches/b1 answers each of ``states`` (status, completed) in turn, then the last.
    A state given as an int is answered with that HTTP error status instead."""
    calls = []
    time = time or FakeTime()
    client = BatchClient(
        api_key="k",
        base_url="http://testserver/v1",
        transport=httpx.MockTransport(scripted_handler(states, calls)),
        max_retries=0,
        clock=time.clock,
        sleep=time.sleep,
    )
    return client, calls


class SyncOrAsync:
    """``wait`` through BatchClient or AsyncBatchClient: the same arguments, the same behaviour."""

    def __init__(self, kind, states):
        self.kind, self.time, self.calls = kind, FakeTime(), []
        handler = scripted_handler(states, self.calls)
        options = dict(api_key="k", base_url="http://testserver/v1", max_retries=0, clock=self.time.clock)
        if kind == "sync":
            self.client = BatchClient(transport=httpx.MockTransport(handler), sleep=self.time.sleep, **options)
        else:
            self.client = AsyncBatchClient(transport=httpx.MockTransport(handler), sleep=self.time.asleep, **options)

    def wait(self, *args, **kwargs):
        if self.kind == "sync":
            return self.client.wait(*args, **kwargs)
        return asyncio.run(self.client.wait(*args, **kwargs))


both = pytest.mark.parametrize("kind", ["sync", "async"])


@both
def test_wait_backs_off_while_unchanged_and_resets_on_change(kind):
    states = [("validating", 0)] * 6 + [("in_progress", 5)] * 3 + [("completed", 10)]
    c = SyncOrAsync(kind, states)
    seen = []
    batch = c.wait("b1", poll_interval=1, max_poll_interval=8, on_update=seen.append, progress=False)
    assert batch.status == "completed" and len(c.calls) == 10
    assert c.time.sleeps == [1, 2, 4, 8, 8, 8, 1, 2, 4]
    assert [(b.status.value, b.request_counts.completed) for b in seen] == [
        ("validating", 0),
        ("in_progress", 5),
        ("completed", 10),
    ]


@both
def test_wait_timeout_says_where_the_batch_is(kind):
    c = SyncOrAsync(kind, [("in_progress", 4)])
    with pytest.raises(TimeoutError, match=r"b1 is still in_progress \(4/10 requests done\) after 5 s"):
        c.wait("b1", poll_interval=1, timeout=5, progress=False)
    assert c.time.now == 5  # on the client's clock: no real second passed


@both
def test_wait_rides_out_an_outage_longer_than_the_clients_retries(kind):
    c = SyncOrAsync(kind, [("in_progress", 4), 503, 503, 429, 502, ("completed", 10)])
    assert c.wait("b1", poll_interval=1, progress=False).status == "completed"
    assert len(c.calls) == 6


@both
def test_wait_gives_up_after_max_outage_with_the_last_error(kind):
    c = SyncOrAsync(kind, [("in_progress", 4), 503])
    with pytest.raises(workflow.ServerError, match="try later"):
        c.wait("b1", poll_interval=1, max_outage=60, progress=False)
    assert 60 < c.time.now < 200


def test_wait_does_not_ride_out_a_missing_batch():
    client, calls = scripted_client([404])
    with pytest.raises(workflow.BatchWidgetsError):
        client.wait("b1", progress=False)
    assert len(calls) == 1


def test_terminal_progress_rewrites_one_line():
    client, _ = scripted_client([("in_progress", 3), ("completed", 10)])
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    progress.update(client.retrieve_batch("b1"))
    progress.update(client.retrieve_batch("b1"))
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rb1: in_progress 3/10 (30%)")
    assert "\rb1: completed 10/10 (100%)" in text and text.endswith("\n") and text.count("\n") == 1


def test_notebook_progress_bar_tracks_counts(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    client, _ = scripted_client([("in_progress", 3), ("completed", 10)])
    bar = workflow.NotebookProgress("b1")
    bar.update(client.retrieve_batch("b1"))
    assert (bar.bar.value, bar.bar.max) == (3, 10) and "in_progress 3/10" in bar.label.value
    bar.update(client.retrieve_batch("b1"))
    assert bar.bar.value == 10 and bar.bar.bar_style == "success" and shown == [bar.box]
    assert workflow.in_kernel() is False  # plain pytest is no kernel: wait() would print to a tty only


def test_broken_lines_are_validated_not_rebuilt(client):
    lines = prompts(3)
    del lines[1]["body"]
    lines[2] = "not an object"
    with pytest.raises(InvalidRequestsError) as info:
        client.submit(lines)
    assert {(p.line, p.code) for p in info.value.problems} >= {(2, "missing_body"), (3, "invalid_line")}


def test_wait_shows_a_widget_bar_in_a_kernel_and_a_line_in_a_terminal(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    monkeypatch.setattr(workflow, "in_kernel", lambda: True)
    client, _ = scripted_client([("in_progress", 3), ("completed", 10)])
    client.wait("b1")
    (box,) = shown
    bar, label = box.children
    assert (bar.value, bar.max, bar.bar_style) == (10, 10, "success") and "completed 10/10" in label.value

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(workflow, "in_kernel", lambda: False)
    monkeypatch.setattr(workflow.sys, "stderr", Tty())
    client, _ = scripted_client([("in_progress", 3), ("completed", 10)])
    client.wait("b1")
    assert "\rb1: completed 10/10 (100%)" in workflow.sys.stderr.getvalue()
    monkeypatch.setattr(workflow.sys, "stderr", io.StringIO())  # not a terminal: no progress noise
    client.wait("b1")
    assert workflow.sys.stderr.getvalue() == ""
