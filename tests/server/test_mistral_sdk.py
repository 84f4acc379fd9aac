"""The official ``mistralai`` SDK drives the local server's Mistral routes (under ``/mistral/v1``): file upload,
job create, get, list, cancel, delete and output download. Its typed models parse every response."""

from __future__ import annotations

import json
import time

import pytest
from mistralai.client import Mistral
from mistralai.client.errors import SDKError
from mistralai.client.models import BatchJob, CreateFileResponse
from server_helpers import API_KEY

from batch_widgets.server.local import LocalBatchServer

MODEL = "mistral-small-latest"


def _lines(n: int, *, with_model: bool = False) -> bytes:
    rows = []
    for i in range(n):
        body = {"max_tokens": 50, "messages": [{"role": "user", "content": f"question {i}"}]}
        if with_model:
            body["model"] = MODEL
        rows.append(json.dumps({"custom_id": f"q-{i}", "body": body}))
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(
        tmp_path_factory.mktemp("mistral"), api_key=API_KEY, failure_rate=0.5, poll_interval=0.1
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with Mistral(api_key=API_KEY, server_url=server.mistral_base_url) as c:
        yield c


def _upload(client, data: bytes) -> CreateFileResponse:
    return client.files.upload(file={"file_name": "requests.jsonl", "content": data}, purpose="batch")


def _wait(client, job_id, timeout=20.0) -> BatchJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.batch.jobs.get(job_id=job_id)
        if job.status in ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"{job_id} still {job.status}"
        time.sleep(0.05)


def test_lifecycle_upload_create_get_download(client):
    uploaded = _upload(client, _lines(20))
    assert uploaded.purpose == "batch" and uploaded.size_bytes == len(_lines(20)) and uploaded.source == "upload"
    assert client.files.retrieve(file_id=uploaded.id).filename == "requests.jsonl"

    job = client.batch.jobs.create(
        input_files=[uploaded.id], endpoint="/v1/chat/completions", model=MODEL, metadata={"description": "weekly eval"}
    )
    assert isinstance(job, BatchJob) and job.status == "QUEUED" and job.input_files == [uploaded.id]
    assert job.metadata == {"description": "weekly eval"} and job.model == MODEL

    done = _wait(client, job.id)
    assert done.status == "SUCCESS" and done.total_requests == 20
    assert done.succeeded_requests + done.failed_requests == done.completed_requests == 20
    assert done.failed_requests > 0 and done.output_file and done.error_file
    assert done.started_at is not None and done.completed_at >= done.created_at

    output = client.files.download(file_id=done.output_file).read().decode().splitlines()
    lines = [json.loads(line) for line in output]
    assert len(lines) == done.succeeded_requests
    assert all(line["response"]["status_code"] == 200 and line["response"]["body"]["model"] == MODEL for line in lines)
    errors = client.files.download(file_id=done.error_file).read().decode().splitlines()
    assert len(errors) == done.failed_requests
    assert client.files.retrieve(file_id=done.output_file).sample_type == "batch_result"

    assert client.batch.jobs.delete(job_id=job.id).deleted is True
    with pytest.raises(SDKError) as info:
        client.batch.jobs.get(job_id=job.id)
    assert info.value.status_code == 404 and json.loads(info.value.body)["object"] == "error"


def test_inline_requests_and_body_models(client):
    requests = [
        {"custom_id": f"r{i}", "body": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}}
        for i in range(3)
    ]
    job = client.batch.jobs.create(requests=requests, endpoint="/v1/chat/completions")
    assert _wait(client, job.id).total_requests == 3


def test_list_filters_and_pages(client):
    file_id = _upload(client, _lines(2)).id
    ids = [
        client.batch.jobs.create(input_files=[file_id], endpoint="/v1/chat/completions", model=MODEL).id
        for _ in range(3)
    ]
    page = client.batch.jobs.list(page=0, page_size=2)
    assert page.total >= 3 and [j.id for j in page.data] == ids[::-1][:2]
    second = client.batch.jobs.list(page=1, page_size=2)
    assert second.data[0].id == ids[0]
    for job_id in ids:
        _wait(client, job_id)
    done = client.batch.jobs.list(status=["SUCCESS"], page_size=100)
    assert set(ids) <= {j.id for j in done.data} and all(j.status == "SUCCESS" for j in done.data)
    assert client.batch.jobs.list(status=["RUNNING"]).total == 0
    listed = client.files.list(page_size=1000)
    assert file_id in {f.id for f in listed.data}


def test_cancel(tmp_path):
    with (
        LocalBatchServer(tmp_path, api_key=API_KEY, rate=20, poll_interval=0.1) as slow,
        Mistral(api_key=API_KEY, server_url=slow.mistral_base_url) as client,
    ):
        job = client.batch.jobs.create(
            input_files=[_upload(client, _lines(200)).id], endpoint="/v1/chat/completions", model=MODEL
        )
        with pytest.raises(SDKError) as info:  # only ended jobs can be deleted
            client.batch.jobs.delete(job_id=job.id)
        assert info.value.status_code == 400
        cancelling = client.batch.jobs.cancel(job_id=job.id)
        assert cancelling.status in ("CANCELLATION_REQUESTED", "CANCELLED")
        ended = _wait(client, job.id)
        assert ended.status == "CANCELLED" and ended.succeeded_requests < 200
        unrun = client.files.download(file_id=ended.error_file).read().decode().splitlines()
        assert json.loads(unrun[-1])["error"]["code"] == "batch_cancelled"


def test_errors(client, server):
    with pytest.raises(SDKError) as info:
        client.batch.jobs.create(input_files=["file-nothere"], endpoint="/v1/chat/completions", model=MODEL)
    assert info.value.status_code == 404 and "file-nothere" in json.loads(info.value.body)["message"]
    with pytest.raises(SDKError) as info:  # the simulated executor has no fill-in-the-middle model
        client.batch.jobs.create(
            input_files=[_upload(client, _lines(1)).id], endpoint="/v1/fim/completions", model="codestral-latest"
        )
    assert info.value.status_code == 400 and "/v1/fim/completions" in info.value.body
    # A bad line is reported by line number in the job's errors, as the job fails.
    bad = _lines(2) + b"not json\n"
    job = client.batch.jobs.create(input_files=[_upload(client, bad).id], endpoint="/v1/chat/completions", model=MODEL)
    failed = _wait(client, job.id)
    assert failed.status == "FAILED" and failed.errors[0].message.startswith("line 3: ")
    with Mistral(api_key="wrong", server_url=server.mistral_base_url) as other:
        with pytest.raises(SDKError) as info:
            other.batch.jobs.list()
    assert info.value.status_code == 401
