// Active panel: rows, stats, keyed updates, announcements, cancel / bulk cancel with confirmation, dismiss,
// open on Enter, empty and loading states, ticking durations, cleanup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { installDom, liveModel, row, NOW, answerDialog, settle } from "./_live_env.mjs";

installDom();
const { renderActiveList, runningSeconds, etaSeconds } = await import("../panels/active_list.js");
const { liveRows, syncRows } = await import("../lib/rows.js");

function mount(rows, opts = {}) {
  const model = liveModel({ _rows: { version: 1, rows }, _rows_patch: {}, _loaded: true, _banner: "", _notice: {} });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = renderActiveList(model, el, { now: () => NOW, ...opts });
  return { model, el, cleanup };
}
const ids = (el) => [...el.querySelectorAll("tbody tr")].map((tr) => tr.dataset.id);

test("rows: active first then newest, badge, counts, running time and ETA from timestamps", () => {
  const { el, cleanup } = mount({
    a: row("a", { created: NOW - 900 }),
    b: row("b", { status: "completed", ended: NOW - 50, created: NOW - 100, eta: null }),
    c: row("c", { created: NOW - 300, description: "Nightly eval" }),
  });
  assert.deepEqual(ids(el), ["c", "a", "b"]);
  const c = el.querySelector('tr[data-id="c"]');
  assert.equal(c.querySelector(".bw-row__name").textContent, "Nightly eval");
  assert.equal(c.querySelector(".bw-badge").textContent, "In progress");
  assert.equal(c.querySelector(".bw-row__counts").textContent, "50 / 100 done · 10 failed");
  const cells = c.querySelectorAll("td.bw-num");
  assert.equal(cells[0].textContent, "8m 20s"); // running since in_progress (NOW - 500)
  assert.equal(cells[1].textContent, "6m 40s"); // eta 500 measured 100 s ago
  assert.equal(el.querySelector('tr[data-id="b"] .bw-badge').textContent, "Completed");
  // A finished row says when it ended (muted), not a bare "50s ago" under the ETA header.
  const bEta = el.querySelectorAll('tr[data-id="b"] td.bw-num')[1];
  assert.equal(bEta.textContent, "ended 50s ago");
  assert.ok(bEta.classList.contains("bw-muted") && !cells[1].classList.contains("bw-muted"));
  assert.match(bEta.title, /^Ended \d{4}-/);
  cleanup();
});

test("stats cards: active batches, and requests over every batch shown", () => {
  const { el, cleanup } = mount({ a: row("a"), b: row("b", { total: 50, completed: 50, failed: 0 }),
    z: row("z", { status: "failed", ended: NOW, total: 10, completed: 0, failed: 10 }) });
  const values = [...el.querySelectorAll(".bw-stat__value")].map((v) => v.textContent);
  assert.deepEqual(values, ["2", "160", "90", "20"]);
  assert.equal(el.querySelector(".bw-stat__hint").textContent, "+ 1 recently finished");
  cleanup();
});

test("an update redraws only the changed row and announces a status change", async () => {
  const { model, el, cleanup } = mount({ a: row("a"), b: row("b") });
  const badgeB = el.querySelector('tr[data-id="b"] .bw-badge');
  const trA = el.querySelector('tr[data-id="a"]');
  model.update("_rows_patch", { version: 2, base: 1, rows: { a: row("a", { status: "completed", ended: NOW, completed: 90 }) }, drop: [] });
  assert.equal(el.querySelector('tr[data-id="a"]'), trA); // same node, updated in place
  assert.equal(el.querySelector('tr[data-id="b"] .bw-badge'), badgeB); // untouched
  assert.equal(trA.querySelector(".bw-badge").textContent, "Completed");
  await settle(2);
  assert.equal(el.querySelector("[aria-live=polite]").textContent, "Batch a is now Completed");
  cleanup();
});

test("cancel asks first, then sends one cancel action", async () => {
  const { model, el, cleanup } = mount({ a: row("a") });
  const cancel = el.querySelector('tr[data-id="a"] .bw-col-actions button');
  cancel.click();
  await answerDialog(el, false);
  assert.equal(model.sent.length, 0);
  cancel.click();
  await answerDialog(el, true);
  assert.deepEqual(model.sent.map((s) => s.msg), [{ action: "cancel", ids: ["a"] }]);
  cleanup();
});

test("select several and cancel them together; finished rows cannot be selected", async () => {
  const { model, el, cleanup } = mount({ a: row("a"), b: row("b"), d: row("d", { status: "completed", ended: NOW }) });
  const all = el.querySelector(".bw-toolbar input[type=checkbox]");
  all.click();
  const bulk = /** @type {HTMLButtonElement} */ (
    [...el.querySelectorAll(".bw-toolbar button")].find((b) => b.textContent.startsWith("Cancel")));
  assert.equal(bulk.textContent, "Cancel 2 batches");
  assert.equal(/** @type {HTMLInputElement} */ (el.querySelector('tr[data-id="d"] input')).disabled, true);
  bulk.click();
  await answerDialog(el, true);
  assert.deepEqual(model.sent[0].msg.action, "cancel");
  assert.deepEqual([...model.sent[0].msg.ids].sort(), ["a", "b"]);
  assert.equal(bulk.disabled, true); // selection cleared
  cleanup();
});

test("dismiss one finished batch, or all of them", () => {
  const { model, el, cleanup } = mount({ a: row("a"), d: row("d", { status: "failed", ended: NOW }) });
  const dismiss = [...el.querySelectorAll('tr[data-id="d"] button')].find((b) => b.textContent === "Dismiss");
  dismiss.click();
  [...el.querySelectorAll(".bw-toolbar button")].find((b) => b.textContent === "Dismiss finished").click();
  assert.deepEqual(model.sent.map((s) => s.msg), [
    { action: "dismiss", ids: ["d"] },
    { action: "dismiss", ids: "finished" },
  ]);
  cleanup();
});

test("rows open with a click or Enter when the host supports details; arrows move between rows", () => {
  const opened = [];
  const { el, cleanup } = mount({ a: row("a"), b: row("b", { created: NOW }) }, { onOpen: (id) => opened.push(id) });
  const [first, second] = el.querySelectorAll("tbody tr");
  assert.equal(first.tabIndex, 0);
  first.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  second.click();
  first.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
  assert.equal(document.activeElement, second);
  first.querySelector("input").click(); // the checkbox does not open the row
  assert.deepEqual(opened, ["b", "a"]);
  cleanup();
});

test("empty state with a call to action, and a loading state before the first answer", () => {
  let created = 0;
  const { model, el, cleanup } = mount({}, { onCreate: () => created++ });
  const empty = el.querySelector(".bw-empty");
  assert.equal(empty.hidden, false);
  empty.querySelector("button").click();
  assert.equal(created, 1);
  assert.equal(el.querySelector(".bw-table-wrap").hidden, true);
  model.update("_loaded", false);
  assert.equal(empty.hidden, true);
  assert.equal(el.querySelector(".bw-loading").hidden, false);
  cleanup();
});

test("refresh and banner dismiss send actions; a notice shows as a toast", async () => {
  const { model, el, cleanup } = mount({ a: row("a") });
  [...el.querySelectorAll("button")].find((b) => b.textContent === "Refresh").click();
  model.update("_banner", "Refresh failed: boom");
  assert.equal(el.querySelector(".bw-banner").textContent.includes("Refresh failed: boom"), true);
  el.querySelector(".bw-banner button").click();
  model.update("_notice", { seq: 1, text: "Batch a completed", tone: "success" });
  assert.equal(el.querySelector(".bw-toast--success .bw-toast__text").textContent, "Batch a completed");
  assert.deepEqual(model.sent.map((s) => s.msg.action), ["refresh", "dismiss_banner"]);
  cleanup();
});

test("API strings are text: a hostile description stays inert", () => {
  const evil = '<img src=x onerror="globalThis.pwned=1">';
  const { el, cleanup } = mount({ a: row("a", { description: evil, model: evil }) });
  assert.equal(el.querySelector("img"), null);
  assert.equal(el.querySelector(".bw-row__name").textContent, evil);
  cleanup();
});

test("running time and ETA helpers", () => {
  assert.equal(runningSeconds(row("a"), NOW), 500);
  assert.equal(runningSeconds(row("a", { status: "completed", ended: NOW - 100 }), NOW), 400);
  assert.equal(etaSeconds(row("a"), NOW), 400);
  assert.equal(etaSeconds(row("a"), NOW + 1000), 0);
  assert.equal(etaSeconds(row("a", { status: "finalizing" }), NOW), null);
});

test("rows follow the one protocol: a patch per change, stale patches ignored, a new snapshot replaces all", () => {
  const model = liveModel({ _rows: { version: 3, rows: { a: row("a") } }, _rows_patch: { version: 3, base: 2, rows: {}, drop: ["a"] } });
  const live = liveRows(model);
  assert.deepEqual([...live.get().keys()], ["a"]); // that patch is already in the snapshot
  let calls = 0;
  live.subscribe(() => calls++);
  model.update("_rows_patch", { version: 4, base: 3, rows: { b: row("b") }, drop: ["a"] });
  assert.deepEqual([...live.get().keys()], ["b"]);
  model.update("_rows_patch", { version: 4, base: 3, rows: { z: row("z") }, drop: [] }); // an old one again
  assert.deepEqual([...live.get().keys()], ["b"]);
  model.update("_rows", { version: 6, rows: { b: row("b"), c: row("c"), d: row("d") } }); // a fresh snapshot
  assert.deepEqual([...live.get().keys()], ["b", "c", "d"]);
  assert.equal(calls, 2);
  assert.equal(model.sent.length, 0); // nothing is ever asked of the kernel
  live.dispose();
  assert.equal(model.listenerCount(), 0);
});

test("rows nobody asked for yet are decoded once, when a view asks, with the patches that came meanwhile", () => {
  let decodes = 0;
  const model = liveModel({ _t: { version: 1, rows: { a: row("a") } }, _t_patch: {} });
  const live = syncRows(model, { snapshot: "_t", patch: "_t_patch",
    decode: (p) => { decodes += 1; return Object.values(p.rows || {}); } });
  model.update("_t_patch", { version: 2, base: 1, rows: { b: row("b") }, drop: [] });
  model.update("_t_patch", { version: 3, base: 2, rows: {}, drop: ["a"] });
  assert.equal(decodes, 0); // no view yet: nothing decoded
  const values = live.get();
  assert.deepEqual([...values.keys()], ["b"]);
  assert.equal(decodes, 3); // the snapshot and the two patches, once
  assert.equal(live.get(), values); // every view reads the same rows
  assert.equal(syncRows(model, { snapshot: "_t", patch: "_t_patch", decode: () => [] }), live); // one per model
  live.dispose();
  assert.equal(model.listenerCount(), 0);
});

test("cleanup removes the DOM and every listener", () => {
  const { model, el, cleanup } = mount({ a: row("a") });
  assert.ok(model.listenerCount() > 0);
  cleanup();
  liveRows(model).dispose(); // the model-lifetime row cache (the entry's initialize() returns this)
  assert.equal(model.listenerCount(), 0);
  assert.equal(el.children.length, 0);
});

test("the cancel confirmation names the batch by its description, with the id beside it", async () => {
  const { model, el, cleanup } = mount({ a: row("batch_a", { description: "Ticket triage" }) });
  el.querySelector('tr[data-id="batch_a"] .bw-col-actions button').click();
  await settle(2);
  assert.match(el.querySelector(".bw-dialog").textContent, /Batch “Ticket triage” \(batch_a\) will stop/);
  await answerDialog(el, false);
  assert.equal(model.sent.length, 0);
  cleanup();
});

test("a job is one row: parts and round, progress over all its requests, expands to its batches, cancels as one", async () => {
  const opened = [];
  const job = row("job_1", {
    kind: "job", description: "Ticket triage", parts: 2, round: 1, total: 300, completed: 200, failed: 10,
    batches: [
      { id: "batch_p1", part: 1, round: 0, status: "completed", total: 150, completed: 140, failed: 10 },
      { id: "batch_p2", part: 2, round: 0, status: "in_progress", total: 150, completed: 60, failed: 0 },
      { id: "batch_r1", part: 1, round: 1, status: "in_progress", total: 8, completed: 0, failed: 0 },
    ],
  });
  const { model, el, cleanup } = mount({ job_1: job, b: row("b") }, { onOpen: (id) => opened.push(id) });
  const tr = el.querySelector('tr[data-id="job_1"]');
  assert.equal(tr.querySelector(".bw-row__name").textContent, "Ticket triage");
  assert.match(tr.querySelector(".bw-row__sub").textContent, /^Job · 2 parts · round 1 · job_1/);
  assert.equal(tr.querySelector(".bw-row__counts").textContent, "210 / 300 done · 10 failed");
  const list = tr.querySelector(".bw-job__batches");
  assert.ok(list.hidden);
  tr.click(); // a job's row expands instead of opening details
  assert.ok(!list.hidden && opened.length === 0);
  const items = [...list.querySelectorAll("[data-batch]")];
  assert.deepEqual(items.map((b) => b.querySelector(".bw-job__part").textContent),
    ["Part 1/2", "Part 2/2", "Part 1/2 · retry 1"]);
  assert.deepEqual(items.map((b) => b.dataset.batch), ["batch_p1", "batch_p2", "batch_r1"]);
  items[1].click(); // a batch of the job opens its details
  assert.deepEqual(opened, ["batch_p2"]);
  // Progress moves with the job.
  model.update("_rows_patch", { version: 2, base: 1, rows: { job_1: { ...job, completed: 280 } }, drop: [] });
  assert.equal(tr.querySelector(".bw-row__counts").textContent, "290 / 300 done · 10 failed");
  tr.querySelector(".bw-col-actions button").click();
  const dialog = el.querySelector('[role="alertdialog"], [role="dialog"]');
  assert.match(dialog.textContent, /Cancel this job\?Job “Ticket triage” \(job_1\) will stop: its 2 running batches are cancelled/);
  await answerDialog(el, true);
  assert.deepEqual(model.sent.map((m) => m.msg), [{ action: "cancel", ids: ["job_1"] }]);
  el.dispatchEvent(new el.ownerDocument.defaultView.CustomEvent("bw-show-job", { detail: "job_1" }));
  assert.ok(!list.hidden && document.activeElement === tr);
  cleanup();
});
