"""Secure by default: no open relay on the network, keys compared in constant time, and nothing secret (key,
prompt, completion) in the log at the default level."""

import logging

import httpx
import openai
import pytest
from server_helpers import make_client, read_lines, request_line, serve_app, submit, wait_for

from batch_widgets.server import app as app_module
from batch_widgets.server import cli
from batch_widgets.server.local import LocalBatchServer
from batch_widgets.server.settings import INSECURE_FLAG, check_bind


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "example.org"])
def test_non_loopback_bind_without_a_key_is_refused(host, capsys, monkeypatch, tmp_path):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    assert cli.main(["serve", "--host", host, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"refusing to bind {host} without an API key" in err and "--api-key" in err and INSECURE_FLAG in err
    with pytest.raises(ValueError, match="refusing to bind"):
        LocalBatchServer(tmp_path, host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_key(host):
    check_bind(host, None)


def test_a_key_or_the_loud_flag_allows_the_network(monkeypatch, tmp_path, capsys):
    import uvicorn

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw["host"]))
    assert cli.main(["serve", "--host", "0.0.0.0", "--api-key", "k", "--data-dir", str(tmp_path)]) == 0
    assert cli.main(["serve", "--host", "0.0.0.0", INSECURE_FLAG, "--data-dir", str(tmp_path)]) == 0
    assert ran == ["0.0.0.0", "0.0.0.0"]
    assert "NO API KEY" in capsys.readouterr().err
    check_bind("0.0.0.0", None, insecure=True)


def test_keys_are_compared_in_constant_time(tmp_path, monkeypatch):
    calls = []
    real = app_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    with LocalBatchServer(tmp_path, api_key="right-key") as server:
        calls.clear()
        assert httpx.get(server.base_url + "/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(server.base_url + "/models", headers={"Authorization": "Bearer right-key"}).status_code == 200
    assert [(a, b) for a, b in calls] == [
        (b"Bearer wrong", b"Bearer right-key"),
        (b"Bearer right-key", b"Bearer right-key"),
    ]


def test_no_key_prompt_or_completion_in_the_default_log(tmp_path, caplog):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    upstream = FastAPI()
    hits = []

    @upstream.post("/v1/chat/completions")
    def chat(body: dict):
        hits.append(1)
        if len(hits) == 1:  # one transient failure: the retry path runs too
            return JSONResponse({"error": {"message": "busy"}}, status_code=503, headers={"retry-after-ms": "10"})
        return {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "COMPLETION-SECRET"}}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }

    cli.setup_logging()  # the CLI's default level
    caplog.set_level(logging.INFO)
    with (
        serve_app(upstream) as up,
        LocalBatchServer(
            tmp_path / "up",
            api_key="SERVER-KEY-SECRET",
            executor="upstream",
            upstream_url=up.url + "/v1",
            upstream_api_key="UPSTREAM-KEY-SECRET",
            poll_interval=0.05,
        ) as server,
        make_client(server) as client,
    ):
        line = request_line(0, messages=[{"role": "user", "content": "PROMPT-SECRET"}])
        done = wait_for(client, submit(client, lines=[line]).id)
        assert "COMPLETION-SECRET" in str(read_lines(client, done.output_file_id))
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url, api_key="WRONG-KEY-SECRET", max_retries=0).models.list()
    with (
        LocalBatchServer(
            tmp_path / "sim", api_key="SERVER-KEY-SECRET", rate=0, failure_rate=0.5, poll_interval=0.05
        ) as server,
        make_client(server) as client,
    ):
        wait_for(
            client,
            submit(
                client,
                lines=[request_line(i, messages=[{"role": "user", "content": "PROMPT-SECRET"}]) for i in range(5)],
            ).id,
        )
    assert len(hits) == 2
    for secret in (
        "SERVER-KEY-SECRET",
        "UPSTREAM-KEY-SECRET",
        "WRONG-KEY-SECRET",
        "PROMPT-SECRET",
        "COMPLETION-SECRET",
    ):
        assert secret not in caplog.text


def test_settings_repr_shows_no_secret(tmp_path):
    from batch_widgets.server.settings import ServerSettings

    text = repr(
        ServerSettings(
            tmp_path,
            api_key="K-SECRET",
            upstream_api_key="U-SECRET",
            webhook_secret="whsec_W-SECRET",
            webhook_url="http://127.0.0.1:9/hook",
        )
    )
    assert "SECRET" not in text and "webhook_url" in text
