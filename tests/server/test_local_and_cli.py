"""LocalBatchServer, shared_server() and the `batch-widgets serve` command line."""

import threading

import httpx
import pytest
from server_helpers import make_client, submit, wait_for

from batch_widgets.server import cli, local
from batch_widgets.server.local import LocalBatchServer, shared_server


def test_local_server_binds_loopback_on_a_free_port(tmp_path):
    with LocalBatchServer(tmp_path) as a, LocalBatchServer(tmp_path / "b") as b:
        assert a.base_url.startswith("http://127.0.0.1:") and a.base_url.endswith("/v1")
        assert a.port != b.port and a.api_key is None
        assert httpx.get(a.base_url + "/batches").json()["data"] == []
        assert "127.0.0.1" in repr(a)
    with pytest.raises(httpx.ConnectError):
        httpx.get(a.base_url + "/batches", timeout=1)
    assert (tmp_path / "batches.sqlite3").exists()


def test_repr_never_shows_the_key(tmp_path):
    with LocalBatchServer(tmp_path, api_key="sekrit-value") as server:
        assert "sekrit" not in repr(server)


@pytest.fixture
def fresh_shared(monkeypatch, tmp_path):
    monkeypatch.setenv("BATCH_WIDGETS_HOME", str(tmp_path))
    monkeypatch.delenv("BATCH_WIDGETS_LOCAL_API_KEY", raising=False)
    monkeypatch.setenv("BATCH_WIDGETS_RATE", "0")
    monkeypatch.setattr(local, "_shared", None)
    yield tmp_path
    if local._shared is not None:
        local._shared.close()


def test_shared_server_is_one_per_process_with_a_random_key(fresh_shared):
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared_server())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1
    server = got[0]
    assert server.data_dir == fresh_shared
    assert server.api_key and len(server.api_key) >= 32
    assert httpx.get(server.base_url + "/batches").status_code == 401
    with make_client(server) as client:
        assert wait_for(client, submit(client, 3).id).status == "completed"
    server.close()
    assert shared_server() is not server  # a closed one is replaced


def test_cli_parser_and_errors(capsys):
    args = cli.build_parser().parse_args(["serve", "--rate", "0", "--failure-rate", "0.5", "--port", "0"])
    assert (args.host, args.rate, args.failure_rate, args.executor) == ("127.0.0.1", 0.0, 0.5, "simulated")
    assert cli.main(["serve", "--executor", "upstream"]) == 2
    assert "--upstream-url" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_finished_workers_release_their_connections(tmp_path):
    with LocalBatchServer(tmp_path, poll_interval=0.05) as server, make_client(server) as client:
        storage = server.app.state.storage
        for _ in range(3):
            wait_for(client, submit(client, 2).id)
        before = len(storage._all)
        for _ in range(8):
            wait_for(client, submit(client, 2).id)
        assert len(storage._all) <= before + 1  # one per batch would add 8


def test_cli_version_and_full_help(capsys):
    from batch_widgets import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"batch-widgets {__version__}"
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--host",
        "--api-key",
        "--insecure-allow-no-api-key",
        "--executor",
        "--upstream-url",
        "--rate",
        "--failure-rate",
        "--seed",
        "--window-seconds",
        "--enqueued-token-limit",
        "--webhook-url",
        "--webhook-secret",
        "examples:",
    ):
        assert option in text, option
    assert "'simulated' (default)" in text and "'upstream'" in text  # --executor explains both
