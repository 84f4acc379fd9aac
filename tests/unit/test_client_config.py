"""Client configuration (env + arguments, Azure, local fallback) and keeping the API key secret."""

from __future__ import annotations

import logging
import sys
import types

import httpx
import pytest
from fake_batch_api import FakeBatchAPI

from batch_widgets.client import BatchClient
from batch_widgets.errors import APIConnectionError, AuthenticationError, BatchWidgetsError

KEY = "sk-proj-very-secret-key-42"


class Recorder:
    def __init__(self, body=None, status=200):
        self.requests: list[httpx.Request] = []
        self.body = body if body is not None else {"object": "list", "data": [], "has_more": False}
        self.status = status

    def __call__(self, request):
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def test_env_configures_key_base_url_org_and_project(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example/v1/")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    rec = Recorder()
    client = BatchClient(transport=httpx.MockTransport(rec))
    client.list_batches()
    assert client.base_url == "https://gateway.example/v1" and client.is_local is False
    assert str(rec.last.url) == "https://gateway.example/v1/batches?limit=20"
    assert rec.last.headers["authorization"] == f"Bearer {KEY}"
    assert rec.last.headers["openai-organization"] == "org-env"
    assert rec.last.headers["openai-project"] == "proj-env"


def test_arguments_override_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://env.example/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    rec = Recorder()
    client = BatchClient(
        "sk-arg", "http://127.0.0.1:9/v1", organization="org-arg", project="p", transport=httpx.MockTransport(rec)
    )
    client.list_batches()
    assert str(rec.last.url).startswith("http://127.0.0.1:9/v1/batches")
    assert rec.last.headers["authorization"] == "Bearer sk-arg"
    assert rec.last.headers["openai-organization"] == "org-arg" and rec.last.headers["openai-project"] == "p"


def test_key_alone_defaults_to_openai():
    rec = Recorder()
    client = BatchClient(KEY, transport=httpx.MockTransport(rec))
    client.list_batches()
    assert client.base_url == "https://api.openai.com/v1"
    assert rec.last.url.host == "api.openai.com" and "openai-organization" not in rec.last.headers


def test_base_url_alone_sends_no_authorization():
    rec = Recorder()
    BatchClient(base_url="http://127.0.0.1:8/v1", transport=httpx.MockTransport(rec)).list_batches()
    assert "authorization" not in rec.last.headers


def test_azure_by_api_version_argument():
    rec = Recorder()
    client = BatchClient(
        KEY, "https://res.openai.azure.com/", api_version="2025-04-01-preview", transport=httpx.MockTransport(rec)
    )
    client.list_batches(limit=5)
    assert rec.last.url.path == "/openai/batches"
    assert dict(rec.last.url.params) == {"limit": "5", "api-version": "2025-04-01-preview"}
    assert rec.last.headers["api-key"] == KEY and "authorization" not in rec.last.headers


def test_azure_from_env_files_are_not_deployment_scoped(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    rec = Recorder(body={"id": "file-1", "created_at": 1, "filename": "x.jsonl"})
    client = BatchClient(transport=httpx.MockTransport(rec))
    client.retrieve_file("file-1")
    assert str(rec.last.url) == "https://res.openai.azure.com/openai/files/file-1?api-version=2024-10-21"
    assert rec.last.headers["api-key"] == KEY
    assert client.is_local is False


def test_azure_endpoint_already_ending_in_openai_is_not_doubled():
    rec = Recorder()
    BatchClient(
        KEY, "https://res.openai.azure.com/openai", api_version="2024-10-21", transport=httpx.MockTransport(rec)
    ).list_batches()
    assert rec.last.url.path == "/openai/batches"


def test_azure_v1_api_takes_no_api_version():
    rec = Recorder()
    BatchClient(KEY, "https://res.openai.azure.com/openai/v1/", transport=httpx.MockTransport(rec)).list_batches()
    assert str(rec.last.url) == "https://res.openai.azure.com/openai/v1/batches?limit=20"
    assert rec.last.headers["api-key"] == KEY


def test_azure_host_in_base_url_uses_default_api_version():
    rec = Recorder()
    BatchClient(KEY, "https://res.openai.azure.com", transport=httpx.MockTransport(rec)).list_batches()
    assert rec.last.url.params["api-version"] == "2024-10-21" and rec.last.headers["api-key"] == KEY


def test_azure_without_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    with pytest.raises(BatchWidgetsError, match="AZURE_OPENAI_ENDPOINT") as info:
        BatchClient(transport=httpx.MockTransport(Recorder()))
    assert KEY not in str(info.value)


def test_plain_openai_env_wins_over_stray_azure_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    rec = Recorder()
    BatchClient(transport=httpx.MockTransport(rec)).list_batches()
    assert rec.last.url.host == "api.openai.com" and "api-version" not in rec.last.url.params


def test_nothing_configured_uses_shared_local_server(monkeypatch, caplog):
    """The embedded server is replaced by a stand-in module here: these unit tests must not start it."""
    started = []

    class Server:
        base_url = "http://127.0.0.1:5555/v1"
        api_key = "local-key"

    def shared_server():
        started.append(1)
        return Server()

    monkeypatch.setitem(sys.modules, "batch_widgets.server.local", types.SimpleNamespace(shared_server=shared_server))
    rec = Recorder()
    with caplog.at_level(logging.INFO, logger="batch_widgets.transport"):
        client = BatchClient(transport=httpx.MockTransport(rec))
    client.list_batches()
    assert client.is_local is True and client.base_url == "http://127.0.0.1:5555/v1" and started == [1]
    assert str(rec.last.url).startswith("http://127.0.0.1:5555/v1/batches")
    assert rec.last.headers["authorization"] == "Bearer local-key"
    messages = [r.getMessage() for r in caplog.records if r.name == "batch_widgets.transport"]
    assert len(messages) == 1 and "embedded local batch server" in messages[0]


def test_falling_back_to_the_local_server_warns_once_where_a_notebook_shows_it(monkeypatch):
    from batch_widgets import _config
    from batch_widgets.errors import LocalServerWarning

    server = types.SimpleNamespace(base_url="http://127.0.0.1:5555/v1", api_key="local-key")
    monkeypatch.setitem(sys.modules, "batch_widgets.server.local", types.SimpleNamespace(shared_server=lambda: server))
    monkeypatch.setattr(_config, "_warned_local", False)
    with pytest.warns(LocalServerWarning) as record:
        first = BatchClient(transport=httpx.MockTransport(Recorder()))
        second = BatchClient(transport=httpx.MockTransport(Recorder()))  # once per kernel, not per client
    assert first.is_local and second.is_local and len(record) == 1
    text = str(record[0].message)
    assert "No API key found" in text and "http://127.0.0.1:5555/v1" in text and "simulated" in text  # why
    assert "OPENAI_API_KEY, OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT" in text  # where it looked
    assert 'BatchClient(api_key="sk-...")' in text and "restart the kernel" in text  # how to point elsewhere
    assert record[0].filename == __file__  # it points at the user's line, not into the library


def test_timeout_and_negative_retries():
    client = BatchClient(KEY, timeout=12.0, transport=httpx.MockTransport(Recorder()))
    assert client._http.timeout.read == 12.0 and client._http.timeout.connect == 5.0
    with pytest.raises(ValueError, match="max_retries"):
        BatchClient(KEY, max_retries=-1)


# -- the key stays secret -------------------------------------------------------------------------------------
def test_key_never_in_repr_str_errors_or_logs(caplog):
    echo = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}.",
            "code": "invalid_api_key",
            "type": "invalid_request_error",
        }
    }
    api = FakeBatchAPI(1)
    api.faults = [lambda r: httpx.Response(503)] * 2 + [lambda r: httpx.Response(401, json=echo)]

    def dropped(request):
        raise httpx.ConnectError(f"failed to connect with header Bearer {KEY}", request=request)

    with caplog.at_level(logging.DEBUG):
        client = BatchClient(KEY, organization="org-x", transport=api.transport(), sleep=lambda s: None)
        with pytest.raises(AuthenticationError) as auth:
            client.list_batches()
        broken = BatchClient(KEY, transport=httpx.MockTransport(dropped), sleep=lambda s: None)
        with pytest.raises(APIConnectionError) as conn:
            broken.retrieve_batch("batch_0000")
    texts = [
        repr(client),
        str(client),
        repr(client._core.config),
        str(auth.value),
        repr(auth.value),
        auth.value.message,
        str(conn.value),
        repr(conn.value),
        caplog.text,
    ]
    assert auth.value.code == "invalid_api_key" and "<redacted>" in auth.value.message
    assert "retry 1 of 2" in caplog.text  # the retries were logged, and without the key
    for text in texts:
        assert KEY not in text
    assert "base_url='https://api.openai.com/v1'" in repr(client)
