"""Jobs over the real local server: split, retry rounds, merged results, rebuild and resume, sync and async."""

import asyncio
import gc
import time

import pytest

from batch_widgets import facts, validation
from batch_widgets import jobs as jobs_module
from batch_widgets.client import AsyncBatchClient, BatchClient
from batch_widgets.errors import InputTooLargeError, InvalidRequestsError
from batch_widgets.jobs import JobSpec, estimate_tokens, retryable_mask, split_parts
from batch_widgets.jsonl import build_requests
from batch_widgets.server.local import LocalBatchServer

KEY = "jobs-test-key"
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "progress": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(
        tmp_path_factory.mktemp("jobs"), api_key=KEY, rate=0, failure_rate=0.2, poll_interval=0.05, seed=7
    ) as srv:  # failures drawn per attempt, the same every run
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with BatchClient(api_key=KEY, base_url=server.base_url) as c:
        yield c


def prompts(n, start=0):
    return build_requests([f"question {i}" for i in range(start, start + n)], model="gpt-4o-mini")


def batch_inputs(client, batch):
    import json

    return [json.loads(line)["custom_id"] for line in client.file_content(batch.input_file_id).splitlines() if line]


def assert_merged_right(client, job, frame, ids, max_attempts):
    """Every request once, in input order; attempts = how many of the job's batches ran it; the final row is
    the last batch that ran it; a failure that could be retried was retried until attempts ran out."""
    assert frame["custom_id"].tolist() == ids
    ran_in: dict[str, list[str]] = {}
    for batch in job.batches:
        for cid in batch_inputs(client, batch):
            ran_in.setdefault(cid, []).append(batch.id)
    assert frame["attempts"].tolist() == [len(ran_in[c]) for c in ids]
    assert frame["batch_id"].tolist() == [ran_in[c][-1] for c in ids]
    retryable = retryable_mask(frame, job.spec.retry_on)
    assert (frame.loc[retryable, "attempts"] == max_attempts).all()
    never = frame["status_code"].isin(jobs_module.NEVER_RETRIED).fillna(False)
    assert (frame.loc[never, "attempts"] == 1).all()  # a bad request is not sent again


def test_job_splits_retries_and_merges(client):
    requests = prompts(230)
    for i in (5, 120, 229):  # the server answers these 400 (a role it does not know): never retried
        requests[i]["body"]["messages"][0]["role"] = "robot"
    updates = []
    job = client.submit_job(requests, description="triage", tags=["t"], max_part_requests=100, max_attempts=3)
    assert job.id.startswith("job_") and job.parts == 3
    parts = sorted(b.metadata[facts.JOB_PART_KEY] for b in job.batches)
    assert parts == ["1/3", "2/3", "3/3"]
    job.wait(on_update=updates.append, timeout=60, **FAST)
    assert job.status == "completed" and job.round >= 1
    assert updates and updates[-1] is job
    counts = job.request_counts
    assert counts.total == counts.done == 230
    frame = job.results().to_dataframe()
    assert_merged_right(client, job, frame, [r["custom_id"] for r in requests], 3)
    assert frame.loc[[5, 120, 229], "status_code"].tolist() == [400] * 3
    assert (frame["attempts"] > 1).any()  # failure_rate=0.2: some 5xx/429 were retried...
    assert (frame.loc[frame["attempts"] > 1, "ok"]).any()  # ...and came back answered
    assert counts.failed == int((~frame["ok"]).sum())
    assert frame.loc[0, "input"] == "question 0" and {"text", "error_code", "body"} <= set(frame.columns)
    for batch in job.batches:  # state at the provider, within its metadata limits
        meta = batch.metadata
        assert len(meta) <= facts.METADATA_MAX_KEYS and meta["description"] == "triage" and meta["tags"] == "t"
        assert meta[facts.JOB_ID_KEY] == job.id and JobSpec.decode(meta[facts.JOB_SPEC_KEY]) == job.spec
        assert (meta.get(facts.PARENT_KEY) is None) == (meta[facts.JOB_ROUND_KEY] == "0")
    cost, source = job.cost()
    assert cost > 0 and source == "usage"
    single = [client.retrieve_batch(b.id) for b in job.batches]
    from batch_widgets.pricing import get_pricing

    assert cost == pytest.approx(
        sum(
            get_pricing().cost(b.model, usage=(b.usage.input_tokens, b.usage.output_tokens, b.usage.cached_tokens))[0]
            for b in single
        )
    )
    html = job._repr_html_()
    assert job.id in html and "Part 3/3 retry 1" in html and "230 / 230 settled" in html
    assert job.id in repr(job) and "retry round" in str(job)


def test_job_rebuilt_from_the_api_alone(client, server):
    job = client.submit_job(prompts(60), max_part_requests=25, description="rebuild me")
    job.wait(timeout=60, **FAST)
    with BatchClient(api_key=KEY, base_url=server.base_url) as other:
        again = other.job(job.id)
        assert again.status == "completed" and again.parts == 3 and again.description == "rebuild me"
        assert [b.id for b in again.batches] == [b.id for b in job.batches]
        assert again.spec == job.spec
        assert again.results().to_dataframe().equals(job.results().to_dataframe())
        results = other.job(job.id).results()  # the Job itself is dropped at once: its files must stay
        gc.collect()
        assert len(results.to_dataframe()) == 60
        assert job.id in [j.id for j in other.jobs()]
    with pytest.raises(jobs_module.JobError, match="no batch of job"):
        client.job("job_0000000000000000dead")


def test_killed_between_parts_resumes_without_duplicates(client, server, monkeypatch):
    requests = prompts(100, 1000)
    created = []
    real_create = BatchClient.create_batch

    def dies_after_two(self, *args, **kwargs):
        if len(created) == 2:
            raise KeyboardInterrupt("process killed")
        created.append(real_create(self, *args, **kwargs))
        return created[-1]

    monkeypatch.setattr(BatchClient, "create_batch", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        client.submit_job(requests, max_part_requests=25, max_attempts=2)
    monkeypatch.undo()
    job_id = created[0].metadata[facts.JOB_ID_KEY]
    with BatchClient(api_key=KEY, base_url=server.base_url) as fresh:
        job = fresh.job(job_id)
        assert job.status == "incomplete" and job.parts == 4 and len(job.batches) == 2
        job.resume()
        job.resume()  # twice: nothing is created again
        job.wait(timeout=60, **FAST)
        assert job.status == "completed"
        slots = [(b.metadata[facts.JOB_PART_KEY], b.metadata[facts.JOB_ROUND_KEY]) for b in job.batches]
        assert len(slots) == len(set(slots)) and {p for p, r in slots} == {"1/4", "2/4", "3/4", "4/4"}
        assert_merged_right(fresh, job, job.results().to_dataframe(), [r["custom_id"] for r in requests], 2)


def test_validation_covers_the_whole_input_before_upload(client, monkeypatch):
    before = len(client.list_files(purpose="batch").data)
    lines = prompts(70)
    lines[5]["url"] = "/v1/embeddings"
    lines[66]["custom_id"] = lines[3]["custom_id"]  # a duplicate across parts
    with pytest.raises(InvalidRequestsError) as info:
        client.submit_job(lines, max_part_requests=30)
    assert [(p.line, p.code) for p in info.value.problems] == [(6, "url_mismatch"), (67, "duplicate_custom_id")]
    assert len(client.list_files(purpose="batch").data) == before


def test_submit_points_to_submit_job_when_the_input_needs_splitting(client, monkeypatch):
    monkeypatch.setattr(validation, "MAX_REQUESTS", 3)
    before = len(client.list_files(purpose="batch").data)
    with pytest.raises(InputTooLargeError, match=r"7 requests.*needs 3 batches.*submit_job"):
        client.submit(prompts(7))
    assert len(client.list_files(purpose="batch").data) == before
    job = client.submit_job(prompts(7), max_attempts=1)  # the same input as a job
    assert job.parts == 3


def test_token_limit_holds_parts_back(client):
    requests = prompts(90)
    per_line = max(estimate_tokens(jobs_module.request_lines(requests, None)[0][0]), 1)
    limit = per_line * 40
    seen = []

    def in_flight(job):
        seen.append(sum(int(b.metadata["job_tokens"]) for b in job.batches if b.is_active))

    job = client.submit_job(requests, max_enqueued_tokens=limit, max_attempts=1)
    assert job.parts >= 3  # split so that each part fits under the limit
    assert sum(1 for b in job.batches if b.is_active) < job.parts  # some held back at first
    job.wait(on_update=in_flight, timeout=60, **FAST)
    assert job.status == "completed" and len(job.batches) == job.parts
    assert seen and max(seen) <= limit


def test_retry_on_and_spec():
    import pandas as pd

    assert jobs_module._retry_codes([429, "5XX", "batch_expired"]) == ("429", "5xx", "batch_expired")
    with pytest.raises(ValueError, match="retry_on"):
        jobs_module._retry_codes(["server errors"])
    spec = JobSpec(requests=10, max_attempts=4, retry_on=("429",), max_enqueued_tokens=99)
    assert JobSpec.decode(spec.encode()) == spec
    assert JobSpec.decode(None, requests=5) == JobSpec(requests=5, max_attempts=1)
    frame = pd.DataFrame(
        {
            "ok": [True, False, False, False, False, False],
            "status": ["ok", "error", "error", "error", "not_executed", "not_executed"],
            "status_code": pd.array([200, 500, 400, 429, None, None], dtype="Int64"),
            "error_code": [None, None, "invalid_value", None, "batch_expired", None],
        }
    )
    default = [str(c) for c in jobs_module.DEFAULT_RETRY_ON]
    assert retryable_mask(frame, default).tolist() == [False, True, False, True, True, True]
    assert retryable_mask(frame, ["batch_expired"]).tolist() == [False, False, False, False, True, False]
    assert split_parts([b"x" * 9] * 5, [3] * 5, max_requests=10, max_bytes=10**6, max_tokens=7) == [
        (0, 2),
        (2, 4),
        (4, 5),
    ]


def test_async_job_is_the_same(server):
    async def run():
        async with AsyncBatchClient(api_key=KEY, base_url=server.base_url) as client:
            job = await client.submit_job(prompts(50, 500), max_part_requests=20, max_attempts=2)
            await job.wait(timeout=60, **FAST)
            frame = (await job.results()).to_dataframe()
            again = await client.job(job.id)
            return job, frame, again

    job, frame, again = asyncio.run(run())
    assert job.status == again.status == "completed" and job.parts == 3
    assert frame["custom_id"].tolist() == [f"request-{i}" for i in range(50)]
    assert frame["custom_id"].is_unique and (frame["attempts"] >= 1).all()


def test_cancel_stops_the_whole_job(tmp_path):
    with (
        LocalBatchServer(tmp_path, api_key=KEY, rate=50, poll_interval=0.05) as srv,
        BatchClient(api_key=KEY, base_url=srv.base_url) as client,
    ):
        job = client.submit_job(prompts(200), max_part_requests=100)
        job.cancel()
        job.wait(timeout=30, **FAST)
        assert job.status == "cancelled"
        assert all(b.status in ("cancelled", "completed") for b in job.batches) and len(job.batches) == 2
        frame = job.results().to_dataframe()
        assert len(frame) == 200 and (frame["status"] == "not_executed").any()
        job.resume()  # a cancelled job can be resumed: its unrun requests go again
        job.wait(timeout=60, **FAST)
        assert job.status == "completed" and job.results().to_dataframe()["ok"].all()


def test_token_limit_refusal_waits_and_submits_again(tmp_path):
    requests = prompts(90)
    lines = jobs_module.request_lines(requests, None)[0]
    part_tokens = sum(estimate_tokens(line) for line in lines[:30])
    # The provider's limit fits one part at a time; the job does not know it (no max_enqueued_tokens).
    with (
        LocalBatchServer(
            tmp_path, api_key=KEY, rate=300, poll_interval=0.05, enqueued_token_limit=part_tokens + part_tokens // 2
        ) as srv,
        BatchClient(api_key=KEY, base_url=srv.base_url) as client,
    ):
        job = client.submit_job(requests, max_part_requests=30, max_attempts=1)
        job.wait(timeout=60, **FAST)
        assert job.status == "completed"
        refused = [b for b in job.batches if b.status == "failed"]
        assert refused and all(b.errors.data[0].code == "token_limit_exceeded" for b in refused)
        assert len(refused) <= job.parts - 1  # a refused part waits for the running one instead of hammering
        live = [b for b in job.batches if b.status == "completed"]
        assert sorted(b.metadata[facts.JOB_PART_KEY] for b in live) == ["1/3", "2/3", "3/3"]
        frame = job.results().to_dataframe()
        assert frame["ok"].all() and (frame["attempts"] == 1).all() and len(frame) == 90
        assert not set(frame["batch_id"]) & {b.id for b in refused}


@pytest.mark.timeout(60)  # on the real clock this wait would take 600 s
def test_job_wait_runs_on_the_clients_clock_and_sleep(tmp_path):
    """A slow job and a 600 s timeout: the client's injected clock and sleep carry the whole wait, no real time."""
    now, sleeps = [0.0], []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    with LocalBatchServer(tmp_path, api_key=KEY, rate=0.001, poll_interval=3600) as slow:
        with BatchClient(api_key=KEY, base_url=slow.base_url, clock=lambda: now[0], sleep=sleep) as client:
            job = client.submit_job(prompts(3), description="slow")
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="after 600 s"):
                job.wait(timeout=600, poll_interval=1, max_poll_interval=60, progress=False)
    assert now[0] == 600 and sleeps[:4] == [1, 2, 4, 8]
    assert time.monotonic() - started < 30
