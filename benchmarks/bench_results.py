"""The whole harvest, files -> one joined DataFrame: ours vs the floor and vs the official SDK by hand.

Generates a realistic 50,000-line (~86 MB) chat-completions output file with 2 % failures, shuffled, and two input
files for it: short prompts (~20 MB) and long prompts (~200 MB). Per input, in the same run:

- floor: ``pyarrow.json.read_json`` of the same output + input bytes (a bare read, nothing joined), the output
  read with our schema and block size (fields we skip are skipped there too); beside it, information, the same
  read with pyarrow's defaults;
- ours: ``BatchResults(output, None, input).to_dataframe()``, what ``client.results(id)`` runs on its downloads;
- the SDK by hand: ``ChatCompletion.model_validate`` per output line, ``json.loads`` per input line, pandas merge;
- from the API: ``client.results(id).to_dataframe()`` against our local server (a completed batch put into its
  storage) vs the SDK pattern over HTTP (``files.content(id).text``).

And the transfer: our client's streamed download of the 86 MB file from our server vs a plain static file
server (Python's http.server, in its own process like ours) read with urllib, both over loopback, and the floor
beside them: the same answer read from the socket into one reused buffer. Each approach runs in a fresh
subprocess (peak memory = that approach alone), round-robin so noise falls on all alike. The output-parse-only
rows are information.

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
import time

from _table import Row, free_port, report, start_local_server, start_server

WORDS = (
    "the model answered with a long and careful explanation of batch processing, tokens, latency, "
    "throughput and cost; élan naïve 数据 😀"
).split()
BATCH_ID = "batch_bench"


def generate(path: str, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        custom_id = f"request-{i}"
        if rng.random() < 0.02:
            if rng.random() < 0.5:
                line = {
                    "id": f"batch_req_{i:024x}",
                    "custom_id": custom_id,
                    "response": {
                        "status_code": 400,
                        "request_id": f"req_{i:032x}",
                        "body": {
                            "error": {
                                "message": "This model's maximum context length is 128000 tokens.",
                                "type": "invalid_request_error",
                                "param": "messages",
                                "code": "context_length_exceeded",
                            }
                        },
                    },
                    "error": None,
                }
            else:
                line = {
                    "id": f"batch_req_{i:024x}",
                    "custom_id": custom_id,
                    "response": None,
                    "error": {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    },
                }
        else:
            content = " ".join(rng.choice(WORDS) for _ in range(rng.randint(105, 195)))
            prompt, completion = rng.randint(50, 900), rng.randint(100, 400)
            line = {
                "id": f"batch_req_{i:024x}",
                "custom_id": custom_id,
                "response": {
                    "status_code": 200,
                    "request_id": f"req_{i:032x}",
                    "body": {
                        "id": f"chatcmpl-{i:029x}",
                        "object": "chat.completion",
                        "created": 1764400000 + i,
                        "model": "gpt-4o-mini-2024-07-18",
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": content,
                                    "refusal": None,
                                    "annotations": [],
                                },
                                "logprobs": None,
                                "finish_reason": rng.choice(["stop"] * 9 + ["length"]),
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                            "prompt_tokens_details": {"cached_tokens": rng.choice([0, 0, 0, 128]), "audio_tokens": 0},
                            "completion_tokens_details": {
                                "reasoning_tokens": 0,
                                "audio_tokens": 0,
                                "accepted_prediction_tokens": 0,
                                "rejected_prediction_tokens": 0,
                            },
                        },
                        "service_tier": "default",
                        "system_fingerprint": "fp_0123456789",
                    },
                },
                "error": None,
            }
        rows.append(json.dumps(line, ensure_ascii=False))
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(rows))
        out.write("\n")


def generate_input(path: str, lines: int, words: int, seed: int = 3) -> None:
    """The input file the output answers: ``words`` words per prompt on average, our compact encoding."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(words // 2, words * 3 // 2)))
            body = {
                "model": "gpt-4o-mini",
                "max_tokens": 400,
                "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": prompt}],
            }
            line = {"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


# Each approach ends with a DataFrame. The per-line body both SDK baselines share: a typed ChatCompletion per
# success line, the inputs by json.loads, then a pandas merge by custom_id (the usual hand-written harvest).
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
ins = []
for raw in input_lines:
    if raw.strip():
        o = json.loads(raw)
        m = o["body"].get("messages") or [{}]
        ins.append({"custom_id": o["custom_id"], "input": m[-1].get("content"), "body": json.dumps(o["body"])})
df = pd.DataFrame(ins).merge(pd.DataFrame(out), on="custom_id", how="left")
rows = len(df)
"""

FLOOR = """
import pyarrow.json as paj
from batch_widgets.results import _BLOCK_SIZE, LINE_SCHEMA
options = paj.ReadOptions(block_size=_BLOCK_SIZE)  # as ours
out = paj.read_json(OUTPUT, read_options=options,
                    parse_options=paj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore"))
inp = paj.read_json(INPUT, read_options=options)
rows = out.num_rows + inp.num_rows
"""
# The same read with pyarrow's defaults (every field, types inferred): slower than the floor above.
FLOOR_DEFAULTS = """
import pyarrow.json as paj
out = paj.read_json(OUTPUT)
inp = paj.read_json(INPUT)
rows = out.num_rows + inp.num_rows
"""
OURS = """
from batch_widgets.results import BatchResults
df = BatchResults(OUTPUT, None, INPUT).to_dataframe()
rows = len(df)
"""
SDK_FILES = (
    """
import json, pandas as pd
from openai.types.chat import ChatCompletion
out = []
with open(OUTPUT, "rb") as f:
    text = f.read().decode("utf-8")
with open(INPUT, "rb") as f:
    input_lines = f.read().decode("utf-8").splitlines()
for raw in text.splitlines():
"""
    + SDK_PER_LINE
)
OURS_API = """
import os
from batch_widgets.client import BatchClient
with BatchClient(api_key="bench", base_url=os.environ["API_URL"], max_retries=0) as client:
    results = client.results(os.environ["BATCH"])
    df = results.to_dataframe()
    results.close()
rows = len(df)
"""
SDK_API = (
    """
import json, os, pandas as pd, openai
from openai.types.chat import ChatCompletion
sdk = openai.OpenAI(base_url=os.environ["API_URL"], api_key="bench", max_retries=0)
batch = sdk.batches.retrieve(os.environ["BATCH"])
input_lines = sdk.files.content(batch.input_file_id).text.splitlines()
out = []
for raw in sdk.files.content(batch.output_file_id).text.splitlines():
"""
    + SDK_PER_LINE
)

WHOLE = {
    "floor": FLOOR,
    "floor_defaults": FLOOR_DEFAULTS,
    "ours": OURS,
    "sdk": SDK_FILES,
    "ours_api": OURS_API,
    "sdk_api": SDK_API,
}

# The output parse alone (no inputs, no join): information beside the whole path.
PARSE = {
    "batch_widgets read_result_file": """
from batch_widgets.results import read_result_file
df = read_result_file(OUTPUT)
rows = len(df)
""",
    "batch_widgets line-by-line fallback": """
from batch_widgets.results import read_result_file
df = read_result_file(OUTPUT, fast=False)
rows = len(df)
""",
    "pyarrow read_json + schema (raw)": """
import pyarrow.json as paj
from batch_widgets.results import _BLOCK_SIZE, LINE_SCHEMA
t = paj.read_json(OUTPUT, read_options=paj.ReadOptions(block_size=_BLOCK_SIZE),
                  parse_options=paj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore"))
rows = t.num_rows
""",
}

TRANSFER = {
    "static": """
import os, shutil, urllib.request
with urllib.request.urlopen(os.environ["STATIC_URL"]) as r, open(TARGET, "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)
rows = os.path.getsize(TARGET)
os.remove(TARGET)
""",
    "ours": """
import os
from batch_widgets.client import BatchClient
client = BatchClient(api_key="bench", base_url=os.environ["API_URL"], max_retries=0)
client.retrieve_file(os.environ["OUTPUT_ID"])  # connected, as urllib is once it has the headers
# timed
client.download_file(os.environ["OUTPUT_ID"], TARGET)
rows = os.path.getsize(TARGET)
os.remove(TARGET)
""",
    # The floor: the same answer read from the socket into one reused buffer (the ~200 header bytes included).
    "socket": """
import os, socket
from urllib.parse import urlsplit
url = urlsplit(os.environ["API_URL"])
sock = socket.create_connection((url.hostname, url.port))
# timed
path = f"{url.path}/files/{os.environ['OUTPUT_ID']}/content"
auth = "Authorization: Bearer bench\\r\\nConnection: close"
sock.sendall(f"GET {path} HTTP/1.1\\r\\nHost: {url.netloc}\\r\\n{auth}\\r\\n\\r\\n".encode())
buffer = bytearray(1 << 20)
view = memoryview(buffer)
with open(TARGET, "wb") as f:
    while n := sock.recv_into(buffer):
        f.write(view[:n])
rows = os.path.getsize(TARGET)
os.remove(TARGET)
""",
}

# Peak memory of the timed code alone: Linux's peak-RSS mark (VmHWM) is reset after the imports.
RUNNER = """
import json, re, sys, time
OUTPUT, INPUT, TARGET = sys.argv[1:4]
import pandas, pyarrow, pyarrow.json  # imports are not what we time
import openai.types.chat
import batch_widgets.results
def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))
setup, _, code = sys.stdin.read().rpartition("# timed\\n")  # what comes before the mark is not timed
exec(setup)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
start, cpu = time.perf_counter(), time.process_time()
exec(code)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
peak_kb = status("VmHWM") - before
frame_bytes = int(df.memory_usage(deep=True).sum()) if "df" in globals() else None  # what the call returned
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": rows, "peak_kb": peak_kb, "frame_bytes": frame_bytes}))
"""


def start_static(folder: str) -> tuple[subprocess.Popen, str]:
    """A plain static file server over loopback (the transfer's baseline): Python's http.server in its own
    process, as our server is, so neither shares a process (and its GIL) with the bench."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", folder, str(port)]
    return start_server(command, port, "the static file server"), f"http://127.0.0.1:{port}"


def start_api(folder: str, output: str, inputs: dict[str, str]) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """Our local server, its storage holding the output file and one completed batch per input file."""
    from batch_widgets.server.storage import Storage, new_batch_doc

    data = os.path.join(folder, "server")
    storage = Storage(data)
    now = int(time.time())

    def add(path: str, file_id: str, purpose: str) -> None:
        os.link(path, storage.file_path(file_id))
        storage.add_file(file_id, os.path.getsize(path), now, os.path.basename(path), purpose)

    add(output, "file-output0", "batch_output")
    batches = {}
    for name, path in inputs.items():
        file_id, batches[name] = f"file-input{name}", f"{BATCH_ID}{name}"
        add(path, file_id, "batch")
        doc = new_batch_doc(
            batches[name],
            endpoint="/v1/chat/completions",
            model=None,
            input_file_id=file_id,
            completion_window="24h",
            now=now,
            window=86400,
            metadata=None,
            status="completed",
            total=50000,
        )
        doc.update(
            output_file_id="file-output0",
            in_progress_at=now,
            finalizing_at=now,
            completed_at=now,
            request_counts={"total": 50000, "completed": 49000, "failed": 1000},
        )
        storage.insert_batch(doc)
    storage.close()
    server, url = start_local_server(data, "bench")
    return server, url, batches


def run(code: str, output: str, inputs: str, target: str, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, output, inputs, target],
        input=code,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if proc.returncode:
        raise SystemExit(f"failed:\n{code}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long-words", type=int, default=580, help="words per long prompt (~200 MB input)")
    parser.add_argument("--only", help="comma-separated groups to run: short,long,parse,transfer")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    output = os.path.join(folder, "output.jsonl")
    inputs = {"short": os.path.join(folder, "input_short.jsonl"), "long": os.path.join(folder, "input_long.jsonl")}
    generate(output, args.lines)
    generate_input(inputs["short"], args.lines, 30)
    generate_input(inputs["long"], args.lines, args.long_words)
    size = os.path.getsize(output)
    static, static_url = start_static(folder)
    api, api_url, batches = start_api(folder, output, inputs)
    target = os.path.join(folder, "download.jsonl")
    print(
        f"output: {args.lines:,} lines, {size / 1e6:.1f} MB, 2 % failures, shuffled; inputs: "
        + ", ".join(f"{k} prompts {os.path.getsize(v) / 1e6:.0f} MB" for k, v in inputs.items())
    )
    print("peak memory = highest RSS during the timed code minus RSS before it (imports excluded)\n")
    env = {"API_URL": api_url, "STATIC_URL": f"{static_url}/output.jsonl", "OUTPUT_ID": "file-output0"}
    jobs: dict[tuple[str, str], tuple[str, str, dict]] = {}
    for case, path in inputs.items():
        for name, code in WHOLE.items():
            jobs[(case, name)] = (code, path, {**env, "BATCH": batches[case]})
    for name, code in PARSE.items():
        jobs[("parse", name)] = (code, inputs["short"], env)
    for name, code in TRANSFER.items():
        jobs[("transfer", name)] = (code, inputs["short"], env)
    if args.only:
        jobs = {k: v for k, v in jobs.items() if k[0] in args.only.split(",")}
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in jobs}
    try:
        for _ in range(args.repeat):  # round-robin: noise from other processes falls on every approach alike
            for key, (code, path, job_env) in jobs.items():
                runs[key].append(run(code, output, path, target, job_env))
    finally:
        for server in (api, static):
            server.terminate()
            server.wait(10)
    med = {key: statistics.median(r["seconds"] for r in rs) for key, rs in runs.items()}
    cpu = {key: statistics.median(r["cpu"] for r in rs) for key, rs in runs.items()}
    peak = {key: max(r["peak_kb"] for r in rs) * 1024 for key, rs in runs.items()}
    frame = {key: rs[-1]["frame_bytes"] for key, rs in runs.items()}
    print(f"{'case':<10}{'approach':<40}{'median s':>10}{'cpu s':>8}{'peak MB':>9}")
    for (case, name), seconds in med.items():
        print(f"{case:<10}{name:<40}{seconds:>10.3f}{cpu[case, name]:>8.3f}{peak[case, name] / 1e6:>9.0f}")
    rows = []
    for case, path in inputs.items():
        if (case, "ours") not in med:
            continue
        ours, floor, sdk = med[case, "ours"], med[case, "floor"], med[case, "sdk"]
        mem, both = peak[case, "ours"] / size, size + os.path.getsize(path)
        label = f"{case} prompts ({os.path.getsize(path) / 1e6:.0f} MB in)"
        rows += [
            Row(
                f"{label}: whole harvest vs floor",
                f"{ours:.3f} s",
                f"read_json {floor:.3f} s",
                ours / floor,
                "<= 1.5x",
                ours / floor <= 1.5,
            ),
            Row(
                "  same, vs read_json with its defaults",
                f"{ours:.3f} s",
                f"read_json {med[case, 'floor_defaults']:.3f} s",
                ours / med[case, "floor_defaults"],
                "info",
                None,
            ),
            Row(
                f"{label}: whole harvest vs SDK by hand",
                f"{ours:.3f} s",
                f"SDK {sdk:.3f} s",
                sdk / ours,
                ">= 4x faster",
                sdk / ours >= 4,
            ),
            Row(
                f"{label}: peak memory",
                f"{peak[case, 'ours'] / 1e6:.0f} MB",
                f"output {size / 1e6:.0f} MB",
                mem,
                "<= 2x output",
                mem <= 2,
            ),
            Row(
                "  same, vs output + input",
                f"{peak[case, 'ours'] / 1e6:.0f} MB",
                f"files {both / 1e6:.0f} MB",
                peak[case, "ours"] / both,
                "info",
                None,
            ),
            Row(
                "  same, vs the frame it returns",
                f"{peak[case, 'ours'] / 1e6:.0f} MB",
                f"frame {frame[case, 'ours'] / 1e6:.0f} MB",
                peak[case, "ours"] / frame[case, "ours"],
                "info",
                None,
            ),
            Row(
                "  same, vs the bare read's peak + the frame",
                f"{peak[case, 'ours'] / 1e6:.0f} MB",
                f"{peak[case, 'floor'] / 1e6:.0f} + {frame[case, 'ours'] / 1e6:.0f} MB",
                peak[case, "ours"] / (peak[case, "floor"] + frame[case, "ours"]),
                "info",
                None,
            ),
            Row(
                "  whole harvest, CPU seconds",
                f"{cpu[case, 'ours']:.3f} s",
                f"read_json {cpu[case, 'floor']:.3f} s",
                cpu[case, "ours"] / cpu[case, "floor"],
                "info",
                None,
            ),
            Row(
                "  from the API: results(id).to_dataframe()",
                f"{med[case, 'ours_api']:.3f} s",
                f"SDK {med[case, 'sdk_api']:.3f} s",
                med[case, "sdk_api"] / med[case, "ours_api"],
                "info",
                None,
            ),
        ]
    if ("transfer", "ours") in med:
        ours_dl, static_dl = med["transfer", "ours"], med["transfer", "static"]
        rows.append(
            Row(
                f"download {size / 1e6:.0f} MB from our server",
                f"{size / ours_dl / 1e6:.0f} MB/s",
                f"static {size / static_dl / 1e6:.0f} MB/s",
                static_dl / ours_dl,
                ">= 0.7x",
                static_dl / ours_dl >= 0.7,
            )
        )

        def spread(approach: str) -> str:
            rates = [size / r["seconds"] / 1e6 for r in runs["transfer", approach]]
            return f"{min(rates):.0f}-{max(rates):.0f} MB/s"

        rows.append(
            Row(
                f"  same, range of {args.repeat} runs", spread("ours"), f"static {spread('static')}", None, "info", None
            )
        )
        socket_dl = med["transfer", "socket"]
        rows.append(
            Row(
                "  same, vs the socket read into one buffer",
                f"{size / ours_dl / 1e6:.0f} MB/s",
                f"socket {size / socket_dl / 1e6:.0f} MB/s",
                socket_dl / ours_dl,
                "info",
                None,
            )
        )
    if ("parse", "batch_widgets read_result_file") in med:
        parse = med["parse", "batch_widgets read_result_file"]
        for name in PARSE:
            rows.append(
                Row(
                    f"output parse only: {name}",
                    f"{med['parse', name]:.3f} s",
                    f"ours {parse:.3f} s",
                    med["parse", name] / parse,
                    "info",
                    None,
                )
            )
    report("results", rows)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
