"""The official Node SDK (`openai` on npm, its own multipart and paging code) as the client of the local server:
models.list() and retrieve(), a whole batch lifecycle, the 24h window and a 400 line in the error file."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from batch_widgets import facts
from batch_widgets.server.local import LocalBatchServer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import OpenAI, { toFile } from "openai";
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const out = {};
out.models = [];
for await (const m of client.models.list()) out.models.push(m.id);
out.retrieved = (await client.models.retrieve("gpt-4o-mini")).id;
const lines = [0, 1, 2].map((i) => JSON.stringify({ custom_id: `r${i}`, method: "POST", url: "/v1/chat/completions",
  body: { model: "gpt-4o-mini", messages: i === 2 ? [] : [{ role: "user", content: `hi ${i}` }] } })).join("\n");
const file = await client.files.create({ file: await toFile(Buffer.from(lines), "in.jsonl"), purpose: "batch" });
try {
  await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "1h" });
} catch (err) {
  out.window = { status: err.status, param: err.param };
}
let batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions",
  completion_window: "24h" });
while (!JSON.parse(process.env.TERMINAL).includes(batch.status)) {
  await new Promise((r) => setTimeout(r, 50));
  batch = await client.batches.retrieve(batch.id);
}
out.status = batch.status;
out.counts = batch.request_counts;
const errors = (await (await client.files.content(batch.error_file_id)).text()).trim().split("\n").map(JSON.parse);
out.errors = errors.map((e) => [e.custom_id, e.response.status_code, e.response.body.error.code]);
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_sdk_lists_models_and_runs_a_batch(tmp_path):
    with LocalBatchServer(tmp_path, api_key="node-key", rate=0, poll_interval=0.05) as server:
        run = subprocess.run(
            ["node", "--input-type=module", "-e", SCRIPT],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env={
                "BASE_URL": server.base_url,
                "API_KEY": "node-key",
                "TERMINAL": json.dumps(facts.TERMINAL_STATUSES),
                "PATH": os.environ.get("PATH", ""),
            },
        )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert "gpt-4o-mini" in out["models"] and out["retrieved"] == "gpt-4o-mini"
    assert out["window"] == {"status": 400, "param": "completion_window"}
    assert out["status"] == "completed" and out["counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert out["errors"] == [["r2", 400, "empty_array"]]
