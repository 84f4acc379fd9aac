"""One way to report a benchmark: rows of (what, measured, baseline, ratio, target, verdict), printed as a table
and appended as JSON lines to benchmarks/out/results.jsonl so `run_all.py` can print one summary."""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

OUT = pathlib.Path(__file__).resolve().parent / "out"


@dataclass
class Row:
    what: str
    measured: str
    baseline: str
    ratio: Optional[float]  # measured relative to the baseline, in the direction the target states
    target: str
    ok: Optional[bool]  # None: informational


def report(suite: str, rows: list[Row]) -> None:
    widths = [44, 16, 22, 8, 14, 6]
    header = ("what", "measured", "baseline", "ratio", "target", "")
    print(f"\n== {suite} ==")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        verdict = "-" if row.ok is None else ("pass" if row.ok else "SHORT")
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        cells = (row.what, row.measured, row.baseline, ratio, row.target, verdict)
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    OUT.mkdir(exist_ok=True)
    with open(OUT / "results.jsonl", "a") as fh:
        for row in rows:
            fh.write(json.dumps({"suite": suite, **asdict(row)}) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(command: list[str], port: int, what: str, cwd: Optional[pathlib.Path] = None) -> subprocess.Popen:
    """``command`` (a server on ``port`` of loopback) in its own process, returned once it accepts connections.
    The caller terminates the process."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                server.wait(10)
                raise SystemExit(f"{what} did not start") from None
            time.sleep(0.1)


def start_local_server(data_dir: str, api_key: str, cwd: Optional[pathlib.Path] = None) -> tuple[subprocess.Popen, str]:
    """Our local server in its own process on a free port: (process, base URL) once it accepts connections.
    The caller terminates the process."""
    port = free_port()
    command = ["-m", "batch_widgets.server.cli", "serve", "--port", str(port), "--data-dir", data_dir]
    server = start_server([sys.executable, *command, "--api-key", api_key], port, "the local server", cwd)
    return server, f"http://127.0.0.1:{port}/v1"
