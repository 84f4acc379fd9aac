"""``kill -9`` the local server (``batch-widgets serve``, a real subprocess) in the middle of a 20,000-request
batch, start it again on the same data dir, and check that nothing was lost or done twice: every custom_id
appears exactly once across the output and error files, the counts agree with the files and never go back,
and the uploaded input file is byte-for-byte intact.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from faults import ENDPOINT, SECRET, request_lines

pytestmark = pytest.mark.slow

N_REQUESTS = 20_000
RATE = 8000  # simulated requests/s: a clean run takes ~2.5 s
FAILURE_RATE = 0.05  # so that the error file has lines too
#: Crash runs done in this module (the report quotes it).
CRASHES: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """``python -m batch_widgets.server.cli serve`` on a data dir, with a key, on a free loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.log = log.open("ab")
        cmd = [
            sys.executable,
            "-m",
            "batch_widgets.server.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(self.port),
            "--rate",
            str(RATE),
            "--failure-rate",
            str(FAILURE_RATE),
        ]
        env = {**os.environ, "BATCH_WIDGETS_LOCAL_API_KEY": SECRET}  # the key stays off the command line
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/v1", headers={"Authorization": f"Bearer {SECRET}"}, timeout=10
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                if self.http.get("/batches?limit=1").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server did not start:\n{log.read_text()}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.http.close()
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.http.close()
        self.log.close()


def _batch(server: ServeProcess, batch_id: str) -> dict:
    response = server.http.get(f"/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait(server: ServeProcess, batch_id: str, done, timeout: float = 25.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = _batch(server, batch_id)
        if done(batch):
            return batch
        time.sleep(0.005)  # finalizing lasts ~0.3 s: poll fast enough to catch it
    raise AssertionError(f"timed out; last state {batch['status']} {batch['request_counts']}")


def _progress(batch: dict) -> int:
    counts = batch["request_counts"]
    return counts["completed"] + counts["failed"]


@pytest.fixture(scope="module")
def input_bytes() -> bytes:
    return request_lines(N_REQUESTS, prefix="crash")


def _run_with_crashes(tmp_path: Path, input_bytes: bytes, kill_points: list) -> dict:
    """Upload + create, then for each kill point: wait for it, kill -9, restart. Returns the final batch and
    what was checked on the way."""
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    digest = hashlib.sha256(input_bytes).hexdigest()
    server = ServeProcess(data_dir, log)
    try:
        upload = server.http.post(
            "/files", data={"purpose": "batch"}, files={"file": ("crash.jsonl", input_bytes, "application/jsonl")}
        )
        assert upload.status_code == 200, upload.text
        file_id = upload.json()["id"]
        created = server.http.post(
            "/batches", json={"input_file_id": file_id, "endpoint": ENDPOINT, "metadata": {"description": "crash test"}}
        )
        assert created.status_code == 200, created.text
        batch_id = created.json()["id"]
        seen_states = []
        for name, reached in kill_points:
            before = _wait(server, batch_id, reached) if reached else _batch(server, batch_id)
            server.kill9()
            CRASHES.append(f"{name}: {before['status']} {_progress(before)}/{N_REQUESTS}")
            seen_states.append(before)
            server = ServeProcess(data_dir, log)
            after = _batch(server, batch_id)
            # Saved work survives the crash: progress never goes back.
            assert _progress(after) >= _progress(before), (before["request_counts"], after["request_counts"])
        final = _wait(server, batch_id, lambda b: b["status"] == "completed")
        output = server.http.get(f"/files/{final['output_file_id']}/content").content
        errors = server.http.get(f"/files/{final['error_file_id']}/content").content if final["error_file_id"] else b""
        stored_input = server.http.get(f"/files/{file_id}/content").content
        on_disk = (data_dir / "files" / file_id).read_bytes()
        known = {f["id"] for f in server.http.get("/files").json()["data"]}
        # A crash can leave a tmp-*.part (the server sweeps those an hour later, when no other process
        # sharing the data dir can still be writing it); a finished file-* must always belong to an object.
        stored = {p.name for p in (data_dir / "files").iterdir() if not p.name.endswith(".part")}
        return {
            "final": final,
            "output": output,
            "errors": errors,
            "seen": seen_states,
            "orphans": sorted(stored - known),
            "input_ok": hashlib.sha256(stored_input).hexdigest() == digest == hashlib.sha256(on_disk).hexdigest(),
            "data_dir": data_dir,
        }
    finally:
        server.stop()


def _check_nothing_lost(result: dict) -> None:
    final = result["final"]
    ids = collections.Counter()
    ok_lines = [json.loads(line) for line in result["output"].splitlines()]
    err_lines = [json.loads(line) for line in result["errors"].splitlines()]
    for line in ok_lines + err_lines:
        ids[line["custom_id"]] += 1
    expected = {f"crash-{i}" for i in range(N_REQUESTS)}
    assert set(ids) == expected, (len(expected - set(ids)), len(set(ids) - expected))
    assert max(ids.values()) == 1, [cid for cid, n in ids.items() if n > 1][:10]
    assert all(line["response"]["status_code"] == 200 for line in ok_lines)
    assert all(line["error"] or line["response"]["status_code"] >= 400 for line in err_lines)
    counts = final["request_counts"]
    assert counts == {"total": N_REQUESTS, "completed": len(ok_lines), "failed": len(err_lines)}
    assert 0 < len(err_lines) < N_REQUESTS * 0.15  # the simulated failures, and no others
    assert result["input_ok"], "the uploaded input file changed"
    assert result["orphans"] == [], "files on disk that no API object owns"


def test_kill9_early_then_resume(tmp_path, input_bytes):
    """Killed straight after the create (validating, or only just running)."""
    result = _run_with_crashes(tmp_path, input_bytes, [("early", None)])
    assert result["seen"][0]["status"] in ("validating", "in_progress")
    _check_nothing_lost(result)


def test_kill9_late_in_progress_then_resume(tmp_path, input_bytes):
    """Killed when about 70 % of the requests were answered."""
    late = lambda b: b["status"] != "validating" and _progress(b) >= 0.7 * N_REQUESTS  # noqa: E731 - a one-line local helper
    result = _run_with_crashes(tmp_path, input_bytes, [("late", late)])
    assert result["seen"][0]["status"] in ("in_progress", "finalizing")
    assert _progress(result["seen"][0]) > 0
    _check_nothing_lost(result)


def test_kill9_twice_in_one_batch(tmp_path, input_bytes):
    """Killed at ~20 %, restarted, killed again at ~60 % of the remaining run, restarted."""
    first = lambda b: _progress(b) >= 0.2 * N_REQUESTS  # noqa: E731 - a one-line local helper
    second = lambda b: _progress(b) >= 0.6 * N_REQUESTS  # noqa: E731 - a one-line local helper
    result = _run_with_crashes(tmp_path, input_bytes, [("twice-1", first), ("twice-2", second)])
    assert [s["status"] for s in result["seen"]] == ["in_progress", "in_progress"]
    _check_nothing_lost(result)


def test_kill9_while_finalizing_then_resume(tmp_path, input_bytes):
    """Killed while the output and error files are being written."""
    result = _run_with_crashes(tmp_path, input_bytes, [("finalizing", lambda b: b["status"] == "finalizing")])
    assert result["seen"][0]["status"] == "finalizing"
    _check_nothing_lost(result)


def test_kill9_during_an_upload_keeps_what_was_uploaded(tmp_path, input_bytes):
    """Killed while a 40 MB upload streams in: the half-received file never becomes a file object, the file
    uploaded before it is intact."""
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    server = ServeProcess(data_dir, log)
    try:
        first = server.http.post("/files", data={"purpose": "batch"}, files={"file": ("a.jsonl", input_bytes)})
        file_id = first.json()["id"]
        received = threading.Event()

        def slow_body():
            boundary = b"--crashboundary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="b.jsonl"\r\n\r\n'
            for i in range(640):
                if i == 40:
                    received.set()
                yield input_bytes[:65536]
                time.sleep(0.005)
            yield b"\r\n--crashboundary--\r\n"

        def upload():
            try:
                server.http.post(
                    "/files",
                    content=slow_body(),
                    headers={"content-type": "multipart/form-data; boundary=crashboundary"},
                )
            except httpx.TransportError:
                pass  # the server died under it

        uploader = threading.Thread(target=upload)
        uploader.start()
        assert received.wait(20)
        server.kill9()
        uploader.join(20)
        CRASHES.append("upload: 40 MB upload mid-stream")
        server = ServeProcess(data_dir, log)
        files = server.http.get("/files").json()["data"]
        assert [f["id"] for f in files] == [file_id]
        assert server.http.get(f"/files/{file_id}/content").content == input_bytes
        finished = [p.name for p in (data_dir / "files").iterdir() if not p.name.endswith(".part")]
        assert finished == [file_id]
    finally:
        server.stop()


def _runner_owner(data_dir: Path, servers: list) -> "ServeProcess":
    """The serve process holding the runner's flock on the data dir (from /proc/locks)."""
    inode = os.stat(data_dir / "runner.lock").st_ino
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and fields[-3].split(":")[-1] == str(inode):
                pid = int(fields[-4])
                for server in servers:
                    if server.proc.pid == pid:
                        return server
        time.sleep(0.05)
    raise AssertionError("no serve process holds the runner lock")


def test_two_servers_on_one_data_dir_survive_losing_the_runner(tmp_path, input_bytes):
    """Two serve processes share a data dir; the one running the batch is killed; the other takes over."""
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    servers = [ServeProcess(data_dir, log), ServeProcess(data_dir, log)]
    try:
        owner = _runner_owner(data_dir, servers)
        other = servers[1 - servers.index(owner)]
        file_id = other.http.post("/files", data={"purpose": "batch"}, files={"file": ("c.jsonl", input_bytes)}).json()[
            "id"
        ]
        batch_id = other.http.post("/batches", json={"input_file_id": file_id, "endpoint": ENDPOINT}).json()["id"]
        before = _wait(other, batch_id, lambda b: _progress(b) >= 0.3 * N_REQUESTS)
        owner.kill9()
        servers.remove(owner)
        CRASHES.append(f"runner owner of two: {before['status']} {_progress(before)}/{N_REQUESTS}")
        assert _runner_owner(data_dir, servers) is other
        final = _wait(other, batch_id, lambda b: b["status"] == "completed")
        output = other.http.get(f"/files/{final['output_file_id']}/content").content
        errors = other.http.get(f"/files/{final['error_file_id']}/content").content if final["error_file_id"] else b""
        stored = other.http.get(f"/files/{file_id}/content").content
        known = {f["id"] for f in other.http.get("/files").json()["data"]}
    finally:
        for server in servers:
            server.stop()
    _check_nothing_lost(
        {
            "final": final,
            "output": output,
            "errors": errors,
            "orphans": [],
            "input_ok": hashlib.sha256(stored).digest() == hashlib.sha256(input_bytes).digest(),
        }
    )
    assert {final["output_file_id"], file_id} <= known


def test_crash_runs_were_done():
    """Runs last in this module; the report quotes these."""
    assert len(CRASHES) >= 7, CRASHES
    print("\ncrash points:", "; ".join(CRASHES))
