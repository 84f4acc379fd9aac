"""Fuzzing the local server: schemathesis over its OpenAPI schema, plus hypothesis on what the schema cannot
describe (the streamed multipart upload, and request bodies that name real files and batches). No 5xx, ever.

The app serves no /openapi.json (docs are off), so the schema is taken from ``app.openapi()`` directly and the
generated cases are sent over HTTP to the running server.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
import schemathesis
from faults import ENDPOINT, SECRET, request_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

AUTH = {"Authorization": f"Bearer {SECRET}"}
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
#: Each fuzzer checks, after its run, that it really sent this many requests (at least), whatever ran before.
MIN_SENT = 20


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_dict(server.app.openapi())


@pytest.fixture(scope="module")
def root(server):
    return server.base_url.removesuffix("/v1")


@pytest.fixture(scope="module")
def http(root):
    with httpx.Client(base_url=root, headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def real(server, http):
    """A real file and batch, so that fuzzed requests can reach past the 404s."""
    up = http.post("/v1/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", request_lines(3, "fz"))})
    file_id = up.json()["id"]
    batch = http.post("/v1/batches", json={"input_file_id": file_id, "endpoint": ENDPOINT}).json()
    return {"file": file_id, "batch": batch["id"]}


# schemathesis's own pytest plugin does not run under pytest 9 ('Function' object has no attribute '_nodeid'),
# so its case strategies are driven by plain hypothesis: same generators, same cases, our loop.
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_server_error_on_any_generated_request(api_schema, root, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    openai = [op for op in operations if op.path.startswith(("/v1/files", "/v1/batches", "/v1/models"))]
    assert len(openai) == 11  # every route of /v1/files, /v1/batches and /v1/models (other dialects come too)
    cases = st.sampled_from(operations).flatmap(lambda op: op.as_strategy(generation_mode=mode))
    sent = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(cases)
    def run(case):
        response = case.call(base_url=root, headers=AUTH)
        sent.append(response.status_code)
        assert response.status_code < 500, case.as_curl_command()
        if response.status_code >= 400 and case.path.startswith("/v1/"):  # errors in OpenAI's shape, always
            error = response.json()["error"]
            assert isinstance(error["message"], str) and error["message"]

    run()
    assert len(sent) >= 100  # the generator really produced (and sent) cases


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _ok(response: httpx.Response, sent: list) -> None:
    sent.append(response.status_code)
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:300])


def test_create_bodies_naming_a_real_file(http, real):
    sent: list = []

    @FUZZ
    @given(data=st.data())
    def run(data):
        body = data.draw(
            st.fixed_dictionaries(
                {"input_file_id": st.sampled_from([real["file"], real["file"] + "x", "", "../batches.sqlite3"])},
                optional={
                    "endpoint": st.one_of(st.sampled_from([ENDPOINT, "/v1/embeddings", "/v1/nope", ""]), json_values),
                    "completion_window": st.one_of(
                        st.sampled_from(["24h", "1s", "7d", "0h", "99999999999d", "h"]), json_values
                    ),
                    "metadata": st.one_of(
                        st.dictionaries(st.text(max_size=70), st.text(max_size=600), max_size=18), json_values
                    ),
                    "output_expires_after": st.one_of(
                        st.fixed_dictionaries(
                            {"anchor": st.sampled_from(["created_at", "x"]), "seconds": st.integers(-(10**20), 10**20)}
                        ),
                        json_values,
                    ),
                },
            )
        )
        _ok(http.post("/v1/batches", json=body), sent)

    run()
    assert len(sent) >= MIN_SENT


def test_ids_near_real_ones(http, real):
    sent: list = []

    @FUZZ
    @given(suffix=st.text(max_size=12), op=st.sampled_from(["get", "cancel", "content", "delete", "get_file"]))
    def run(suffix, op):
        batch, file = real["batch"] + suffix, real["file"] + suffix
        url = {
            "get": f"/v1/batches/{batch}",
            "cancel": f"/v1/batches/{batch}/cancel",
            "content": f"/v1/files/{file}/content",
            "delete": f"/v1/files/{file}",
            "get_file": f"/v1/files/{file}",
        }[op]
        if not suffix:  # never delete the real file: other examples use it
            op = "get" if op == "delete" else op
        method = {"cancel": "POST", "delete": "DELETE"}.get(op, "GET")
        _ok(http.request(method, url.replace(batch, quote(batch, safe="")).replace(file, quote(file, safe=""))), sent)

    run()
    assert len(sent) >= MIN_SENT


def test_multipart_uploads(http, server):
    sent: list = []

    @FUZZ
    @given(
        filename=st.one_of(
            st.text(max_size=300),
            st.sampled_from(["../../evil.jsonl", "..\\..\\evil", "/etc/passwd", "a\x00b", "", "."]),
        ),
        purpose=st.one_of(st.sampled_from(["batch", "fine-tune", "batch_output", ""]), st.text(max_size=20)),
        content=st.one_of(st.binary(max_size=300), st.just(request_lines(2))),
        extra=st.dictionaries(
            st.sampled_from(["expires_after[anchor]", "expires_after[seconds]", "x", "purpose2"]),
            st.text(max_size=30),
            max_size=3,
        ),
    )
    def run(filename, purpose, content, extra):
        before = {p.name for p in server.data_dir.parent.iterdir()}
        response = http.post("/v1/files", data={"purpose": purpose, **extra}, files={"file": (filename, content)})
        _ok(response, sent)
        if response.status_code == 200:
            stored = response.json()
            assert stored["bytes"] == len(content) and "/" not in stored["filename"]
            assert http.get(f"/v1/files/{stored['id']}/content").content == content
        # Nothing was written beside the data dir, whatever the filename said.
        assert {p.name for p in server.data_dir.parent.iterdir()} == before

    run()
    assert len(sent) >= MIN_SENT


def test_raw_garbage_upload_bodies(http):
    sent: list = []

    @FUZZ
    @given(
        body=st.binary(max_size=400),
        ctype=st.sampled_from(
            [
                "multipart/form-data; boundary=x",
                "multipart/form-data",
                "application/json",
                "",
                "multipart/form-data; boundary=",
            ]
        ),
    )
    def run(body, ctype):
        _ok(http.post("/v1/files", content=body, headers={"content-type": ctype}), sent)

    run()
    assert len(sent) >= MIN_SENT
