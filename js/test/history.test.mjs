// History panel: filter / sort / count / paging / export on 10,000 rows, the analytics charts, cleanup.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { installDom, fakeModel } from "./_panel_env.mjs";

installDom();
const historyModule = await import("../panels/history.js");
const { renderHistory, historyRows, decodeRows, filterRows, sortRows, toCSV, summarize, PAGE_SIZE } = historyModule;
const charts = await import("../lib/charts.js");
const fmt = await import("../lib/format.js");

const { STATUSES, COST_SOURCES } = await import("../lib/facts.js");
const code = (/** @type {string} */ s) => /** @type {readonly string[]} */ (STATUSES).indexOf(s);
const T0 = Date.parse("2026-01-01T00:00:00Z") / 1000;
/** The timestamp columns encode_rows sends (history_view.TIME_FIELDS). */
const TIME_FIELDS = ["created_at", "in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
  "cancelling_at", "cancelled_at", "expires_at"];

/** n rows, columnar as the kernel sends them (history_view.encode_rows). */
function makeRows(n) {
  const cols = { n, statuses: STATUSES, endpoints: ["/v1/chat/completions", "/v1/embeddings"],
    cost_sources: COST_SOURCES, id: [], desc: [], tags: [], status: [], endpoint: [],
    model: [], total: [], completed: [], failed: [], cost: [], cost_source: [], time_fields: TIME_FIELDS };
  for (const f of TIME_FIELDS) cols[f] = [];
  for (let i = 0; i < n; i++) {
    const status = code(i % 4 === 0 ? "failed" : i % 4 === 1 ? "in_progress" : "completed");
    const created = T0 + (n - i) * 3600; // newest first, one an hour
    cols.id.push(`batch_${String(i).padStart(5, "0")}`);
    cols.desc.push(i % 10 === 0 ? `Nightly eval ${i}` : `job ${i}`);
    cols.tags.push(i % 3 === 0 ? "eval,nightly" : "adhoc");
    cols.status.push(status);
    cols.endpoint.push(i % 5 === 0 ? 1 : 0);
    cols.model.push("gpt-4o-mini");
    cols.total.push(100);
    const done = status === code("completed");
    cols.completed.push(done ? 95 : status === code("in_progress") ? 40 : 0);
    cols.failed.push(done ? 5 : 0);
    const ended = done || status === code("failed") ? created + 600 + (i % 7) * 60 : null;
    for (const f of TIME_FIELDS) cols[f].push(null);
    cols.created_at[i] = created;
    cols.in_progress_at[i] = status === code("failed") ? null : created + 60;
    if (ended !== null) cols[done ? "completed_at" : "failed_at"][i] = ended;
    cols.cost.push(done ? 0.095 : null);
    cols.cost_source.push(COST_SOURCES.indexOf(done ? "estimate" : "unknown"));
  }
  return cols;
}

function setup(n = 10_000, extra = {}) {
  const model = fakeModel({ _history_rows: { version: 1, ...makeRows(n) }, _history_patch: {}, _history_filters: {},
    _history_analytics: false, _history_loading: false, ...extra });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = renderHistory(model, el);
  const q = (sel) => el.querySelector(sel);
  const count = () => q(".bw-history__count").textContent;
  const rows = () => [...el.querySelectorAll("tbody tr")];
  return { model, el, cleanup, q, count, rows };
}

function type(input, value) {
  input.value = value;
  input.dispatchEvent(new Event("input"));
}

test("10,000 rows: first page drawn, total counted, pager says where we are", () => {
  const { count, rows, q, cleanup } = setup();
  assert.equal(count(), "10,000 batches");
  assert.equal(rows().length, PAGE_SIZE);
  assert.equal(rows()[0].getAttribute("data-id"), "batch_00000"); // newest first
  assert.equal(q(".bw-history__page").textContent, "1–25 of 10,000");
  q(".bw-history__pager button:last-child").click();
  assert.equal(q(".bw-history__page").textContent, "26–50 of 10,000");
  assert.equal(rows()[0].getAttribute("data-id"), "batch_00025");
  cleanup();
});

test("the search box has a short placeholder; the fields it searches are its tooltip and label", () => {
  const { q, cleanup } = setup();
  const search = q(".bw-history__search");
  assert.equal(search.getAttribute("placeholder"), "Search batches");
  for (const attr of ["title", "aria-label"]) {
    assert.match(search.getAttribute(attr), /id, description or tags \(also model and endpoint\)/);
  }
  cleanup();
});

test("status chips (several at once), search, endpoint and dates filter; the count matches", () => {
  const { el, q, count, rows, cleanup } = setup();
  const chip = (s) => el.querySelector(`[data-status="${s}"]`);
  chip("failed").click();
  assert.equal(chip("failed").getAttribute("aria-pressed"), "true");
  assert.equal(count(), "2,500 of 10,000 batches match");
  chip("in_progress").click();
  assert.equal(count(), "5,000 of 10,000 batches match");
  assert.ok(rows().every((r) => /Failed|In progress/.test(r.textContent)));

  type(q(".bw-history__search"), "NIGHTLY eval"); // description, any case
  // descriptions "Nightly eval i" for i % 10 == 0; of those, statuses failed (i%4==0) or in_progress (i%4==1)
  const expected = [...Array(10_000).keys()].filter((i) => i % 10 === 0 && (i % 4 === 0 || i % 4 === 1)).length;
  assert.equal(count(), `${expected.toLocaleString("en-US")} of 10,000 batches match`);

  q(".bw-history__clear").click();
  assert.equal(count(), "10,000 batches");
  type(q(".bw-history__search"), "batch_0999"); // ids
  assert.equal(count(), "10 of 10,000 batches match"); // batch_09990 .. batch_09999

  q(".bw-history__clear").click();
  const sel = /** @type {HTMLSelectElement} */ (el.querySelector("select"));
  sel.value = "/v1/embeddings";
  sel.dispatchEvent(new Event("change"));
  assert.equal(count(), "2,000 of 10,000 batches match");

  q(".bw-history__clear").click();
  const [since, until] = /** @type {NodeListOf<HTMLInputElement>} */ (el.querySelectorAll('input[type="date"]'));
  // created = T0 + (n - i) h: 2026-01-02 (UTC) holds 24 batches
  since.value = "2026-01-02";
  since.dispatchEvent(new Event("change"));
  until.value = "2026-01-02";
  until.dispatchEvent(new Event("change"));
  assert.equal(count(), "24 of 10,000 batches match");
  cleanup();
});

test("tags are searched too, and an empty result says so", () => {
  const { q, count, cleanup, el } = setup(30);
  type(q(".bw-history__search"), "adhoc");
  assert.equal(count(), "20 of 30 batches match");
  type(q(".bw-history__search"), "no such thing");
  assert.equal(count(), "0 of 30 batches match");
  assert.equal(el.querySelector(".bw-history__empty").hidden, false);
  assert.match(el.querySelector(".bw-history__empty").textContent, /No batch matches/);
  cleanup();
});

test("the filter state is synced to the kernel once typing pauses", async () => {
  const { model, q, cleanup } = setup(100);
  type(q(".bw-history__search"), "n");
  type(q(".bw-history__search"), "ni");
  type(q(".bw-history__search"), "nig");
  assert.equal(model.saved.length, 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(model.saved.length, 1);
  assert.deepEqual(model.state._history_filters, { statuses: [], search: "nig", endpoint: "", since: "", until: "", connection: "" });
  cleanup();
});

test("filters set by the kernel (view.set_filters) show in the controls", () => {
  const { model, q, count, el, cleanup } = setup(100);
  model.update("_history_filters", { until: "", since: "", endpoint: "", search: "job 1", statuses: ["completed"] });
  assert.equal(q(".bw-history__search").value, "job 1");
  assert.equal(el.querySelector('[data-status="completed"]').getAttribute("aria-pressed"), "true");
  assert.match(count(), /of 100 batches match/);
  cleanup();
});

test("sortable columns: click sorts, second click reverses, aria-sort follows", () => {
  const { el, rows, cleanup } = setup(200);
  const header = (key) => el.querySelector(`th[data-key="${key}"]`);
  header("duration").querySelector("button").click();
  assert.equal(header("duration").getAttribute("aria-sort"), "descending");
  const durations = rows().map((r) => r.children[4].textContent);
  assert.ok(durations[0].includes("d"), `longest first (running batches): ${durations[0]}`);
  header("created").querySelector("button").click();
  assert.equal(header("created").getAttribute("aria-sort"), "descending");
  header("created").querySelector("button").click();
  assert.equal(header("created").getAttribute("aria-sort"), "ascending");
  assert.equal(rows()[0].getAttribute("data-id"), "batch_00199"); // oldest first
  cleanup();
});

test("pure helpers: decode, filter, sort, CSV", () => {
  const rows = decodeRows(makeRows(20), T0 + 1e6);
  assert.equal(rows.length, 20);
  assert.equal(rows[0].status, "failed");
  assert.equal(rows[2].rate, 0.95);
  const only = filterRows(rows, { statuses: ["completed"], search: "", endpoint: "", since: "", until: "",
    connection: "" });
  assert.equal(only.length, 10);
  sortRows(only, "id", 1);
  // by description (else id), as text: "job 11" < "job 14" < ... < "job 2" < "nightly eval 10"
  assert.deepEqual(only.slice(0, 2).map((r) => r.id), ["batch_00011", "batch_00014"]);
  const csv = toCSV([{ ...rows[0], desc: '=cmd|"x", y' }]);
  const [head, line] = csv.trim().split("\n");
  assert.match(head, /^id,status,endpoint,model,description,tags,created_at/);
  assert.ok(line.startsWith('batch_00000,failed,/v1/embeddings,gpt-4o-mini,"\'=cmd|""x"", y"'), line); // no formula
});

test("Export CSV downloads exactly the filtered rows", async () => {
  const { el, q, cleanup } = setup(500);
  el.querySelector('[data-status="failed"]').click();
  type(q(".bw-history__search"), "nightly");
  const blobs = [];
  const original = { create: URL.createObjectURL, revoke: URL.revokeObjectURL };
  URL.createObjectURL = (blob) => { blobs.push(blob); return "blob:test"; };
  URL.revokeObjectURL = () => {};
  try {
    q(".bw-history__export").click();
  } finally {
    Object.assign(URL, { createObjectURL: original.create, revokeObjectURL: original.revoke });
  }
  assert.equal(blobs.length, 1);
  assert.equal(blobs[0].type, "text/csv");
  const lines = (await blobs[0].text()).trim().split("\n");
  // failed (i % 4 == 0) and "nightly" in the description (i % 10 == 0) or the tags (i % 3 == 0)
  const expected = [...Array(500).keys()].filter((i) => i % 4 === 0 && (i % 10 === 0 || i % 3 === 0)).length;
  assert.match(q(".bw-history__count").textContent, new RegExp(`^${expected} of 500`));
  assert.equal(lines.length, 1 + expected);
  assert.ok(lines.slice(1).every((l) => l.includes(",failed,")));
  cleanup();
});

test("row action asks the kernel to open the details", () => {
  const { model, el, cleanup } = setup(10);
  el.querySelector('tbody tr [data-open="batch_00003"]').click();
  assert.deepEqual(model.sent.at(-1).msg, { action: "history_open", id: "batch_00003" });
  cleanup();
});

test("patches from the kernel update and add rows without a full reload", () => {
  const { model, count, el, cleanup } = setup(10);
  const patch = makeRows(2);
  patch.id = ["batch_00001", "batch_new"];
  patch.desc = ["renamed", "brand new"];
  patch.created_at = [T0 + 99 * 3600, T0 + 100 * 3600];
  model.update("_history_patch", { version: 2, base: 1, drop: [], ...patch });
  assert.equal(count(), "11 batches");
  assert.equal(el.querySelector("tbody tr").getAttribute("data-id"), "batch_new");
  assert.match(el.querySelector('tr[data-id="batch_00001"]').textContent, /renamed/);
  cleanup();
});

test("a view drawn late shows the rows as they are now: patches are followed from the model's start", () => {
  // The page loads with the current snapshot and the last patch (older: skipped; newer: applied).
  /** @type {Record<string, any>} */
  const rows = { version: 3, ...makeRows(10) };
  /** @type {Record<string, any>} */
  const late = { version: 4, base: 3, drop: [], ...makeRows(2) };
  late.id = ["batch_00001", "batch_late"];
  late.status = [code("cancelled"), code("completed")];
  late.created_at = [rows.created_at[1], T0 + 999 * 3600];
  const model = fakeModel({ _history_rows: rows, _history_patch: late, _history_filters: {},
    _history_analytics: false, _history_loading: false });
  const followed = historyRows(model); // what the entry's initialize() starts, before any view
  const more = { version: 5, base: 4, drop: [], ...makeRows(1) };
  more.id = ["batch_while_hidden"];
  model.update("_history_patch", more); // no view open
  model.update("_history_patch", { version: 4, base: 3, drop: [], ...makeRows(1), id: ["batch_stale"] });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = renderHistory(model, el); // the tab opened later
  assert.match(el.querySelector(".bw-history__count").textContent, /^12 batches/);
  assert.match(el.querySelector('tr[data-id="batch_00001"]').textContent, /Cancelled/);
  assert.equal(el.querySelector('tr[data-id="batch_stale"]'), null);
  // A second view of the same model reads the same rows.
  const el2 = document.createElement("div");
  const cleanup2 = renderHistory(model, el2);
  assert.equal(el2.querySelector(".bw-history__count").textContent, el.querySelector(".bw-history__count").textContent);
  // A new snapshot (sent after a load, or a change too big for a patch) replaces every row.
  model.update("_history_rows", { version: 9, ...makeRows(12) });
  assert.match(el.querySelector(".bw-history__count").textContent, /^12 batches/);
  assert.equal(el.querySelector('tr[data-id="batch_late"]'), null);
  cleanup();
  cleanup2();
  followed.dispose();
  assert.equal(model.listenerCount(), 0);
});

test("analytics toggle draws the four SVG charts from the filtered rows", () => {
  const { model, el, q, cleanup } = setup(400);
  assert.equal(q(".bw-history__analytics").hidden, true);
  q(".bw-history__toggle").click();
  assert.equal(model.state._history_analytics, true);
  const section = q(".bw-history__analytics");
  assert.equal(section.hidden, false);
  assert.equal(section.querySelectorAll("svg.bw-chart").length, 4);
  const donut = section.querySelector("svg.bw-chart-donut");
  assert.match(donut.getAttribute("aria-label"), /Success rate 95\.8%: 23000 succeeded, 1000 failed/);
  const bars = section.querySelector("svg.bw-chart-bars");
  assert.equal(bars.querySelectorAll("rect.bw-chart-bar").length, 3); // failed, in progress, completed
  assert.match(bars.getAttribute("aria-label"), /Completed 200/);
  const time = section.querySelector("svg.bw-chart-time");
  assert.equal(time.querySelectorAll("rect.bw-chart-bar").length, 10);
  assert.ok(time.querySelector("line.bw-chart-average"));
  const cost = section.querySelector("svg.bw-chart-cost");
  assert.match(cost.getAttribute("aria-label"), /\$19\.00 in total/); // 200 completed batches x $0.095
  // charts follow the filters
  el.querySelector('[data-status="failed"]').click();
  assert.match(section.querySelector("svg.bw-chart-donut").getAttribute("aria-label"), /No finished requests/);
  q(".bw-history__toggle").click();
  assert.equal(section.hidden, true);
  cleanup();
});

test("charts: empty data and exact geometry", () => {
  const d = charts.donutChart({ success: 3, failure: 1, size: 100 });
  const arc = d.querySelector("circle.bw-chart-success");
  const r = 100 / 2 - 12;
  assert.equal(arc.getAttribute("stroke-dasharray").split(" ")[0], (0.75 * 2 * Math.PI * r).toFixed(2));
  assert.equal(d.querySelector("text").textContent, "75.0%");
  assert.equal(charts.donutChart({ success: 0, failure: 0 }).querySelector("circle.bw-chart-success"), null);
  const t = charts.timeBars([], { average: 0, format: String });
  assert.equal(t.querySelectorAll("rect").length, 0);
  const s = summarize(decodeRows(makeRows(8)));
  assert.equal(s.by_status.failed, 2);
  assert.equal(s.priced_batches, 4);
});

test("bar charts name their bars and show their scale", () => {
  const items = [{ label: "Nightly eval", seconds: 30 }, { label: "Support ticket triage", seconds: 120 }];
  const t = charts.timeBars(items, { average: 75, format: (v) => `${v}s`, width: 320 });
  const titles = [...t.querySelectorAll("rect.bw-chart-bar > title")].map((n) => n.textContent);
  assert.deepEqual(titles, ["Nightly eval: 30s", "Support ticket triage: 120s"]); // hover says which and how much
  const ticks = [...t.querySelectorAll("text.bw-chart-tick")].map((n) => n.firstChild.nodeValue);
  assert.ok(ticks.includes("120s") && ticks.includes("0"), ticks.join()); // y scale: its maximum and zero
  assert.ok(ticks.includes("Nightly eval") && ticks.some((x) => x.startsWith("Support")), ticks.join()); // x names
  // Ten bars in a narrow chart: no room for columns, so they fold into rows, each one named and valued.
  const many = Array.from({ length: 10 }, (_, i) => ({ label: `batch ${i}`, cost: (i + 1) * 3.1e-7 }));
  const c = charts.costOverview({ total: 1, perBatch: 0.1, perRequest: 3.1e-7, priced: 10, batches: 10,
    recent: many, format: fmt.formatCost, width: 240 });
  assert.equal(c.querySelectorAll("rect.bw-chart-cost-bar > title").length, 10);
  assert.equal(c.querySelector("rect.bw-chart-cost-bar > title").textContent, "batch 0: $0.00000031");
  assert.ok([...c.querySelectorAll("text")].some((n) => n.textContent === "$0.0000031")); // y max, in decimals
  assert.doesNotMatch(c.textContent, /\de-\d/);
  const texts = [...c.querySelectorAll("text")].map((n) => n.firstChild && n.firstChild.nodeValue);
  for (const bar of many) assert.ok(texts.includes(bar.label) && texts.includes(fmt.formatCost(bar.cost)), bar.label);
  const slow = Array.from({ length: 10 }, (_, i) => ({ label: `Embed docs run ${i}`, seconds: 60 * (i + 1) }));
  const time = charts.timeBars(slow, { average: 300, format: (v) => `${v / 60}m 00s`, width: 300 });
  const names = [...time.querySelectorAll("text")].map((n) => n.firstChild && n.firstChild.nodeValue);
  for (const it of slow) assert.ok(names.includes(it.label) && names.includes(`${it.seconds / 60}m 00s`), it.label);
  assert.equal(time.querySelector("line.bw-chart-average").getAttribute("x1"),
    time.querySelector("line.bw-chart-average").getAttribute("x2")); // the average, across the rows
});

test("a batch cut short never looks healthy: its bar is the share of all its requests, warning-coloured", () => {
  const rows = makeRows(2);
  rows.status = [code("cancelled"), code("completed")];
  rows.total = [300, 100];
  rows.completed = [23, 95];
  rows.failed = [2, 5];
  const { el, cleanup } = setup(2, { _history_rows: { version: 1, ...rows } });
  const cut = el.querySelector('tr[data-id="batch_00000"]');
  assert.ok(cut.querySelector(".bw-rate--cut"));
  assert.equal(cut.querySelector(".bw-rate__fill").style.width, "7.7%"); // 23 of 300, not 92%
  assert.equal(cut.querySelector(".bw-history__unrun").textContent, "275 not run");
  assert.match(cut.querySelector(".bw-history__requests").textContent, /^25 \/ 300/); // done / total
  const ok = el.querySelector('tr[data-id="batch_00001"]');
  assert.equal(ok.querySelector(".bw-rate--cut"), null);
  assert.equal(ok.querySelector(".bw-rate__fill").style.width, "95.0%");
  cleanup();
});

test("cleanup removes the DOM and every model listener", () => {
  const { model, el, cleanup } = setup(10);
  assert.ok(model.listenerCount() > 0);
  cleanup();
  historyRows(model).dispose(); // the model-lifetime rows (the entry's initialize() returns this)
  assert.equal(model.listenerCount(), 0);
  assert.equal(el.children.length, 0);
});

test("a job's batches fold into one line with the job's counts; it expands to its parts and rounds", () => {
  const cols = makeRows(6);
  // batches 1, 2 and 3 are one job: parts 1 and 2, and a retry round of part 1 (its 5 failures run again).
  cols.jobs = ["job_7"];
  cols.job = [-1, 0, 0, 0, -1, -1];
  cols.part = [0, 1, 2, 1, 0, 0];
  cols.round = [0, 0, 0, 1, 0, 0];
  cols.status = [code("completed"), code("completed"), code("completed"), code("completed"), code("failed"),
    code("completed")];
  cols.total = [100, 100, 100, 5, 100, 100];
  cols.completed = [95, 95, 100, 4, 0, 95];
  cols.failed = [5, 5, 0, 1, 0, 5];
  cols.cost = [0.1, 0.1, 0.1, 0.01, null, 0.1];
  const { groupJobs } = historyModule;
  const lines = groupJobs(decodeRows(cols));
  assert.deepEqual(lines.map((r) => r.id), ["batch_00000", "job_7", "batch_00004", "batch_00005"]);
  const job = lines[1];
  assert.deepEqual([job.total, job.completed, job.failed, job.status], [200, 199, 1, "completed"]);
  assert.equal(job.cost.toFixed(2), "0.21");
  assert.deepEqual(job.members.map((m) => [m.part, m.round]), [[1, 0], [1, 1], [2, 0]]);

  const { el, rows, count, cleanup } = setup(6, { _history_rows: cols });
  assert.equal(count(), "6 batches"); // the count and the analytics stay per batch
  assert.equal(rows().length, 4);
  const line = el.querySelector('tbody tr[data-id="job_7"]');
  assert.match(line.textContent, /Job · 2 parts · round 1/);
  assert.match(line.querySelector(".bw-history__requests").textContent, /^200 \/ 2001 failed/); // all settled
  line.querySelector("[data-toggle]").click();
  assert.deepEqual(rows().map((tr) => tr.dataset.id),
    ["batch_00000", "job_7", "batch_00001", "batch_00003", "batch_00002", "batch_00004", "batch_00005"]);
  assert.equal(el.querySelector('tr[data-id="batch_00003"] .bw-history__part').textContent, "Part 1/2 · retry 1");
  el.querySelector('tr[data-id="batch_00003"] [data-open]').click(); // a batch of the job opens its details
  el.querySelector('tbody tr[data-id="job_7"] [data-toggle]').click();
  assert.equal(rows().length, 4);
  cleanup();
});
