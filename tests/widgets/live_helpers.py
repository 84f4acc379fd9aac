"""Shared set-up for the live-widget tests: a BatchClient on the in-memory fake API, and a fresh store."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "unit"))

from fake_batch_api import FakeBatchAPI  # noqa: E402 - after the sys.path insert above

from batch_widgets.client import BatchClient  # noqa: E402 - after the sys.path insert above
from batch_widgets.store import BatchStore  # noqa: E402 - after the sys.path insert above

T0 = 1_700_000_000


def make_client(api: FakeBatchAPI, key: str = "sk-test-secret") -> BatchClient:
    return BatchClient(api_key=key, base_url="http://fake.test/v1", transport=api.transport(), max_retries=0)


def running(api: FakeBatchAPI, **fields: Any) -> dict:
    base = {
        "status": "in_progress",
        "created_at": T0,
        "in_progress_at": T0 + 10,
        "request_counts": {"total": 100, "completed": 20, "failed": 5},
        "model": "gpt-4o-mini",
    }
    return api.add_batch(**{**base, **fields})


def finished(api: FakeBatchAPI, status: str = "completed", **fields: Any) -> dict:
    base = {
        "status": status,
        "created_at": T0 - 7200,
        "in_progress_at": T0 - 7190,
        f"{status}_at": T0 - 3600,
        "request_counts": {"total": 10, "completed": 10, "failed": 0},
    }
    return api.add_batch(**{**base, **fields})


class ManualStore(BatchStore):
    """A store whose poller thread never starts: tests drive ticks with poll_once()."""

    started = 0

    def wake(self) -> None:
        if self.poll_interval() is not None:
            self.started += 1


def comm_messages(widget: Any) -> list:
    """Every state update the widget sent (anywidget's comm is a DummyComm outside a kernel)."""
    sent: list = []
    original = widget.comm.send

    def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        sent.append((data, buffers))
        return original(data=data, metadata=metadata, buffers=buffers)

    widget.comm.send = send
    return sent


def install_store(client: Any, **kwargs: Any) -> ManualStore:
    """Make ``get_store(client)`` return a ManualStore for this client's connection."""
    from batch_widgets import store as store_module

    store = ManualStore(client, **kwargs)
    store_module._stores[client.connection_key] = store
    return store


def run_node(script: str, payload: Any, timeout: float = 60) -> Any:
    """Run an ES-module script with node from the repo root, `payload` as JSON on its stdin; its stdout as JSON."""
    run = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).resolve().parents[2],
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
