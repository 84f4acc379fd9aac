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
import statistics
import subprocess
import sys
import tempfile
import time

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
    if not raw.strip():
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
start = time.perf_counter()
exec(code)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "rows": rows, "peak_kb": status("VmHWM") - before}))
"""


def run(name: str, path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUNNER, path], input=APPROACHES[name], capture_output=True,
                          text=True, check=False)
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
    print(f"file: {args.lines:,} lines, {size / 1e6:.1f} MB, 2 % failures, shuffled")
    print("peak memory = highest RSS during the timed code minus RSS before it (imports excluded)\n")
    # Round-robin, so that noise from other processes on a shared machine falls on every approach alike.
    runs: dict[str, list[dict]] = {name: [] for name in APPROACHES}
    for _ in range(args.repeat):
        for name in APPROACHES:
            runs[name].append(run(name, path))
    results = {name: (statistics.median(r["seconds"] for r in rs), min(r["seconds"] for r in rs),
                      max(r["peak_kb"] for r in rs)) for name, rs in runs.items()}
    assert all(r["rows"] for rs in runs.values() for r in rs)
    ours, ours_best, ours_kb = results["batch_widgets read_result_file"]
    sdk, sdk_best, _ = results["openai SDK ChatCompletion.model_validate per line"]
    print(f"{'approach':<52}{'median s':>10}{'best s':>9}{'vs ours':>9}{'peak mem (x file)':>19}")
    for name, (seconds, best, peak_kb) in results.items():
        print(f"{name:<52}{seconds:>10.3f}{best:>9.3f}{seconds / ours:>9.1f}{peak_kb * 1024 / size:>19.2f}")
    our_mem = ours_kb * 1024 / size
    print(f"\nSDK / ours = {sdk / ours:.1f}x by median, {sdk_best / ours_best:.1f}x by best run "
          f"(target >= 10x: {'met' if sdk / ours >= 10 else 'NOT met'}); "
          f"our peak memory {our_mem:.2f}x file (target <= 3x: {'met' if our_mem <= 3 else 'NOT met'})")
    if not args.keep:
        os.remove(path)


if __name__ == "__main__":
    main()
