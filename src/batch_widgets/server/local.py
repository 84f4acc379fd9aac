"""Run the local batch server inside this process: uvicorn on a daemon thread, bound to loopback.

``LocalBatchServer`` is a context manager for tests and scripts; ``shared_server()`` is the one embedded server
per process that ``BatchClient()`` uses when no API key or base URL is configured.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional

import httpx

from ..dialects import MISTRAL_PREFIX
from .settings import ServerSettings, check_bind
from .storage import default_data_dir

__all__ = ["LocalBatchServer", "shared_server", "SHARED_DEFAULTS"]

log = logging.getLogger("batch_widgets.server")

#: Settings of the shared (demo) server: a few hundred requests progress visibly over ~10-30 s, a few fail.
SHARED_DEFAULTS = {"rate": 20.0, "latency": 0.0, "failure_rate": 0.03}


class LocalBatchServer:
    """An OpenAI-compatible ``/v1/files`` + ``/v1/batches`` server on ``127.0.0.1`` in a background thread.

    Another ``host`` needs an ``api_key`` (or ``insecure_allow_no_api_key=True``). ``webhook_url`` and
    ``webhook_secret`` (``whsec_…``) send OpenAI's ``batch.*`` webhook events; ``seed`` makes simulated
    transient failures reproducible; ``enqueued_token_limit`` applies OpenAI's per-model enqueued-token limit.

    >>> with LocalBatchServer(tmp_dir, rate=0) as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    """

    def __init__(
        self,
        data_dir: Optional[os.PathLike | str] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: Optional[str] = None,
        executor: str = "simulated",
        upstream_url: Optional[str] = None,
        rate: float = 0.0,
        latency: float = 0.0,
        failure_rate: float = 0.0,
        upstream_api_key: Optional[str] = None,
        concurrency: int = 8,
        window_seconds: Optional[int] = None,
        max_upload_bytes: Optional[int] = None,
        poll_interval: float = 0.5,
        startup_timeout: float = 30.0,
        enqueued_token_limit: Optional[int] = None,
        seed: Optional[int] = None,
        webhook_url: Optional[str] = None,
        webhook_secret: Optional[str] = None,
        insecure_allow_no_api_key: bool = False,
    ) -> None:
        import uvicorn

        from .app import create_app

        check_bind(host, api_key, insecure_allow_no_api_key)
        self.settings = ServerSettings(
            data_dir=Path(data_dir) if data_dir is not None else default_data_dir(),
            api_key=api_key,
            executor=executor,
            upstream_url=upstream_url,
            upstream_api_key=upstream_api_key,
            concurrency=concurrency,
            rate=rate,
            latency=latency,
            failure_rate=failure_rate,
            window_seconds=window_seconds,
            poll_interval=poll_interval,
            enqueued_token_limit=enqueued_token_limit,
            seed=seed,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )
        if max_upload_bytes is not None:
            self.settings.max_upload_bytes = max_upload_bytes
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key
        self.app = create_app(self.settings)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="bw-local-server", daemon=True
        )
        self._closed = False
        self._thread.start()
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic's clients (they add ``/v1/messages/batches``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def mistral_base_url(self) -> str:
        """Base URL for Mistral's clients (``server_url``; they add ``/v1/batch/jobs``, ``/v1/files``)."""
        return f"http://{self.host}:{self.port}{MISTRAL_PREFIX}"

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the local batch server stopped while starting (see the log above)")
            if self._server.started:
                try:
                    if httpx.get(f"{self.base_url}/batches?limit=1", headers=headers, timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        raise TimeoutError(f"the local batch server did not answer within {timeout} s")

    def close(self) -> None:
        """Stop serving and stop the runner; running batches are saved and resume on the next start."""
        if self._closed:
            return
        self._closed = True
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()

    def __enter__(self) -> "LocalBatchServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the API key
        state = "closed" if self._closed else "running"
        return f"<LocalBatchServer {self.base_url} data_dir={str(self.data_dir)!r} {state}>"


_shared: Optional[LocalBatchServer] = None
_shared_lock = threading.Lock()


def shared_server() -> LocalBatchServer:
    """The process-wide embedded server, started on first use and closed at exit.

    Data lives in ``$BATCH_WIDGETS_HOME`` (else the platform's user data dir), so batches outlive the process.
    Its API key is random unless ``BATCH_WIDGETS_LOCAL_API_KEY`` is set, so other local users and processes
    cannot drive it. Simulation settings can be tuned with ``BATCH_WIDGETS_RATE``, ``BATCH_WIDGETS_LATENCY`` and
    ``BATCH_WIDGETS_FAILURE_RATE``.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            options: dict[str, Any] = {
                key: float(os.environ.get(f"BATCH_WIDGETS_{key.upper()}", value))
                for key, value in SHARED_DEFAULTS.items()
            }
            api_key = os.environ.get("BATCH_WIDGETS_LOCAL_API_KEY") or secrets.token_urlsafe(32)
            _shared = LocalBatchServer(default_data_dir(), api_key=api_key, **options)
            atexit.register(_shared.close)
            log.debug("started the embedded local batch server at %s (data in %s)", _shared.base_url, _shared.data_dir)
        return _shared
