"""A browser file arriving at the kernel: 4 MiB chunks through CreateBatch's handlers, then validate + upload.

Runs the kernel side only (the chunks are fed to the same handlers the comm calls), in a fresh process, against
a local batch server in another process. Measured: the kernel's peak RSS above its baseline while receiving,
validating and uploading a ~100 MB JSONL file, and the wall time of each phase. The chunks are spooled to a
temporary file, so the peak should stay far below the file size. Target: peak < 25 % of the file size.
Also timed, in headless chromium: the browser-side check of the same file (js/lib/validate.js, read in slices).
Run: .venv/bin/python benchmarks/bench_create_upload.py [--mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from _table import Row, report, start_local_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNEL = r"""
import json, os, resource, sys, time
from batch_widgets.client import BatchClient
from batch_widgets.widgets.create import CHUNK_BYTES, CreateBatch

path = sys.argv[1]
size = os.path.getsize(path)
client = BatchClient(api_key=os.environ["KEY"], base_url=os.environ["URL"])
w = CreateBatch(client)
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = rss()
n = -(-size // CHUNK_BYTES)
t0 = time.perf_counter()
w._on_create_begin({"upload_id": "b", "name": "big.jsonl", "size": size, "chunks": n}, [])
with open(path, "rb") as fh:
    for i in range(n):
        w._on_create_chunk({"upload_id": "b", "index": i}, [memoryview(fh.read(CHUNK_BYTES))])
t1 = time.perf_counter()
w._on_create_commit({"upload_id": "b", "endpoint": "/v1/chat/completions"}, [])
batch_id = w.wait_created(600)
t2 = time.perf_counter()
print(json.dumps({"before_mb": before, "after_mb": rss(), "receive_s": t1 - t0, "create_s": t2 - t1,
                  "batch_id": batch_id, "state": w._create_state, "error": w._create_error}))
"""


def write_input(path: pathlib.Path, mb: int) -> int:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 2500}]}
    with open(path, "w") as fh:
        i = 0
        while fh.tell() < mb * 1024 * 1024:
            fh.write(
                json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
            )
            i += 1
    return i


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
PAGE = """<!doctype html><script type="module">
import { validateFile } from "/validate.js";
window.check = async (mb) => {
  // Lines like write_input()'s, built here: pushing 100 MB through the test driver would measure that.
  const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(2500) }] };
  const parts = [];
  let size = 0;
  for (let i = 0; size < mb * 1024 * 1024; i++) {
    const line = JSON.stringify({ custom_id: `r${i}`, method: "POST", url: "/v1/chat/completions", body }) + "\\n";
    parts.push(line);
    size += line.length;
  }
  const blob = new Blob(parts);
  const t0 = performance.now();
  const report = await validateFile(blob, { endpoint: "/v1/chat/completions" });
  return { ms: performance.now() - t0, ok: report.ok, lines: report.lineCount, bytes: blob.size };
};
window.ready = true;
</script>"""


def browser_check(mb: int) -> dict:
    """Time js/lib/validate.js on a file of the same lines in chromium (served through page.route)."""
    from playwright.sync_api import sync_playwright

    files = {
        "/": (PAGE.encode(), "text/html"),
        # validate.js and the modules it imports (the generated facts)
        **{
            f"/{name}": ((ROOT / "js/lib" / name).read_bytes(), "text/javascript")
            for name in ("validate.js", "facts.js")
        },
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route(
                "http://bench.local/**",
                lambda route, req: route.fulfill(
                    status=200,
                    body=files[req.url[len("http://bench.local") :]][0],
                    content_type=files[req.url[len("http://bench.local") :]][1],
                ),
            )
            page.goto("http://bench.local/")
            page.wait_for_function("window.ready === true")
            return page.evaluate("(mb) => window.check(mb)", mb)
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        data = pathlib.Path(tmp) / "big.jsonl"
        lines = write_input(data, args.mb)
        if lines > 50_000:
            raise SystemExit(f"{lines} lines: more than one batch holds; lower --mb")
        key = "sk-bench-create"
        server, url = start_local_server(tmp + "/srv", key, cwd=ROOT)
        try:
            env = {**os.environ, "KEY": key, "URL": url}
            run = subprocess.run(
                [python, "-c", KERNEL, str(data)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900
            )
            if run.returncode != 0:
                raise SystemExit(run.stderr[-3000:])
            out = json.loads(run.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(10)
        check = browser_check(args.mb)
    size_mb = args.mb
    if out["state"] != "done":
        raise SystemExit(f"create failed: {out['error']}")
    peak = out["after_mb"] - out["before_mb"]
    rows = [
        Row(
            f"kernel peak RSS above baseline ({size_mb} MB file)",
            f"{peak:.0f} MB",
            f"{size_mb} MB file",
            peak / size_mb,
            "< 25% of file",
            peak < 0.25 * size_mb,
        ),
        Row(f"receive {lines:,} lines in 4 MiB chunks", f"{out['receive_s']:.2f} s", "", None, "info", None),
        Row("validate + upload + create", f"{out['create_s']:.2f} s", "", None, "info", None),
        Row(
            f"browser check, {check['bytes'] / 2**20:.0f} MB ({check['lines']:,} lines)",
            f"{check['ms'] / 1000:.2f} s",
            "",
            None,
            "info",
            None,
        ),
    ]
    if not check["ok"] or not check["lines"]:
        raise SystemExit(f"the browser check found problems in a valid file: {check}")
    report("create: browser file through the kernel", rows)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
