"""The API key never shows: not in a repr or str, an error (message, args, traceback), a log line (DEBUG, every
logger, while requests fail and retry), nor any widget's synced state -- even when a server echoes it back."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest
from faults import ENDPOINT, SECRET, FakeClock, FaultTransport, request_lines

from batch_widgets import errors
from batch_widgets.store import clear_stores

#: Pieces of the key that would also betray it (a truncated message, a "sk-...last4" style hint is fine).
PIECES = [SECRET, SECRET[3:], SECRET[:-4], SECRET[8:28]]


def assert_clean(text: str, where: str = "") -> None:
    for piece in PIECES:
        assert piece not in text, f"the API key leaked{' into ' + where if where else ''}: ...{text[:400]}"


class EchoTransport(httpx.BaseTransport):
    """A hostile/buggy server that echoes the request's headers back in its error body, with the given status."""

    def __init__(self, status: int = 500) -> None:
        self.status = status

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        echoed = {k: v for k, v in request.headers.items()}
        return httpx.Response(
            self.status,
            json={
                "error": {
                    "message": f"bad request, you sent {echoed}",
                    "code": request.headers.get("authorization"),
                    "param": request.headers.get("authorization"),
                }
            },
            headers={"x-request-id": "req_echo"},
        )


def _all_error_text(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    parts += [repr(v) for v in vars(exc).values()]
    return "\n".join(parts)


def _client(**kwargs):
    from batch_widgets.client import BatchClient

    return BatchClient(api_key=SECRET, sleep=FakeClock().sleep, **kwargs)


def test_client_reprs(server):
    from batch_widgets._config import resolve_config
    from batch_widgets.client import AsyncBatchClient

    with _client(base_url=server.base_url) as client:
        for text in (repr(client), str(client), repr(client._core.config), str(client._core.config)):
            assert_clean(text, "a client repr")
    assert_clean(repr(AsyncBatchClient(api_key=SECRET, base_url=server.base_url)), "AsyncBatchClient repr")
    assert_clean(repr(resolve_config(api_key=SECRET, base_url=server.base_url)), "ClientConfig repr")
    assert_clean(repr(resolve_config(api_key=SECRET, base_url="https://x.openai.azure.com")), "Azure config repr")
    assert_clean(repr(server), "LocalBatchServer repr")


def test_client_from_environment_hides_the_key(monkeypatch, server):
    from batch_widgets.client import BatchClient

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with BatchClient() as client:
        assert_clean(repr(client), "repr of a client configured from the environment")
        assert client.list_batches().object == "list"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 429, 500, 503])
def test_errors_from_a_server_that_echoes_the_key(status):
    with _client(base_url="http://127.0.0.1:9/v1", transport=EchoTransport(status), max_retries=1) as client:
        with pytest.raises(errors.APIError) as caught:
            client.list_batches()
    assert caught.value.status == status
    assert_clean(_all_error_text(caught.value), f"a {status} error")
    assert "<redacted>" in str(caught.value)


@pytest.mark.parametrize(
    "fault", ["connect_error", "connect_timeout", "read_timeout", "drop_mid_body", "malformed_json", "server_error"]
)
def test_transport_errors_hide_the_key(server, fault):
    transport = FaultTransport().inject(fault, times=None)
    with _client(base_url=server.base_url, transport=transport, max_retries=1) as client:
        with pytest.raises(errors.APIError) as caught:
            client.list_batches()
    assert_clean(_all_error_text(caught.value), f"a {fault} error")


def test_wrong_key_error_does_not_show_either_key(server):
    from batch_widgets.client import BatchClient

    wrong = "sk-wrong-key-0123456789abcdef"
    with BatchClient(api_key=wrong, base_url=server.base_url) as client:
        with pytest.raises(errors.AuthenticationError) as caught:
            client.list_batches()
    text = _all_error_text(caught.value)
    assert_clean(text, "a 401 error")
    assert wrong not in text


def test_no_log_line_carries_the_key(server, caplog):
    """DEBUG on every logger (ours, httpx, httpcore, uvicorn) while requests fail, retry and succeed."""
    caplog.set_level(logging.DEBUG)
    for name in ("batch_widgets", "httpx", "httpcore", "uvicorn", "batch_widgets.server"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    transport = FaultTransport()
    transport.inject("server_error", times=1).inject("connect_error", times=1)
    with _client(base_url=server.base_url, transport=transport, max_retries=3) as client:
        client.list_batches()
        file = client.upload_file(request_lines(2))
        transport.inject("drop_after_send", times=1, method="POST", path=r"/batches$")
        client.create_batch(file.id, ENDPOINT)
    with _client(base_url="http://127.0.0.1:9/v1", transport=EchoTransport(500), max_retries=2) as client:
        with pytest.raises(errors.ServerError):
            client.retrieve_batch("batch_x")
    from batch_widgets.client import BatchClient

    with BatchClient(api_key="sk-not-it", base_url=server.base_url) as other:  # a refused key, server side
        with pytest.raises(errors.AuthenticationError):
            other.list_batches()
    assert len(caplog.records) > 5  # the logs were really captured
    text = caplog.text + "\n".join(str(r.args) + r.getMessage() for r in caplog.records)
    assert_clean(text, "the logs")
    for name in ("batch_widgets", "httpx", "httpcore", "uvicorn", "batch_widgets.server"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture
def widget_client(server):
    clear_stores()
    transport = FaultTransport()
    client = _client(base_url=server.base_url, transport=transport, max_retries=0, timeout=5.0)
    yield client, transport
    clear_stores()
    client.close()


def _widgets(client, batch_id):
    from batch_widgets.widgets.active_list import BatchList
    from batch_widgets.widgets.create import CreateBatch
    from batch_widgets.widgets.dashboard import BatchDashboard
    from batch_widgets.widgets.details import BatchDetails
    from batch_widgets.widgets.history_view import BatchHistoryView

    widgets = [
        BatchList(client),
        BatchDetails(batch_id, client),
        CreateBatch(client),
        BatchHistoryView(client),
        BatchDashboard(client),
    ]
    for w in widgets:  # the history panels read their pages in a worker: let it finish before the checks
        if hasattr(w, "wait_loaded"):
            w.wait_loaded(10)
    return widgets


def test_every_widget_class_is_covered():
    """A new widget class must be added to _widgets() above."""
    import importlib
    import pkgutil

    import batch_widgets.widgets as pkg
    from batch_widgets.widgets.base import BatchWidgetBase

    classes = set()
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        classes |= {
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, BatchWidgetBase) and obj is not BatchWidgetBase
        }
    assert {c.__name__ for c in classes} == {
        "BatchList",
        "BatchDetails",
        "CreateBatch",
        "BatchHistoryView",
        "BatchDashboard",
    }


def test_widget_state_never_holds_the_key(widget_client, server):
    client, transport = widget_client
    file = client.upload_file(request_lines(3, prefix="secret"))
    batch = client.create_batch(file.id, ENDPOINT, metadata={"description": "secrets"})
    widgets = _widgets(client, batch.id)
    try:
        states = [json.dumps(w.get_state(), default=repr) for w in widgets]
        # Now make everything fail, with the key echoed back by the "server", and let the widgets show it.
        transport.inner = EchoTransport(500)
        for w in widgets:
            w._store.poll_once()
            w._dispatch_action(w, {"action": "refresh"}, [])
            w.wait_idle(30)
            w._dispatch_action(w, {"action": "cancel", "ids": [batch.id]}, [])
            w.wait_idle(30)
        assert any("<redacted>" in w._banner for w in widgets)  # the echo reached the banners, scrubbed
        states += [json.dumps(w.get_state(), default=repr) for w in widgets]
        states += [repr(w) for w in widgets] + [str(w._store.last_error) for w in widgets]
        for state in states:
            assert_clean(state, "a widget's synced state")
    finally:
        transport.inner = httpx.HTTPTransport()
        for w in widgets:
            w.close()


@pytest.fixture
def embedded(monkeypatch, tmp_path):
    """A fresh process-wide embedded server (what BatchClient() uses with nothing configured)."""
    from batch_widgets.server import local

    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OPENAI_API_VERSION",
        "BATCH_WIDGETS_LOCAL_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BATCH_WIDGETS_HOME", str(tmp_path))
    monkeypatch.setenv("BATCH_WIDGETS_RATE", "0")
    monkeypatch.setattr(local, "_shared", None)
    clear_stores()
    yield
    clear_stores()
    if local._shared is not None:
        local._shared.close()


def test_embedded_server_key_is_random_required_and_hidden(embedded, caplog):
    from batch_widgets.client import BatchClient
    from batch_widgets.server.local import shared_server

    caplog.set_level(logging.DEBUG)
    with BatchClient() as client:
        assert client.is_local
        server = shared_server()
        key = server.api_key
        assert key and len(key) >= 20 and server.host == "127.0.0.1"
        # Other local users and processes cannot drive it without the key.
        assert httpx.get(f"{server.base_url}/batches").status_code == 401
        batch = client.create_batch(client.upload_file(request_lines(2)).id, ENDPOINT)
        widgets = _widgets(client, batch.id)
        try:
            texts = [json.dumps(w.get_state(), default=repr) for w in widgets] + [repr(client), repr(server)]
            texts.append(caplog.text)
            for text in texts:
                assert key not in text and key[:12] not in text
        finally:
            for w in widgets:
                w.close()
