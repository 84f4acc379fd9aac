"""Error statuses and OpenAI's error shape: 400, 401, 404, 409, 413, 422, for the SDK and for raw HTTP."""

import httpx
import openai
import pytest
from server_helpers import API_KEY, CHAT, jsonl, make_client, request_line, upload

from batch_widgets.server.local import LocalBatchServer


def assert_error_shape(response, status, code=None, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


@pytest.fixture(scope="module")
def http(fast_server):
    with httpx.Client(base_url=fast_server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        yield c


def test_401_without_or_with_wrong_key(fast_server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
        for method, path in (("GET", "/batches"), ("GET", "/files"), ("POST", "/batches"), ("GET", "/nope")):
            response = httpx.request(method, fast_server.base_url + path, headers=headers)
            error = assert_error_shape(response, 401)
            assert API_KEY not in response.text and "wrong" not in response.text
            assert error["code"] in ("missing_api_key", "invalid_api_key")
    with openai.OpenAI(base_url=fast_server.base_url, api_key="wrong", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.batches.list()


def test_404_shapes(client, http):
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_doesnotexist")
    assert_error_shape(http.get("/batches/batch_missing"), 404, "batch_not_found")
    assert_error_shape(http.get("/files/file-missing/content"), 404, "file_not_found")
    assert_error_shape(http.delete("/files/file-missing"), 404, "file_not_found")
    assert_error_shape(http.get("/no/such/route"), 404, "unknown_url")


@pytest.mark.parametrize(
    "file_id", ["..%2F..%2Fbatches.sqlite3", "file-..", "file-a%2F..%2F..%2Fx", "runner.lock", "file-%2E%2E"]
)
def test_file_ids_cannot_escape_the_data_dir(http, file_id):
    response = http.get(f"/files/{file_id}/content")
    assert response.status_code == 404
    assert b"SQLite" not in response.content


def test_409_is_not_retried_by_us_and_has_openai_message(client):
    f = upload(client, jsonl([request_line(0)]))
    batch = client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h")
    from server_helpers import wait_for

    wait_for(client, batch.id)
    with pytest.raises(openai.ConflictError) as info:
        client.batches.cancel(batch.id)
    assert info.value.body == {
        "message": "Cannot cancel a batch with status 'completed'.",
        "type": "invalid_request_error",
        "param": None,
        "code": "batch_not_cancellable",
    }


def test_413_before_the_upload_is_stored(tmp_path):
    with LocalBatchServer(tmp_path, max_upload_bytes=2_000) as server, make_client(server) as client:
        with pytest.raises(openai.APIStatusError) as info:
            upload(client, jsonl([request_line(i) for i in range(100)]))
        assert info.value.status_code == 413
        assert info.value.body["code"] == "file_too_large"
        # far over the cap: refused from the Content-Length alone, before reading the body
        with pytest.raises(openai.APIStatusError) as info:
            upload(client, b'{"a": 1}\n' * 400_000)
        assert info.value.status_code == 413

        # streamed without a Content-Length: the cap is enforced as bytes arrive
        def body():
            yield b'--xx\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
            for _ in range(100):
                yield b"x" * 100
            yield b"\r\n--xx--\r\n"

        response = httpx.post(
            server.base_url + "/files", content=body(), headers={"Content-Type": "multipart/form-data; boundary=xx"}
        )
        assert_error_shape(response, 413, "file_too_large")
        leftovers = [p.name for p in (tmp_path / "files").iterdir()]
        assert leftovers == []  # nothing half-written remains
        small = upload(client, jsonl([request_line(0)]))
        assert small.bytes < 2_000


def test_400_wrong_purpose_missing_parts_and_bad_create(client, http):
    response = http.post("/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "fine-tune"})
    assert_error_shape(response, 400, "invalid_value", "purpose")
    assert_error_shape(http.post("/files", files={"file": ("a.jsonl", b"{}\n")}), 400, param="purpose")
    assert_error_shape(http.post("/files", data={"purpose": "batch"}, files={"x": ("a", b"1")}), 400, param="file")
    assert_error_shape(http.post("/files", json={"purpose": "batch"}), 400)

    f = upload(client, jsonl([request_line(0)]))
    base = {"input_file_id": f.id, "endpoint": CHAT, "completion_window": "24h"}
    assert_error_shape(http.post("/batches", json={**base, "endpoint": "/v1/nope"}), 400, "invalid_value", "endpoint")
    assert_error_shape(
        http.post("/batches", json={**base, "endpoint": "/v1/videos"}), 400, "unsupported_endpoint", "endpoint"
    )
    assert_error_shape(
        http.post("/batches", json={**base, "completion_window": "soon"}), 400, "invalid_value", "completion_window"
    )
    assert_error_shape(
        http.post("/batches", json={**base, "metadata": {str(i): "v" for i in range(17)}}), 400, param="metadata"
    )
    assert_error_shape(http.post("/batches", json={**base, "metadata": {"k": "v" * 513}}), 400, param="metadata")
    assert_error_shape(
        http.post("/batches", json={**base, "input_file_id": "file-missing"}), 404, param="input_file_id"
    )
    out_of_window = {**base, "output_expires_after": {"anchor": "created_at", "seconds": 10}}
    assert_error_shape(http.post("/batches", json=out_of_window), 400, param="output_expires_after.seconds")


def test_batch_from_output_file_is_refused(client, http):
    from server_helpers import submit, wait_for

    done = wait_for(client, submit(client, 3).id)
    response = http.post(
        "/batches", json={"input_file_id": done.output_file_id, "endpoint": CHAT, "completion_window": "24h"}
    )
    assert_error_shape(response, 400, param="input_file_id")


def test_422_fastapi_validation_in_openai_shape(http):
    assert_error_shape(http.get("/batches", params={"limit": 0}), 422, "invalid_value", "limit")
    assert_error_shape(http.get("/batches", params={"limit": 101}), 422, param="limit")
    assert_error_shape(http.get("/batches", params={"limit": "x"}), 422, param="limit")
    error = assert_error_shape(
        http.post("/batches", json={"endpoint": CHAT}), 422, "missing_required_parameter", "input_file_id"
    )
    assert "input_file_id" in error["message"]
    assert_error_shape(http.post("/batches", content=b"not json", headers={"Content-Type": "application/json"}), 422)
    assert_error_shape(http.get("/files", params={"order": "sideways"}), 422, param="order")


def test_405_in_openai_shape(http):
    response = http.put("/batches")
    assert response.status_code == 405
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
