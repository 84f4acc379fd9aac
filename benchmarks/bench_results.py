"""Output JSONL -> results DataFrame: our parser vs the usual ways, ratios measured in the same run.

Generates a realistic 50,000-line (~86 MB) chat-completions output file with 2 % failures, shuffled, then times
each approach in a fresh subprocess (so peak memory, ru_maxrss, belongs to that approach alone).

    .venv/bin/python benchmarks/bench_results.py [--lines 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _table import Row, report

BENCH_URL = ""  # the local file server, set in main()
WORDS = ("the model answered with a long and careful explanation of batch processing, tokens, latency, "
         "throughput and cost; élan naïve 数据 😀").split()


def generate(path: str, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        custom_id = f"request-{i}"
        if rng.random() < 0.02:
            if rng.random() < 0.5:
                line = {"id": f"batch_req_{i:024x}", "custom_id": custom_id, "response": {
                    "status_code": 400, "request_id": f"req_{i:032x}", "body": {"error": {
                        "message": "This model's maximum context length is 128000 tokens.",
                        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}},
                    "error": None}
            else:
                line = {"id": f"batch_req_{i:024x}", "custom_id": custom_id, "response": None, "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired."}}
        else:
            content = " ".join(rng.choice(WORDS) for _ in range(rng.randint(105, 195)))
            prompt, completion = rng.randint(50, 900), rng.randint(100, 400)
            line = {"id": f"batch_req_{i:024x}", "custom_id": custom_id, "response": {
                "status_code": 200, "request_id": f"req_{i:032x}", "body": {
                    "id": f"chatcmpl-{i:029x}", "object": "chat.completion", "created": 1764400000 + i,
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None,
                                                         "annotations": []},
                                 "logprobs": None, "finish_reason": rng.choice(["stop"] * 9 + ["length"])}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion,
                              "prompt_tokens_details": {"cached_tokens": rng.choice([0, 0, 0, 128]),
                                                        "audio_tokens": 0},
                              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                            "accepted_prediction_tokens": 0,
                                                            "rejected_prediction_tokens": 0}},
                    "service_tier": "default", "system_fingerprint": "fp_0123456789"}}, "error": None}
        rows.append(json.dumps(line, ensure_ascii=False))
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(rows))
        out.write("\n")


# Each approach ends with a DataFrame of the same core columns.
# The per-line body both SDK baselines share: typed ChatCompletion per success line, then a DataFrame.
SDK_PER_LINE = """    if not raw.strip():
        continue
    o = json.loads(raw)
    r = o.get("response") or {}
    e = o.get("error") or {}
    if r.get("status_code") == 200:
        c = ChatCompletion.model_validate(r["body"])
        ch = c.choices[0] if c.choices else None
        out.append({"custom_id": o["custom_id"], "status_code": 200,
                    "text": ch.message.content if ch else None, "finish_reason": ch.finish_reason if ch else None,
                    "model": c.model, "input_tokens": c.usage.prompt_tokens if c.usage else None,
                    "output_tokens": c.usage.completion_tokens if c.usage else None,
                    "error_code": None, "error_message": None})
    else:
        be = ((r.get("body") or {}).get("error") or {}) if r else {}
        out.append({"custom_id": o["custom_id"], "status_code": r.get("status_code") if r else None,
                    "text": None, "finish_reason": None, "model": None, "input_tokens": None,
                    "output_tokens": None, "error_code": e.get("code") or be.get("code"),
                    "error_message": e.get("message") or be.get("message")})
df = pd.DataFrame(out)
rows = len(df)
"""

APPROACHES = {
    "read bytes only (floor)": """
with open(PATH, "rb") as f:
    data = f.read()
rows = len(data)
""",
    "batch_widgets read_result_file": """
from batch_widgets.results import read_result_file
df = read_result_file(PATH)
rows = len(df)
""",
    "batch_widgets line-by-line fallback": """
from batch_widgets.results import read_result_file
df = read_result_file(PATH, fast=False)
rows = len(df)
""",
    "pyarrow read_json + schema (raw)": """
import pyarrow.json as paj
from batch_widgets.results import LINE_SCHEMA
t = paj.read_json(PATH, read_options=paj.ReadOptions(block_size=64 << 20),
                  parse_options=paj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore"))
rows = t.num_rows
""",
    "json.loads per line -> DataFrame": """
import json, pandas as pd
out = []
with open(PATH, "rb") as f:
    for raw in f:
        if not raw.strip():
            continue
        o = json.loads(raw)
        r = o.get("response") or {}
        b = r.get("body") or {}
        ch = (b.get("choices") or [{}])[0] if b.get("choices") else {}
        u = b.get("usage") or {}
        e = o.get("error") or b.get("error") or {}
        out.append({"custom_id": o["custom_id"], "status_code": r.get("status_code"),
                    "text": (ch.get("message") or {}).get("content"), "finish_reason": ch.get("finish_reason"),
                    "model": b.get("model"), "input_tokens": u.get("prompt_tokens"),
                    "output_tokens": u.get("completion_tokens"), "error_code": e.get("code"),
                    "error_message": e.get("message")})
df = pd.DataFrame(out)
rows = len(df)
""",
    "openai SDK ChatCompletion.model_validate per line": """
import json, pandas as pd
from openai.types.chat import ChatCompletion
out = []
with open(PATH, "rb") as f:
    text = f.read().decode("utf-8")
for raw in text.splitlines():
""" + SDK_PER_LINE,
    # The baseline (~2.7 s): the SDK pattern from the API, files.content(id).text, then per-line parsing.
    "openai SDK over HTTP: files.content().text + model_validate": """
import json, os, pandas as pd, openai
from openai.types.chat import ChatCompletion
sdk = openai.OpenAI(base_url=os.environ["BENCH_URL"], api_key="bench", max_retries=0)
out = []
for raw in sdk.files.content("file-output").text.splitlines():
""" + SDK_PER_LINE,
    "batch_widgets over HTTP: download_file (streamed) + parse": """
import os, tempfile
from batch_widgets.client import BatchClient
from batch_widgets.results import read_result_file
with BatchClient(api_key="bench", base_url=os.environ["BENCH_URL"], max_retries=0) as client:
    path = client.download_file("file-output", os.path.join(tempfile.mkdtemp(), "output.jsonl"))
df = read_result_file(path)
os.remove(path)
rows = len(df)
""",
}

# Peak memory of the timed code alone: Linux's peak-RSS mark (VmHWM) is reset after the imports.
RUNNER = """
import json, re, sys, time
PATH = sys.argv[1]
import pandas, pyarrow, pyarrow.json  # imports are not what we time
import openai.types.chat  # noqa
import batch_widgets.results  # noqa
def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))
code = sys.stdin.read()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
start, cpu = time.perf_counter(), time.process_time()
exec(code)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": rows, "peak_kb": status("VmHWM") - before}))
"""


def serve(path: str) -> tuple[ThreadingHTTPServer, str]:
    """GET /v1/files/file-output/content on 127.0.0.1, streaming the generated file (both clients use it)."""
    size = os.path.getsize(path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] != "/v1/files/file-output/content":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def run(name: str, path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUNNER, path], input=APPROACHES[name], capture_output=True,
                          text=True, check=False, env={**os.environ, "BENCH_URL": BENCH_URL})
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write the generated file here and keep it")
    args = parser.parse_args()
    path = args.keep or os.path.join(tempfile.mkdtemp(), "output.jsonl")
    generate(path, args.lines)
    size = os.path.getsize(path)
    global BENCH_URL
    server, BENCH_URL = serve(path)
    print(f"file: {args.lines:,} lines, {size / 1e6:.1f} MB, 2 % failures, shuffled")
    print("peak memory = highest RSS during the timed code minus RSS before it (imports excluded)\n")
    # Round-robin, so that noise from other processes on a shared machine falls on every approach alike.
    runs: dict[str, list[dict]] = {name: [] for name in APPROACHES}
    for _ in range(args.repeat):
        for name in APPROACHES:
            runs[name].append(run(name, path))
    results = {name: (statistics.median(r["seconds"] for r in rs), min(r["seconds"] for r in rs),
                      max(r["peak_kb"] for r in rs)) for name, rs in runs.items()}
    # CPU seconds (all threads) move less than wall time when other processes share the cores.
    cpu = {name: statistics.median(r["cpu"] for r in rs) for name, rs in runs.items()}
    assert all(r["rows"] for rs in runs.values() for r in rs)
    ours, ours_best, ours_kb = results["batch_widgets read_result_file"]
    sdk, sdk_best, _ = results["openai SDK ChatCompletion.model_validate per line"]
    print(f"{'approach':<62}{'median s':>10}{'best s':>9}{'cpu s':>8}{'vs ours':>9}{'peak mem (x file)':>19}")
    for name, (seconds, best, peak_kb) in results.items():
        print(f"{name:<62}{seconds:>10.3f}{best:>9.3f}{cpu[name]:>8.3f}{seconds / ours:>9.1f}"
              f"{peak_kb * 1024 / size:>19.2f}")
    our_mem = ours_kb * 1024 / size
    print(f"\nSDK / ours = {sdk / ours:.1f}x by median, {sdk_best / ours_best:.1f}x by best run "
          f"(target >= 10x: {'met' if sdk / ours >= 10 else 'NOT met'}); "
          f"our peak memory {our_mem:.2f}x file (target <= 3x: {'met' if our_mem <= 3 else 'NOT met'})")
    raw = results["pyarrow read_json + schema (raw)"][0]
    http_ours, http_ours_best, _ = results["batch_widgets over HTTP: download_file (streamed) + parse"]
    http_sdk, http_sdk_best, _ = results["openai SDK over HTTP: files.content().text + model_validate"]
    print(f"from the API (HTTP download included, the issue's ~2.7 s baseline): SDK / ours = "
          f"{http_sdk / http_ours:.1f}x by median, {http_sdk_best / http_ours_best:.1f}x by best run")
    # The target is the parse (the "output file -> DataFrame"); over HTTP both sides also pay the same
    # transfer from the local server, which bounds that ratio whatever the parser does, so it is shown as info.
    report("results", [
        Row("output file on disk -> DataFrame", f"{ours:.3f} s", f"SDK per line {sdk:.3f} s",
            sdk / ours, ">= 10x faster", sdk / ours >= 10),
        Row("  same, best run of each", f"{ours_best:.3f} s", f"SDK per line {sdk_best:.3f} s",
            sdk_best / ours_best, ">= 10x faster", None),
        Row("  same, CPU seconds (all threads)", f"{cpu['batch_widgets read_result_file']:.3f} s",
            f"SDK per line {cpu['openai SDK ChatCompletion.model_validate per line']:.3f} s",
            cpu["openai SDK ChatCompletion.model_validate per line"] / cpu["batch_widgets read_result_file"],
            "info", None),
        Row("  best any pyarrow reader could do", f"{raw:.3f} s", f"SDK per line {sdk:.3f} s", sdk / raw,
            "info", None),
        Row("from the API (download + parse)", f"{http_ours:.3f} s", f"SDK pattern {http_sdk:.3f} s",
            http_sdk / http_ours, "info", None),
        Row("peak memory of our parse", f"{our_mem:.2f}x file", f"{size / 1e6:.0f} MB file", our_mem, "<= 3x",
            our_mem <= 3),
        Row("ours vs pyarrow's bare read (floor)", f"{ours:.3f} s", f"pyarrow {raw:.3f} s", ours / raw, "info", None),
    ])
    server.shutdown()
    if not args.keep:
        os.remove(path)


if __name__ == "__main__":
    main()
