// The browser validator must agree with batch_widgets/validation.py: the same cases as
// tests/unit/test_validation.py, then a parity check that runs the Python validator on the same bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import {
  LineValidator, LineSplitter, validateBytes, validateFile, jsonErrorText, MAX_FILE_BYTES, MAX_REQUESTS,
} from "../lib/validate.js";

const EP = "/v1/chat/completions";
const req = (i, over = {}) => ({ custom_id: `r${i}`, method: "POST", url: EP,
  body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `hi ${i}` }] }, ...over });
const jl = (...objs) => objs.map((o) => JSON.stringify(o) + "\n");
const codes = (report) => report.problems.map((p) => [p.line, p.code]);
/** Feed whole lines (with "\n") to a validator, as Python's feed() takes them. */
function feedLines(v, lines) {
  const split = new LineSplitter(v);
  for (const l of lines) split.push(new TextEncoder().encode(l));
  return split.end();
}

test("limits are the generated facts' (the Python validator's)", async () => {
  const facts = await import("../lib/facts.js");
  assert.equal(MAX_REQUESTS, facts.MAX_REQUESTS);
  assert.equal(MAX_FILE_BYTES, facts.MAX_FILE_BYTES);
});

test("a valid file reports model, endpoint and size", () => {
  const text = jl(...[0, 1, 2, 3, 4].map((i) => req(i))).join("");
  const r = validateBytes(text, { endpoint: EP });
  assert.ok(r.ok);
  assert.deepEqual(r.problems, []);
  assert.equal(r.lineCount, 5);
  assert.equal(r.model, "gpt-4o-mini");
  assert.equal(r.endpoint, EP);
  assert.equal(r.sizeBytes, new TextEncoder().encode(text).length);
});

test("each problem has its code and 1-based line", () => {
  const lines = jl(
    req(1), req(1), req(3, { url: "/v1/embeddings" }), req(4, { method: "GET" }),
    req(5, { body: { messages: [] } }), req(6, { body: { model: "gpt-4o", messages: [] } }),
    req(7, { body: { model: "gpt-4o-mini", stream: true } }),
    { method: "POST", url: EP, body: { model: "gpt-4o-mini" } },
    req(9, { custom_id: 9 }), req(10, { body: "text" }), [1, 2],
  );
  lines.splice(11, 0, "{not json\n");
  const r = validateBytes(lines.join(""), { endpoint: EP });
  assert.deepEqual(codes(r), [
    [2, "duplicate_custom_id"], [3, "url_mismatch"], [4, "invalid_method"], [5, "missing_model"],
    [6, "model_mismatch"], [7, "stream_not_supported"], [8, "missing_custom_id"], [9, "invalid_line"],
    [10, "missing_body"], [11, "invalid_line"], [12, "invalid_json_line"],
  ]);
  assert.match(r.problems[0].message, /line 1/);
  assert.equal(r.problems[0].field, "custom_id");
  assert.equal(r.problems[4].field, "body.model");
  assert.ok(!r.ok);
  assert.equal(r.problemCount, 11);
});

test("messages do not repeat their field", () => {
  const lines = jl(req(1), req(1), req(3, { url: "/v1/embeddings" }), req(4, { method: "GET" }),
    req(5, { body: { model: "other" } }), req(6, { body: { model: "gpt-4o-mini", stream: true } }),
    { method: "POST", url: EP, body: null });
  const r = validateBytes(lines.join(""), { endpoint: EP });
  assert.equal(r.problems.length, 7);
  for (const p of r.problems) assert.ok(p.field && !p.message.startsWith(p.field), `${p.field}: ${p.message}`);
  const url = r.problems.find((p) => p.field === "url");
  assert.equal(url.message, "'/v1/embeddings' differs from the batch endpoint '/v1/chat/completions'");
});

test("JSON.parse's position wording becomes 'at column M' (V8 old and new, Firefox)", () => {
  assert.equal(jsonErrorText("Expected property name or '}' in JSON at position 1 (line 1 column 2)"),
    "Expected property name or '}' at column 2");
  assert.equal(jsonErrorText("Expected property name or '}' in JSON at position 1"),
    "Expected property name or '}' at column 2");
  assert.equal(jsonErrorText("JSON.parse: expected property name or '}' at line 1 column 2 of the JSON data"),
    "expected property name or '}' at column 2");
  assert.equal(jsonErrorText(`Unexpected token 'N', "{"a": NaN}" is not valid JSON`), "Unexpected token 'N'");
  assert.equal(jsonErrorText("Unexpected end of JSON input"), "Unexpected end of JSON input");
  const r = validateBytes([...jl(req(1)), '{"custom_id": "r2",, "method": "POST"}\n'].join(""));
  assert.deepEqual(codes(r), [[2, "invalid_json_line"]]);
  assert.match(r.problems[0].message, /^not valid JSON: .* at column 20$/);
  assert.doesNotMatch(r.problems[0].message, /line/);
});

test("url must match the first line when no endpoint is given", () => {
  const r = validateBytes(jl(req(1, { url: "/v1/embeddings" }), req(2)).join(""));
  assert.equal(r.endpoint, "/v1/embeddings");
  assert.deepEqual(codes(r), [[2, "url_mismatch"]]);
  assert.match(r.problems[0].message, /first line/);
});

test("empty input, and blank lines only at the end", () => {
  assert.deepEqual(codes(validateBytes("")), [[null, "empty_file"]]);
  assert.deepEqual(codes(validateBytes("\n  \n")), [[null, "empty_file"]]);
  assert.ok(validateBytes([...jl(req(1), req(2)), "\n", "\n"].join("")).ok);
  const r = validateBytes([...jl(req(1)), "\n", "\r\n", ...jl(req(2))].join(""));
  assert.deepEqual(codes(r), [[2, "invalid_json_line"], [3, "invalid_json_line"]]);
});

test("invalid UTF-8 is an invalid JSON line", () => {
  const good = new TextEncoder().encode(JSON.stringify(req(1)) + "\n");
  const bad = new Uint8Array([...new TextEncoder().encode('{"custom_id": "'), 0xff, ...new TextEncoder().encode('"}\n')]);
  const r = validateBytes(new Uint8Array([...good, ...bad]));
  assert.deepEqual(codes(r), [[2, "invalid_json_line"]]);
});

test("too many tasks is reported once, at the first excess line", () => {
  const v = new LineValidator(EP, { maxRequests: 3 });
  assert.deepEqual(codes(feedLines(v, jl(...[0, 1, 2, 3, 4].map((i) => req(i))))), [[4, "too_many_tasks"]]);
});

test("the size cap stops reading", () => {
  const lines = jl(...[...Array(10).keys()].map((i) => req(i)));
  const v = new LineValidator(EP, { maxBytes: new TextEncoder().encode(lines[0]).length * 3 });
  const r = feedLines(v, lines);
  assert.deepEqual(r.problems.map((p) => p.code), ["file_too_large"]);
  assert.ok(v.stopped);
  assert.equal(r.lineCount, 3);
});

test("problems are capped but all counted", () => {
  const v = new LineValidator(EP, { maxProblems: 5 });
  const r = feedLines(v, Array(20).fill("oops\n"));
  assert.equal(r.problems.length, 5);
  assert.equal(r.problemCount, 20);
});

test("a File is read in slices; lines split across slices are rejoined", async () => {
  const text = jl(...[...Array(50).keys()].map((i) => req(i, { body: { model: "m", messages: [{ content: "é✓" }] } })))
    .join("");
  const blob = new Blob([text]);
  let calls = 0;
  const r = await validateFile(blob, { endpoint: EP, sliceBytes: 7, onProgress: () => { calls += 1; } });
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 2)));
  assert.equal(r.lineCount, 50);
  assert.equal(r.sizeBytes, blob.size);
  assert.ok(calls > 100);
});

// -- parity with the Python validator on the same bytes --------------------------------------------------------

/** Seeded random JSONL documents: valid lines with one defect planted here and there. */
function fuzzCases(n, seed = 12345) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const values = [null, true, 0, 1.5, "", "x", "POST", "/v1/chat/completions", "/v1/embeddings", [], {}, "é✓"];
  const defects = [
    (o) => { delete o.custom_id; }, (o) => { o.custom_id = pick(values); }, (o) => { o.custom_id = "r1"; },
    (o) => { o.method = pick(values); }, (o) => { delete o.method; }, (o) => { o.url = pick(values); },
    (o) => { o.body = pick(values); }, (o) => { delete o.body.model; }, (o) => { o.body.model = pick(values); },
    (o) => { o.body.model = "other-model"; }, (o) => { o.body.stream = pick([true, false, "true", 1]); },
  ];
  const docs = [];
  for (let d = 0; d < n; d++) {
    const lines = [];
    const count = Math.floor(rnd() * 6);
    for (let i = 0; i < count; i++) {
      const r = rnd();
      if (r < 0.08) { lines.push(pick(["", "  ", "\t", "\r"])); continue; }
      if (r < 0.14) { lines.push(pick(["{oops", "[1,", "nul", '"str"', "42", "{\"a\": NaN}", "[Infinity]", "{} {}"])); continue; }
      const o = req(i);
      if (rnd() < 0.5) pick(defects)(o);
      lines.push(JSON.stringify(o));
    }
    docs.push(lines.join(pick(["\n", "\n", "\r\n"])) + pick(["\n", "", "\n\n"]));
  }
  return docs;
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const python = path.join(root, ".venv/bin/python");

test("same codes, lines and messages as batch_widgets.validation on tricky inputs", { skip: !existsSync(python) &&
  "no .venv/bin/python (run `make setup`)" }, () => {
  const cases = [
    jl(req(1), req(2)).join(""),
    jl(req(1), req(2)).join("").trimEnd(), // no final newline
    "\n" + jl(req(1)).join(""), // leading blank line
    jl(req(1)).join("") + "  \t\n\n",
    '{"custom_id": "", "method": "POST", "url": "", "body": {"model": ""}}\n',
    '{"custom_id": null, "method": null, "url": 5, "body": null}\n',
    '{"custom_id": true, "method": "post", "url": "/v1/x", "body": [1]}\n',
    'null\n"str"\n42\ntrue\n[]\n',
    jl(req(1, { body: { model: "a", stream: false } }), req(2, { body: { model: "b", stream: "yes" } })).join(""),
    jl(req(1)).join("") + "\r\n" + jl(req(1)).join(""),
    '{"custom_id": "a", "custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n',
    "\uFEFF" + jl(req(1)).join(""),
    jl(req(1, { url: "/v1/embeddings" })).join(""),
    ...fuzzCases(300),
  ];
  const script = `
import json, sys
from batch_widgets.validation import validate_lines
import io
def message(p):
    # The JSON parsers' own reasons differ between Python and the browser: compare only our wording.
    return p.message.split(": ")[0] if p.message.startswith("not valid JSON: ") else p.message
out = []
for case in json.load(sys.stdin):
    for endpoint in (None, "/v1/chat/completions"):
        r = validate_lines(io.BytesIO(case.encode("utf-8")), endpoint=endpoint)
        out.append({"codes": [[p.line, p.code, p.field] for p in r.problems],
                    "messages": [message(p) for p in r.problems], "lines": r.line_count,
                    "size": r.size_bytes, "model": r.model, "endpoint": r.endpoint})
print(json.dumps(out))`;
  const run = spawnSync(python, ["-c", script], { input: JSON.stringify(cases), encoding: "utf-8", cwd: root });
  assert.equal(run.status, 0, run.stderr);
  const expected = JSON.parse(run.stdout);
  let k = 0;
  for (const text of cases) {
    for (const endpoint of [null, EP]) {
      const r = validateBytes(text, { endpoint });
      const message = (p) => (p.message.startsWith("not valid JSON: ") ? p.message.split(": ")[0] : p.message);
      const got = { codes: r.problems.map((p) => [p.line, p.code, p.field]), messages: r.problems.map(message),
        lines: r.lineCount, size: r.sizeBytes, model: r.model, endpoint: r.endpoint };
      assert.deepEqual(got, expected[k], `case ${JSON.stringify(text)} endpoint ${endpoint}`);
      k += 1;
    }
  }
});
