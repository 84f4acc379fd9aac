"""Streaming a 200 MB file: the client's peak memory above its baseline, for upload and for download.

The local server runs in its own process, so only the client's memory is measured. Each phase runs in a fresh
client process: baseline = peak RSS after imports and connecting, then the transfer, then peak RSS again.
Target: download keeps peak memory < 50 MB above the baseline (the file is 200 MB).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

from _table import Row, report, start_local_server

SIZE_MB = 200
CLIENT = r"""
import json, os, resource, sys, pathlib
from batch_widgets.client import BatchClient
client = BatchClient(api_key=os.environ["KEY"], base_url=os.environ["URL"])
client.list_files(limit=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if sys.argv[1] == "upload":
    result = client.upload_file(pathlib.Path(sys.argv[2]), purpose="batch").id
else:
    result = str(client.download_file(sys.argv[2], pathlib.Path(sys.argv[3])))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"before_mb": before, "after_mb": after, "result": result}))
"""


def run_client(env: dict, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CLIENT, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        source = tmp / "big.jsonl"
        line = (json.dumps({"custom_id": "x", "padding": "y" * 1000}) + "\n").encode()
        with open(source, "wb") as fh:
            for _ in range(SIZE_MB * 1024 * 1024 // len(line)):
                fh.write(line)
        key = "bench-key"
        server, url = start_local_server(str(tmp / "data"), key)
        env = {**os.environ, "KEY": key, "URL": url}
        try:
            up = run_client(env, "upload", str(source))
            down = run_client(env, "download", up["result"], str(tmp / "copy.jsonl"))
            same = (tmp / "copy.jsonl").stat().st_size == source.stat().st_size
        finally:
            server.terminate()
            server.wait(10)
    size = source_size_mb = SIZE_MB
    rows = []
    for name, phase in (("upload", up), ("download", down)):
        extra = phase["after_mb"] - phase["before_mb"]
        rows.append(
            Row(
                f"{name} of a {size} MB file: peak above baseline",
                f"{extra:.1f} MB",
                f"{phase['before_mb']:.0f} MB",
                extra / source_size_mb,
                "< 50 MB",
                extra < 50,
            )
        )
    rows.append(Row("downloaded file identical in size", str(same), "-", None, "True", same))
    report("download", rows)


if __name__ == "__main__":
    main()
