"""`batch-widgets serve` keeps httpx's per-request INFO lines out of the log unless -v/--verbose is given."""

import logging

import pytest

from batch_widgets.server import cli


@pytest.fixture
def http_loggers():
    saved = {name: logging.getLogger(name).level for name in cli.HTTP_LOGGERS}
    yield [logging.getLogger(name) for name in cli.HTTP_LOGGERS]
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _serve(monkeypatch, tmp_path, *extra):
    import uvicorn

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))  # do not block on a real server
    assert cli.main(["serve", "--port", "0", "--data-dir", str(tmp_path), *extra]) == 0
    assert ran and ran[0]["host"] == "127.0.0.1"


@pytest.mark.parametrize("flag", [[], ["--executor", "upstream", "--upstream-url", "http://127.0.0.1:9/v1"]])
def test_serve_quiets_httpx_request_lines(monkeypatch, tmp_path, http_loggers, caplog, flag):
    for logger in http_loggers:
        logger.setLevel(logging.NOTSET)
    _serve(monkeypatch, tmp_path, *flag)
    assert all(logger.level == logging.WARNING for logger in http_loggers)
    caplog.set_level(logging.INFO)  # root at INFO, as in the CLI: the httpx logger itself must drop the line
    logging.getLogger("httpx").info('HTTP Request: POST http://127.0.0.1:9/v1/chat/completions "HTTP/1.1 200 OK"')
    assert "HTTP Request" not in caplog.text


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_keeps_httpx_request_lines(monkeypatch, tmp_path, http_loggers, caplog, flag):
    _serve(monkeypatch, tmp_path, flag)
    assert logging.getLogger("httpx").level == logging.INFO
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1:9/v1/chat/completions")
    assert "HTTP Request" in caplog.text
