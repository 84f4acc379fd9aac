"""The local server as the real API answers, driven by the official openai SDK: /v1/models, per-endpoint body
checks (400 in the error file), images, the 24h window, output caps, reasoning usage, transient failures."""

import base64
import struct
import zlib

import openai
import pytest
from fastapi import FastAPI
from openai.types import ImagesResponse
from openai.types.chat import ChatCompletion
from server_helpers import CHAT, jsonl, make_client, read_lines, request_line, serve_app, submit, upload, wait_for

from batch_widgets.server.executor import SIMULATED_MODELS, SimulatedExecutor, check_body
from batch_widgets.server.local import LocalBatchServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalBatchServer(tmp_path_factory.mktemp("real"), rate=0, poll_interval=0.05) as srv:
        yield srv


@pytest.fixture(scope="module")
def sdk(server):
    with make_client(server) as c:
        yield c


def test_models_list_and_retrieve(sdk):
    models = sdk.models.list()
    assert [m.id for m in models] == list(SIMULATED_MODELS)
    assert all(m.object == "model" and m.owned_by and m.created for m in models)
    assert sdk.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_upstream_models_are_passed_through(tmp_path):
    upstream = FastAPI()
    listing = {"object": "list", "data": [{"id": "org/llama-3", "object": "model", "created": 1, "owned_by": "me"}]}

    @upstream.get("/v1/models")
    def models():
        return listing

    @upstream.get("/v1/models/{model_id:path}")
    def model(model_id: str):
        return listing["data"][0]

    with (
        serve_app(upstream) as up,
        LocalBatchServer(tmp_path, executor="upstream", upstream_url=up.url + "/v1") as srv,
        make_client(srv) as sdk,
    ):
        assert [m.id for m in sdk.models.list()] == ["org/llama-3"]
        assert sdk.models.retrieve("org/llama-3").owned_by == "me"


@pytest.mark.parametrize("window", ["1h", "48h", "24 h", "7d"])
def test_only_the_24h_window_is_accepted(sdk, window):
    f = upload(sdk, jsonl([request_line(0)]))
    with pytest.raises(openai.BadRequestError) as info:
        sdk.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window=window)
    err = info.value.body
    assert info.value.status_code == 400 and err["type"] == "invalid_request_error"
    assert err["param"] == "completion_window" and "'24h'" in err["message"]


BAD_BODIES = [
    (CHAT, {}, "messages", "missing_required_parameter"),
    (CHAT, {"messages": "hello"}, "messages", "invalid_type"),
    (CHAT, {"messages": []}, "messages", "empty_array"),
    (CHAT, {"messages": ["hi"]}, "messages[0]", "invalid_type"),
    (CHAT, {"messages": [{"content": "hi"}]}, "messages[0].role", "missing_required_parameter"),
    (CHAT, {"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role", "invalid_value"),
    (CHAT, {"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
    ("/v1/completions", {}, "prompt", "missing_required_parameter"),
    ("/v1/embeddings", {}, "input", "missing_required_parameter"),
    ("/v1/responses", {}, "input", "missing_required_parameter"),
    ("/v1/moderations", {}, "input", "missing_required_parameter"),
    ("/v1/images/generations", {}, "prompt", "missing_required_parameter"),
    ("/v1/images/edits", {"image": "x"}, "prompt", "missing_required_parameter"),
]


@pytest.mark.parametrize("url,body,param,code", BAD_BODIES)
def test_invalid_bodies_fail_with_400_in_the_error_file(sdk, url, body, param, code):
    good = request_line(0, url=url)
    if url.startswith("/v1/images"):
        good["body"] = {"model": "gpt-image-1", "prompt": "a cat"}
    bad = {"custom_id": "bad", "method": "POST", "url": url, "body": {"model": good["body"]["model"], **body}}
    batch = wait_for(sdk, submit(sdk, url=url, lines=[good, bad]).id)
    assert batch.status == "completed" and (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    (line,) = read_lines(sdk, batch.error_file_id)
    assert line["custom_id"] == "bad" and line["error"] is None and line["response"]["status_code"] == 400
    error = line["response"]["body"]["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert error["message"]


def test_valid_chat_shapes_pass_the_checks():
    ok = [
        {"role": "system", "content": "x"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]},
        {"role": "tool", "content": "1"},
    ]
    assert check_body(CHAT, {"model": "m", "messages": ok}) is None


def test_images_answer_a_small_valid_png(sdk):
    lines = [
        {
            "custom_id": f"img-{i}",
            "method": "POST",
            "url": "/v1/images/generations",
            "body": {"model": "gpt-image-1", "prompt": "a lighthouse", "n": 2},
        }
        for i in range(3)
    ]
    batch = wait_for(sdk, submit(sdk, url="/v1/images/generations", lines=lines).id)
    assert batch.status == "completed" and batch.request_counts.completed == 3
    for line in read_lines(sdk, batch.output_file_id):
        images = ImagesResponse.model_validate(line["response"]["body"])
        assert len(images.data) == 2
        png = base64.b64decode(images.data[0].b64_json)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        idat = png.index(b"IDAT")
        (size,) = struct.unpack(">I", png[idat - 4 : idat])
        assert len(zlib.decompress(png[idat + 4 : idat + 4 + size])) == height * (1 + 3 * width)


@pytest.mark.parametrize(
    "url,cap_name",
    [
        (CHAT, "max_tokens"),
        (CHAT, "max_completion_tokens"),
        ("/v1/completions", "max_tokens"),
        ("/v1/responses", "max_output_tokens"),
    ],
)
def test_output_cap_truncates_with_finish_reason_length(sdk, url, cap_name):
    batch = wait_for(sdk, submit(sdk, url=url, lines=[request_line(i, url=url, **{cap_name: 5}) for i in range(6)]).id)
    for line in read_lines(sdk, batch.output_file_id):
        body = line["response"]["body"]
        out = body["usage"].get("completion_tokens", body["usage"].get("output_tokens"))
        assert out <= 5
        if url == "/v1/responses":
            assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
        else:
            assert body["choices"][0]["finish_reason"] == "length"
    uncapped = read_lines(sdk, wait_for(sdk, submit(sdk, 6, url=url).id).output_file_id)
    assert any(
        ln["response"]["body"]["usage"].get("completion_tokens", ln["response"]["body"]["usage"].get("output_tokens"))
        > 5
        for ln in uncapped
    )


def test_reasoning_models_report_reasoning_tokens_in_output_and_batch_usage(sdk):
    batch = wait_for(sdk, submit(sdk, lines=[request_line(i, model="o4-mini") for i in range(5)]).id)
    total_reasoning = 0
    for line in read_lines(sdk, batch.output_file_id):
        usage = ChatCompletion.model_validate(line["response"]["body"]).usage
        reasoning = usage.completion_tokens_details.reasoning_tokens
        assert 0 < reasoning <= usage.completion_tokens  # reasoning is part of the output
        total_reasoning += reasoning
    assert batch.usage.output_tokens_details.reasoning_tokens == total_reasoning
    assert batch.usage.input_tokens_details.cached_tokens is not None
    plain = wait_for(sdk, submit(sdk, 3).id)
    assert plain.usage.output_tokens_details.reasoning_tokens == 0


def _outcomes(executor, salt, n=400):
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return [s for s, _ in executor.run(CHAT, [(f"r{i}", good) for i in range(n)], salt=salt)]


def test_transient_failures_are_drawn_per_attempt_and_seedable():
    seeded = _outcomes(SimulatedExecutor(failure_rate=0.3, seed=7), "1")
    assert seeded == _outcomes(SimulatedExecutor(failure_rate=0.3, seed=7), "1")  # reproducible
    retry = _outcomes(SimulatedExecutor(failure_rate=0.3, seed=7), "2")
    failed = [i for i, s in enumerate(seeded) if s != 200]
    assert failed and any(retry[i] == 200 for i in failed)  # a retry can succeed
    assert _outcomes(SimulatedExecutor(failure_rate=0.3), "1") != _outcomes(SimulatedExecutor(failure_rate=0.3), "1")


def test_retrying_failed_requests_on_the_server_can_succeed(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=0, failure_rate=0.5, seed=3, poll_interval=0.05) as srv,
        make_client(srv) as sdk,
    ):
        first = wait_for(sdk, submit(sdk, 40).id)
        failed = {x["custom_id"] for x in read_lines(sdk, first.error_file_id)}
        assert failed
        lines = [request_line(int(cid.split("-")[1])) for cid in sorted(failed)]
        second = wait_for(sdk, submit(sdk, lines=lines).id)
        assert second.request_counts.completed > 0


def test_client_list_models_sync_and_async(server):
    import asyncio

    from batch_widgets import AsyncBatchClient, BatchClient

    with BatchClient(api_key="none", base_url=server.base_url) as client:
        models = client.list_models()
    assert [m.id for m in models] == list(SIMULATED_MODELS) and models[0].object == "model"

    async def go():
        async with AsyncBatchClient(api_key="none", base_url=server.base_url) as client:
            return await client.list_models()

    assert [m.id for m in asyncio.run(go())] == list(SIMULATED_MODELS)


def speech_requests(n: int = 3) -> list[dict]:
    """Requests for /v1/audio/speech, an endpoint the batch target does not accept."""
    return [
        {
            "custom_id": f"s{i}",
            "method": "POST",
            "url": "/v1/audio/speech",
            "body": {"model": "tts-1", "input": "hi", "voice": "alloy"},
        }
        for i in range(n)
    ]


def test_client_refuses_an_endpoint_the_target_does_not_accept_before_uploading(server, sdk):
    from batch_widgets import BatchClient
    from batch_widgets.errors import InvalidRequestsError

    before = len(sdk.files.list().data)
    speech = speech_requests()
    with BatchClient(api_key="none", base_url=server.base_url) as client:
        with pytest.raises(InvalidRequestsError) as info:
            client.submit(speech)
        (problem,) = info.value.problems
        assert (problem.line, problem.code, problem.field) == (1, "unsupported_endpoint", "url")
        assert "/v1/chat/completions" in problem.message
        assert len(sdk.files.list().data) == before  # nothing uploaded
        assert client.submit([request_line(0)]).status == "validating"


def test_output_files_are_deleted_when_output_expires_after_says(tmp_path):
    import time

    from batch_widgets import BatchClient
    from batch_widgets.errors import NotFoundError

    with (
        LocalBatchServer(tmp_path, rate=0, failure_rate=0.5, seed=1, poll_interval=0.05) as srv,
        make_client(srv) as sdk,
    ):
        f = upload(sdk, jsonl([request_line(i) for i in range(6)]))
        keep = wait_for(sdk, submit(sdk, 2).id)  # no output_expires_after: its files stay
        batch = wait_for(
            sdk,
            sdk.batches.create(
                input_file_id=f.id,
                endpoint=CHAT,
                completion_window="24h",
                output_expires_after={"anchor": "created_at", "seconds": 3600},
            ).id,
        )
        ids = [batch.output_file_id, batch.error_file_id]
        assert all(ids)
        for file_id in ids:
            meta = sdk.files.retrieve(file_id)
            assert meta.expires_at == meta.created_at + 3600
            assert sdk.files.content(file_id).text
        storage = srv.app.state.storage
        storage.clock = lambda: time.time() + 3601  # an hour later
        for file_id in ids:
            with pytest.raises(openai.NotFoundError):
                sdk.files.retrieve(file_id)
            with pytest.raises(openai.NotFoundError):
                sdk.files.content(file_id)
        assert not {x.id for x in sdk.files.list()} & set(ids)
        deadline = time.monotonic() + 5
        while any(storage.file_path(i).exists() for i in ids):  # the runner's sweep deletes the bytes
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sdk.files.retrieve(f.id) and sdk.files.content(keep.output_file_id).text  # others untouched
        assert sdk.batches.retrieve(batch.id).output_file_id == ids[0]  # the batch still names it, as OpenAI's does
        with BatchClient(api_key="none", base_url=srv.base_url) as client:
            with pytest.raises(NotFoundError, match="is gone"):
                client.results(batch.id).to_dataframe()


def test_results_have_reasoning_tokens_and_cost_bills_them_as_output(server):
    from batch_widgets import BatchClient
    from batch_widgets.pricing import get_pricing
    from batch_widgets.results import RESULT_COLUMNS, read_result_file

    with BatchClient(api_key="none", base_url=server.base_url) as client:
        batch = client.wait(client.submit([request_line(i, model="o4-mini") for i in range(6)]), progress=False)
        results = client.results(batch)
        frame = results.to_dataframe(include_inputs=False)
        assert "reasoning_tokens" in RESULT_COLUMNS and str(frame["reasoning_tokens"].dtype) == "Int64"
        ok = frame[frame["ok"]]
        assert (ok["reasoning_tokens"] > 0).all() and (ok["reasoning_tokens"] <= ok["output_tokens"]).all()
        assert int(ok["reasoning_tokens"].sum()) == batch.usage.reasoning_tokens
        inp, out, cached = results.usage()
        pricing = get_pricing()
        assert results.cost()[0] == pytest.approx(pricing.token_cost("o4-mini", inp, out, cached))
        without_reasoning = pricing.token_cost("o4-mini", inp, out - int(ok["reasoning_tokens"].sum()), cached)
        assert results.cost()[0] > without_reasoning
        # The line-by-line reader (the fallback) gives the same column.
        path = client.download_file(batch.output_file_id, server.data_dir / "out.jsonl")
        from batch_widgets.results import _read_slow

        slow = _read_slow(path).to_pandas()
        assert slow["reasoning_tokens"].tolist() == read_result_file(path)["reasoning_tokens"].tolist()


def test_a_batch_with_one_percent_invalid_bodies_fails_exactly_those(sdk):
    lines = [request_line(i) for i in range(2000)]
    invalid = set()
    for i in range(0, 2000, 100):
        del lines[i]["body"]["messages"]
        invalid.add(lines[i]["custom_id"])
    batch = wait_for(sdk, submit(sdk, lines=lines).id)
    assert batch.status == "completed" and batch.request_counts.failed == len(invalid) == 20
    errors = read_lines(sdk, batch.error_file_id)
    assert {e["custom_id"] for e in errors} == invalid and {e["response"]["status_code"] for e in errors} == {400}
    assert len(read_lines(sdk, batch.output_file_id)) == 1980


def test_submit_job_also_refuses_an_endpoint_the_target_does_not_accept(server, sdk):
    from batch_widgets import BatchClient
    from batch_widgets.errors import InvalidRequestsError

    before = len(sdk.files.list().data)
    speech = speech_requests()
    with BatchClient(api_key="none", base_url=server.base_url) as client, pytest.raises(InvalidRequestsError) as info:
        client.submit_job(speech)
    assert [p.code for p in info.value.problems] == ["unsupported_endpoint"]
    assert len(sdk.files.list().data) == before
