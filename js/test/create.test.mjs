// Create panel: a dropped file is checked here first; a valid one travels in acknowledged binary chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { installDom, fakeModel, settle } from "./_panel_env.mjs";

installDom();
const { renderCreate, WINDOW, exampleLines } = await import("../panels/create.js");
const { MAX_FILE_BYTES, MAX_REQUESTS } = await import("../lib/facts.js");

const EP = "/v1/chat/completions";
const ENDPOINTS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"];
const line = (i, over = {}) => JSON.stringify({ custom_id: `r${i}`, method: "POST", url: EP,
  body: { model: "m", messages: [{ role: "user", content: `hello ${i}` }] }, ...over });

/** A kernel stand-in: acknowledges chunks like CreateMixin._on_create_chunk (optionally not at all). */
function kernel({ ack = true } = {}) {
  const chunks = new Map();
  return {
    chunks,
    onSend(msg, buffers, model) {
      if (msg.action === "create_begin") {
        model.update("_create_state", "receiving");
        model.update("_create_transfer", { upload_id: msg.upload_id, received: 0, total: msg.size, chunks: 0 });
      } else if (msg.action === "create_chunk") {
        chunks.set(msg.index, new Uint8Array(buffers[0]));
        if (ack) {
          const received = [...chunks.values()].reduce((n, c) => n + c.length, 0);
          model.update("_create_transfer", { upload_id: msg.upload_id, received, total: 0, chunks: chunks.size });
        }
      }
    },
  };
}

function setup(extra = {}, k = kernel()) {
  const model = fakeModel({
    _create_endpoints: ENDPOINTS, _create_windows: ["24h"],
    _create_limits: { max_bytes: MAX_FILE_BYTES, max_requests: MAX_REQUESTS, chunk_bytes: 64, max_shown_problems: 100 },
    _create_state: "idle", _create_transfer: {}, _create_progress: {}, _create_problems: [],
    _create_problem_count: 0, _create_error: "", _create_batch_id: "", _create_source: {}, ...extra,
  }, { onSend: (m, b, model) => k.onSend(m, b, model) });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = renderCreate(model, el);
  return { model, el, cleanup, k, q: (s) => el.querySelector(s) };
}

function drop(el, file) {
  const ev = new Event("drop", { bubbles: true, cancelable: true });
  Object.defineProperty(ev, "dataTransfer", { value: { files: [file] } });
  el.querySelector(".bw-create__drop").dispatchEvent(ev);
}

const actions = (model) => model.sent.map((s) => s.msg.action);

test("a valid dropped file is sent in acknowledged chunks of the limit size, then committed", async () => {
  const text = Array.from({ length: 20 }, (_, i) => line(i)).join("\n") + "\n";
  const file = new File([text], "in.jsonl");
  const { model, el, q, k, cleanup } = setup();
  drop(el, file);
  await settle();
  assert.match(q(".bw-create__file").textContent, /in\.jsonl.*20 requests, model m · ✓ no problems found$/);
  assert.equal(q(".bw-create__problems").textContent, "");
  assert.equal(q("select").value, EP); // taken from the file
  const submit = q(".bw-create__submit");
  assert.equal(submit.disabled, false);
  q(".bw-create__form input[type=text]").value = "nightly eval";
  /** @type {HTMLInputElement} */ (el.querySelectorAll(".bw-create__form input[type=text]")[1]).value = "eval, nightly";
  submit.click();
  await settle();
  const begin = model.sent.find((s) => s.msg.action === "create_begin").msg;
  const count = Math.ceil(file.size / 64);
  assert.equal(begin.size, file.size);
  assert.equal(begin.chunks, count);
  const chunkMsgs = model.sent.filter((s) => s.msg.action === "create_chunk");
  assert.equal(chunkMsgs.length, count);
  assert.ok(chunkMsgs.every((s) => s.buffers.length === 1 && s.buffers[0] instanceof ArrayBuffer
    && s.buffers[0].byteLength <= 64));
  assert.deepEqual(chunkMsgs.map((s) => s.msg.index), [...Array(count).keys()]);
  const joined = new TextDecoder().decode(new Uint8Array([...k.chunks.keys()].sort((a, b) => a - b)
    .flatMap((i) => [...k.chunks.get(i)])));
  assert.equal(joined, text);
  const commit = model.sent.at(-1).msg;
  assert.deepEqual({ ...commit, upload_id: undefined }, { action: "create_commit", upload_id: undefined,
    endpoint: EP, completion_window: "24h", description: "nightly eval", tags: "eval, nightly" });
  assert.equal(commit.upload_id, begin.upload_id);
  // raw content never travels in a trait: only the buffers carry it
  assert.ok(!JSON.stringify(model.state).includes("hello 3"));
  cleanup();
});

/** A valid 20-line file dropped and submitted to a kernel that does not acknowledge: one window is in flight. */
async function startStalledTransfer() {
  const k = kernel({ ack: false });
  const text = Array.from({ length: 20 }, (_, i) => line(i)).join("\n") + "\n";
  const { model, el, q, cleanup } = setup({}, k);
  drop(el, new File([text], "in.jsonl"));
  await settle();
  q(".bw-create__submit").click();
  await settle();
  assert.equal(model.sent.filter((s) => s.msg.action === "create_chunk").length, WINDOW);
  return { model, el, text, cleanup };
}

test("no more than WINDOW chunks are in flight before the kernel acknowledges", async () => {
  const { model, el, text, cleanup } = await startStalledTransfer();
  // the kernel catches up: the rest flows
  model.update("_create_transfer", { upload_id: model.sent.find((s) => s.msg.action === "create_begin").msg.upload_id,
    received: 3 * 64, total: text.length, chunks: WINDOW });
  await settle();
  assert.equal(model.sent.filter((s) => s.msg.action === "create_chunk").length, 2 * WINDOW);
  // a kernel-side failure stops the transfer
  model.update("_create_state", "error");
  model.update("_create_error", "Chunk 4 holds 3 bytes; expected 64.");
  await settle();
  assert.equal(actions(model).includes("create_commit"), false);
  assert.match(el.querySelector(".bw-banner").textContent, /Chunk 4/);
  cleanup();
});

test("closing the panel mid-transfer stops sending and leaves no listener behind", async () => {
  const { model, el, text, cleanup } = await startStalledTransfer();
  cleanup();
  await settle();
  assert.equal(model.listenerCount(), 0);
  assert.equal(actions(model).includes("create_commit"), false);
});

test("a bad file shows every problem with its line number and sends nothing", async () => {
  const lines = [line(1), line(1), "{oops", line(4, { method: "GET" }), line(5, { url: "/v1/embeddings" })];
  const { model, el, q, cleanup } = setup();
  drop(el, new File([lines.join("\n") + "\n"], "bad.jsonl"));
  await settle();
  const items = [...el.querySelectorAll(".bw-create__problem")];
  assert.deepEqual(items.map((li) => [li.getAttribute("data-line"), li.getAttribute("data-code")]), [
    ["2", "duplicate_custom_id"], ["3", "invalid_json_line"], ["4", "invalid_method"], ["5", "url_mismatch"]]);
  assert.match(items[0].textContent, /^Line 2duplicate_custom_idcustom_id: /);
  assert.match(q(".bw-create__problems-title").textContent, /4 problems found; nothing will be uploaded/);
  // The file line ends with what was read: no "no problems" claim, and no stray "null" from a skipped part.
  assert.match(q(".bw-create__file").textContent, /^bad\.jsonl — [\d.]+ \w+, 5 requests(, model m)?$/);
  assert.doesNotMatch(el.textContent, /null|undefined/);
  assert.equal(q(".bw-create__submit").disabled, true);
  q(".bw-create__submit").click();
  await settle();
  assert.deepEqual(actions(model).filter((a) => a !== "create_reset"), []);
  cleanup();
});

test("the problem list is capped; the total is shown", async () => {
  const { el, q, cleanup } = setup();
  drop(el, new File([Array(150).fill("nope").join("\n")], "junk.jsonl"));
  await settle();
  assert.equal(el.querySelectorAll(".bw-create__problem").length, 100);
  assert.match(q(".bw-create__problems-title").textContent, /^150 problems/);
  assert.equal(q(".bw-create__more").textContent, "…and 50 more.");
  cleanup();
});

test("choosing another endpoint re-checks the urls", async () => {
  const { el, q, cleanup } = setup();
  drop(el, new File([line(1) + "\n"], "in.jsonl"));
  await settle();
  assert.equal(q(".bw-create__submit").disabled, false);
  const sel = q("select");
  sel.value = "/v1/embeddings";
  sel.dispatchEvent(new Event("change"));
  await settle();
  assert.equal(el.querySelector(".bw-create__problem").getAttribute("data-code"), "url_mismatch");
  assert.equal(q(".bw-create__submit").disabled, true);
  assert.match(q(".bw-create__example").textContent, /"url":"\/v1\/embeddings"/);
  cleanup();
});

test("a file over the size limit is refused without being read", async () => {
  const { el, q, cleanup } = setup({ _create_limits: { max_bytes: 10, chunk_bytes: 64 } });
  drop(el, new File([line(1) + "\n"], "big.jsonl"));
  await settle();
  assert.equal(el.querySelector(".bw-create__problem").getAttribute("data-code"), "file_too_large");
  assert.equal(q(".bw-create__submit").disabled, true);
  cleanup();
});

test("the kernel's progress, its problems and the new batch id are shown", async () => {
  const { model, el, q, cleanup } = setup();
  model.update("_create_state", "uploading");
  model.update("_create_progress", { done: 512, total: 1024 });
  const meters = el.querySelectorAll(".bw-meter");
  assert.equal(meters[1].getAttribute("aria-valuenow"), "50");
  assert.match(q(".bw-create__state").textContent, /Uploading/);
  model.update("_create_problems", [{ line: 7, code: "model_mismatch", message: "m2 differs", field: "body.model" }]);
  model.update("_create_problem_count", 1);
  model.update("_create_state", "invalid");
  assert.equal(el.querySelector(".bw-create__problem").getAttribute("data-line"), "7");
  model.update("_create_problems", []);
  model.update("_create_problem_count", 0);
  model.update("_create_batch_id", "batch_42");
  model.update("_create_state", "done");
  assert.equal(q(".bw-create__state").textContent, "Batch batch_42 created.");
  cleanup();
});

test("requests given from Python: no file picker, create sends create_submit", async () => {
  const { model, q, cleanup } = setup({ _create_source: { name: "frame.jsonl", bytes: 2048, lines: 12 } });
  assert.equal(q(".bw-create__drop").hidden, true);
  assert.match(q(".bw-create__file").textContent, /frame\.jsonl — 12 requests, 2\.0 KB \(given from Python\)/);
  q(".bw-create__submit").click();
  assert.deepEqual(model.sent.at(-1).msg, { action: "create_submit", endpoint: ENDPOINTS[0],
    completion_window: "24h", description: "", tags: "" });
  cleanup();
});

test("example format follows the endpoint; cleanup removes listeners and DOM", () => {
  assert.match(exampleLines("/v1/embeddings"), /"input":"Hello!"/);
  assert.equal(exampleLines(EP).split("\n").length, 2);
  const { model, el, cleanup } = setup();
  cleanup();
  assert.equal(model.listenerCount(), 0);
  assert.equal(el.children.length, 0);
});

test("a file over one batch's request cap is offered as a job: the split is shown and the button says so", async () => {
  const text = Array.from({ length: 12 }, (_, i) => line(i)).join("\n") + "\n";
  const { model, el, q, cleanup } = setup({
    _create_limits: { max_bytes: 1_000_000, max_requests: 5, max_job_bytes: 10_000_000, chunk_bytes: 4096 },
  });
  drop(el, new File([text], "big.jsonl"));
  await settle();
  assert.equal(q(".bw-create__problems").textContent, ""); // over the cap is not a problem any more
  assert.ok(!q(".bw-create__job").hidden);
  assert.match(q(".bw-create__job").textContent, /^12 requests are over one batch's limits \(5 requests, .*split into 3 parts/);
  const submit = q(".bw-create__submit");
  assert.equal(submit.textContent, "Create job");
  assert.equal(submit.disabled, false);
  submit.click();
  await settle();
  assert.ok(actions(model).includes("create_commit"));
  model.update("_create_job", { id: "job_1", parts: 3 });
  model.update("_create_state", "done");
  assert.equal(q(".bw-create__state").textContent, "Job job_1 created: 3 parts.");
  cleanup();
});
