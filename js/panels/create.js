// @ts-check
// Create panel: pick or drop a JSONL file, see every problem with its line number (checked here first, by
// lib/validate.js, with the rules of the Python validator), then send it to the kernel in chunks of at most
// 4 MiB as binary buffers. The kernel acknowledges each chunk (`_create_transfer`), validates again, uploads
// to the API (`_create_progress`) and reports the new batch id (`_create_batch_id`).
import { h, append, clear, Scope, button, banner } from "../lib/dom.js";
import { formatBytes, formatNumber } from "../lib/format.js";
import { validateFile } from "../lib/validate.js";
import { MAX_FILE_BYTES, MAX_REQUESTS } from "../lib/facts.js";

/** Chunks in flight before waiting for the kernel's acknowledgement (bounds memory on both sides). */
export const WINDOW = 3;
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

const EXAMPLE_BODIES = /** @type {Record<string, object>} */ ({
  "/v1/chat/completions": { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello!" }] },
  "/v1/responses": { model: "gpt-4o-mini", input: "Hello!" },
  "/v1/embeddings": { model: "text-embedding-3-small", input: "Hello!" },
  "/v1/completions": { model: "gpt-3.5-turbo-instruct", prompt: "Hello!" },
  "/v1/moderations": { model: "omni-moderation-latest", input: "Hello!" },
  "/v1/images/generations": { model: "gpt-image-1", prompt: "A green square" },
  "/v1/images/edits": { model: "gpt-image-1", prompt: "Make it green", image: "https://example.com/in.png" },
  "/v1/videos": { model: "sora-2", prompt: "A green square spinning" },
});

/** Two example lines for an endpoint. @param {string} endpoint */
export function exampleLines(endpoint) {
  const body = EXAMPLE_BODIES[endpoint] || { model: "your-model" };
  return [1, 2].map((i) => JSON.stringify({ custom_id: `request-${i}`, method: "POST", url: endpoint, body }))
    .join("\n");
}

/** @param {string} label */
function meter(label) {
  const fill = h("span", { class: "bw-meter__fill" });
  const text = h("span", { class: "bw-meter__text" });
  const bar = h("div", { class: "bw-meter", role: "progressbar", "aria-label": label, "aria-valuemin": 0,
    "aria-valuemax": 100, "aria-valuenow": 0 }, [fill]);
  const wrap = h("div", { class: "bw-meter__row", hidden: true }, [h("span", { class: "bw-meter__label", text: label }),
    bar, text]);
  return {
    el: wrap,
    /** @param {number} done @param {number} total */
    set(done, total) {
      const pct = total > 0 ? Math.min(100, (100 * done) / total) : 100;
      fill.style.width = `${pct.toFixed(1)}%`;
      bar.setAttribute("aria-valuenow", pct.toFixed(0));
      text.textContent = `${formatBytes(done)} of ${formatBytes(total)}`;
      wrap.hidden = false;
    },
    hide() { wrap.hidden = true; },
  };
}

/**
 * @param {any} model
 * @param {HTMLElement} el
 * @returns {() => void}
 */
export function renderCreate(model, el) {
  const scope = new Scope();
  const limits = () => model.get("_create_limits") || {};
  /** @type {File | null} */
  let file = null;
  /** @type {import("../lib/validate.js").Report | null} */
  let report = null;
  let endpointTouched = false;
  let sending = false;
  let checkSeq = 0;

  // -- form -------------------------------------------------------------------------------------------------
  const input = h("input", { type: "file", accept: ".jsonl,.json,.txt,application/jsonl,application/x-ndjson",
    class: "bw-sr-only", id: `bw-file-${Math.random().toString(36).slice(2, 9)}` });
  const pick = h("label", { class: "bw-btn bw-btn--secondary", for: input.id, tabindex: 0, role: "button",
    text: "Choose file" });
  const drop = h("div", { class: "bw-create__drop", tabindex: -1 }, [
    h("p", { class: "bw-create__drop-text", text: "Drop a .jsonl file here, or" }), pick, input,
    h("p", { class: "bw-create__hint", text: "One request per line; checked here before anything is sent." }),
  ]);
  const fileInfo = h("div", { class: "bw-create__file", role: "status", "aria-live": "polite" });
  const problemsBox = h("div", { class: "bw-create__problems" });
  const jobNote = h("p", { class: "bw-create__job", hidden: true });
  const endpointSel = h("select", { class: "bw-input", id: `bw-ep-${Math.random().toString(36).slice(2, 9)}` });
  for (const ep of model.get("_create_endpoints") || []) endpointSel.append(h("option", { value: ep, text: ep }));
  const windowSel = h("select", { class: "bw-input", id: `bw-win-${Math.random().toString(36).slice(2, 9)}` });
  for (const w of model.get("_create_windows") || ["24h"]) windowSel.append(h("option", { value: w, text: w }));
  const desc = h("input", { type: "text", class: "bw-input", maxlength: 512, placeholder: "What this batch is for",
    id: `bw-desc-${Math.random().toString(36).slice(2, 9)}` });
  const tags = h("input", { type: "text", class: "bw-input", maxlength: 512, placeholder: "eval, nightly",
    id: `bw-tags-${Math.random().toString(36).slice(2, 9)}` });
  const example = h("pre", { class: "bw-create__example" });
  const createBtn = button("Create batch", { variant: "primary", class: "bw-create__submit" });
  const resetBtn = button("Create another", { variant: "secondary" });
  const transferMeter = meter("Sending to the kernel");
  const uploadMeter = meter("Uploading to the API");
  const stateText = h("p", { class: "bw-create__state", role: "status", "aria-live": "polite" });
  const errorBox = h("div", { class: "bw-create__error" });

  /** @param {string} text @param {HTMLElement} control */
  const field = (text, control) => h("div", { class: "bw-field" },
    [h("label", { class: "bw-field__label", for: control.id, text }), control]);

  const root = h("div", { class: "bw-create" }, [
    h("div", { class: "bw-create__source" }, [drop, fileInfo]),
    jobNote,
    problemsBox,
    h("div", { class: "bw-create__form" }, [
      field("Endpoint", endpointSel),
      field("Completion window", windowSel),
      field("Description", desc),
      field("Tags (comma-separated)", tags),
    ]),
    h("details", { class: "bw-create__format" }, [h("summary", { text: "Example format" }), example]),
    h("div", { class: "bw-create__actions" }, [createBtn, resetBtn]),
    transferMeter.el,
    uploadMeter.el,
    stateText,
    errorBox,
  ]);
  el.append(root);

  // -- checking a file --------------------------------------------------------------------------------------
  /** @param {File} f */
  async function choose(f) {
    file = f;
    report = null;
    model.send({ action: "create_reset" });
    draw();
    const seq = ++checkSeq;
    const max = limits().max_job_bytes || limits().max_bytes || MAX_FILE_BYTES;
    if (f.size > max) {
      // Too big to be worth reading: the same code the Python validator gives.
      report = { ok: false, problems: [{ line: null, code: "file_too_large", field: null,
        message: `the file is ${f.size.toLocaleString("en-US")} bytes; the limit is ${max.toLocaleString("en-US")}` }],
      problemCount: 1, lineCount: 0, model: null, endpoint: null, sizeBytes: f.size };
    } else {
      let r = await validateFile(f, { endpoint: endpointTouched ? endpointSel.value : null, onProgress: checking,
        limits: jobLimits() });
      // The file names its endpoint on every line: pre-select it unless the user chose one.
      const eps = model.get("_create_endpoints") || [];
      if (!endpointTouched && r.endpoint && eps.includes(r.endpoint)) endpointSel.value = r.endpoint;
      else if (!endpointTouched) {
        r = await validateFile(f, { endpoint: endpointSel.value, onProgress: checking, limits: jobLimits() });
      }
      if (seq !== checkSeq) return; // a newer file (or endpoint) replaced this one while it was read
      report = r;
    }
    if (seq === checkSeq) draw();
  }

  /** A file over one batch's caps is checked whole: it becomes a job of several parts. */
  function jobLimits() {
    return { maxRequests: Number.MAX_SAFE_INTEGER, maxBytes: limits().max_job_bytes || Number.MAX_SAFE_INTEGER };
  }

  /** How many parts the file needs (1: one batch). The kernel makes the exact split. @param {any} r */
  function partsFor(r) {
    if (!r) return 1;
    const perBatch = limits().max_requests || MAX_REQUESTS;
    const perBytes = limits().max_bytes || MAX_FILE_BYTES;
    return Math.max(1, Math.ceil(r.lineCount / perBatch), Math.ceil(r.sizeBytes / perBytes));
  }

  /** Big files take a while to read: say how far the check has got. @param {number} done @param {number} total */
  function checking(done, total) {
    const status = fileInfo.querySelector(".bw-create__checking");
    if (status && total > 0) status.textContent = `, checking… ${Math.floor((100 * done) / total)}%`;
  }

  async function recheck() {
    if (!file) return;
    const seq = ++checkSeq;
    const r = await validateFile(file, { endpoint: endpointSel.value, onProgress: checking, limits: jobLimits() });
    if (seq !== checkSeq) return;
    report = r;
    draw();
  }

  scope.on(input, "change", () => { if (input.files && input.files[0]) choose(input.files[0]); input.value = ""; });
  scope.on(pick, "keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
  });
  scope.on(drop, "dragover", (ev) => { ev.preventDefault(); drop.classList.add("bw-create__drop--over"); });
  scope.on(drop, "dragleave", () => drop.classList.remove("bw-create__drop--over"));
  scope.on(drop, "drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("bw-create__drop--over");
    const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
    if (f && !sending) choose(f);
  });
  scope.on(endpointSel, "change", () => { endpointTouched = true; drawExample(); recheck(); });

  // -- sending ----------------------------------------------------------------------------------------------
  function options() {
    return { endpoint: endpointSel.value, completion_window: windowSel.value, description: desc.value,
      tags: tags.value };
  }

  /** @type {Set<() => void>} waits to end (as failed) if the panel goes away mid-transfer */
  const waits = new Set();
  scope.add(() => { for (const stop of [...waits]) stop(); });

  /** Resolve once the kernel has acknowledged `count` chunks of this upload (false: it failed or we closed). */
  function acked(/** @type {string} */ uploadId, /** @type {number} */ count) {
    return new Promise((resolve) => {
      const finish = (/** @type {boolean} */ ok) => {
        model.off("change:_create_transfer", check);
        model.off("change:_create_state", check);
        waits.delete(stop);
        resolve(ok);
      };
      const stop = () => finish(false);
      const check = () => {
        const tr = model.get("_create_transfer") || {};
        if (model.get("_create_state") === "error") finish(false);
        else if (tr.upload_id === uploadId && tr.chunks >= count) finish(true);
      };
      waits.add(stop);
      model.on("change:_create_transfer", check);
      model.on("change:_create_state", check);
      check();
    });
  }

  async function send() {
    const source = model.get("_create_source") || {};
    if (source.name) {
      model.send({ action: "create_submit", ...options() });
      return;
    }
    if (!file || !report || !report.ok || sending) return;
    sending = true;
    draw();
    const chunkBytes = Math.min(limits().chunk_bytes || DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_BYTES);
    const count = Math.ceil(file.size / chunkBytes);
    const uploadId = `up-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      model.send({ action: "create_begin", upload_id: uploadId, name: file.name, size: file.size, chunks: count });
      for (let i = 0; i < count; i++) {
        if (i >= WINDOW && !(await acked(uploadId, i - WINDOW + 1))) return;
        const buf = await file.slice(i * chunkBytes, Math.min(file.size, (i + 1) * chunkBytes)).arrayBuffer();
        model.send({ action: "create_chunk", upload_id: uploadId, index: i }, undefined, [buf]);
      }
      model.send({ action: "create_commit", upload_id: uploadId, ...options() });
    } finally {
      sending = false;
      draw();
    }
  }

  scope.on(createBtn, "click", () => { send(); });
  scope.on(resetBtn, "click", () => {
    file = null;
    report = null;
    model.send({ action: "create_reset" });
    draw();
  });

  // -- drawing ----------------------------------------------------------------------------------------------
  function drawExample() {
    example.textContent = exampleLines(endpointSel.value);
  }

  /** @param {{line: number|null, code: string, message: string, field?: string|null}[]} problems @param {number} total */
  function drawProblems(problems, total) {
    clear(problemsBox);
    if (!total) return;
    const cap = limits().max_shown_problems || 100;
    const shown = problems.slice(0, cap);
    problemsBox.append(
      h("p", { class: "bw-create__problems-title", role: "alert",
        text: `${formatNumber(total)} problem${total === 1 ? "" : "s"} found; nothing will be uploaded until the ` +
          "file is fixed." }),
      h("ol", { class: "bw-create__problem-list" }, shown.map((p) => h("li", { class: "bw-create__problem",
        "data-line": p.line ?? "", "data-code": p.code }, [
        h("span", { class: "bw-create__line", text: p.line === null ? "File" : `Line ${p.line}` }),
        h("code", { class: "bw-create__code", text: p.code }),
        h("span", { text: p.field ? `${p.field}: ${p.message}` : p.message }),
      ]))),
    );
    if (total > shown.length) {
      problemsBox.append(h("p", { class: "bw-create__more", text: `…and ${formatNumber(total - shown.length)} more.` }));
    }
  }

  function draw() {
    const source = model.get("_create_source") || {};
    const state = model.get("_create_state") || "idle";
    const busy = sending || ["receiving", "validating", "uploading", "creating"].includes(state);
    drop.hidden = Boolean(source.name);
    const kernelProblems = model.get("_create_problem_count") || 0;
    clear(fileInfo);
    if (source.name) {
      fileInfo.append(h("strong", { text: source.name }),
        ` — ${formatNumber(source.lines)} requests, ${formatBytes(source.bytes)} (given from Python)`);
    } else if (file) {
      append(fileInfo, [h("strong", { text: file.name }), ` — ${formatBytes(file.size)}`,
        report ? `, ${formatNumber(report.lineCount)} requests${report.model ? `, model ${report.model}` : ""}`
          : h("span", { class: "bw-create__checking", text: ", checking…" }),
        // Say that the check passed, not only (by the absence of a list) that nothing failed.
        report && report.ok && !kernelProblems && state !== "invalid" ? h("span", { class: "bw-create__ok", text: " · ✓ no problems found" }) : null]); // append() skips the null
    }
    // The kernel's findings win once it has checked the file; before that, the browser's.
    if (kernelProblems || state === "invalid") drawProblems(model.get("_create_problems") || [], kernelProblems);
    else if (report && !source.name) drawProblems(report.problems, report.problemCount);
    else drawProblems([], 0);

    // Over one batch's caps: shown as the split it will get, and created as one job.
    const parts = source.name ? partsFor({ lineCount: source.lines, sizeBytes: source.bytes }) : partsFor(report);
    jobNote.hidden = parts < 2 || (!source.name && !(report && report.ok));
    const lines = source.name ? source.lines : report ? report.lineCount : 0;
    jobNote.textContent = parts < 2 ? "" : `${formatNumber(lines)} requests are over one batch's limits ` +
      `(${formatNumber(limits().max_requests || MAX_REQUESTS)} requests, ${formatBytes(limits().max_bytes || MAX_FILE_BYTES)}): ` +
      `they will be split into ${parts} parts and created as one job — failures retried, results merged.`;
    createBtn.textContent = parts > 1 ? "Create job" : "Create batch";
    const ready = source.name ? kernelProblems === 0 : Boolean(file && report && report.ok);
    createBtn.disabled = !ready || busy || state === "done";
    resetBtn.hidden = !(state === "done" || state === "error" || state === "invalid");
    endpointSel.disabled = windowSel.disabled = desc.disabled = tags.disabled = busy;

    const tr = model.get("_create_transfer") || {};
    if (tr.total !== undefined && !source.name && state !== "idle") transferMeter.set(tr.received || 0, tr.total);
    else transferMeter.hide();
    const up = model.get("_create_progress") || {};
    if (up.total !== undefined && state !== "idle") uploadMeter.set(up.done || 0, up.total);
    else uploadMeter.hide();

    const id = model.get("_create_batch_id");
    const job = model.get("_create_job") || {};
    stateText.textContent = /** @type {Record<string, string>} */ ({
      idle: "",
      receiving: "Sending the file to the kernel…",
      validating: "Checking the file in the kernel…",
      invalid: "The kernel found problems; nothing was uploaded.",
      uploading: "Uploading the file to the API…",
      creating: parts > 1 ? "Creating the job…" : "Creating the batch…",
      done: job.id ? `Job ${job.id} created: ${job.parts} parts.` : id ? `Batch ${id} created.` : "Batch created.",
      error: "",
    })[state] ?? "";
    clear(errorBox);
    const err = model.get("_create_error");
    if (state === "error" && err) errorBox.append(banner(err, { tone: "error" }));
  }

  for (const name of ["_create_state", "_create_transfer", "_create_progress", "_create_problems",
    "_create_problem_count", "_create_error", "_create_batch_id", "_create_source", "_create_job"]) {
    scope.onModel(model, `change:${name}`, draw);
  }
  drawExample();
  draw();
  return () => {
    checkSeq += 1; // a check still reading the file draws nothing after this
    scope.dispose();
    root.remove();
  };
}
