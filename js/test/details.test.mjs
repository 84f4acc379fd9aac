// Details panel: fields, timeline, cost, errors, actions, downloads as browser downloads, states, cleanup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { installDom, liveModel, detail, row, NOW, answerDialog, settle } from "./_live_env.mjs";

installDom();
const { renderDetails, timelineSteps, shownMetadata } = await import("../panels/details.js");

function mount(d, opts = {}) {
  const model = liveModel({ _detail: d, _detail_id: d.id || "x", _detail_state: "", _banner: "", _notice: {} });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = renderDetails(model, el, { now: () => NOW, ...opts });
  return { model, el, cleanup };
}
const buttonNamed = (el, text) => [...el.querySelectorAll("button")].find((b) => b.textContent === text);
const kv = (el, card) => {
  const section = el.querySelector(`section[aria-label="${card}"]`);
  const out = {};
  const dts = section.querySelectorAll("dt");
  dts.forEach((dt) => (out[dt.textContent] = dt.nextElementSibling.textContent));
  return out;
};

test("every field: overview, counts, timeline with step times, timing, cost, files, metadata, errors", () => {
  const { el, cleanup } = mount(detail("batch_1"));
  assert.equal(el.querySelector(".bw-details__title").textContent, "Nightly eval");
  assert.equal(el.querySelector(".bw-badge").textContent, "Completed");
  const stats = [...el.querySelectorAll(".bw-details__progress .bw-stat__value")].map((v) => v.textContent);
  assert.deepEqual(stats, ["100", "95", "5", "95.0% of 100 done"]);
  assert.equal(kv(el, "Overview")["Batch ID"], "batch_1");
  assert.equal(kv(el, "Overview").Model, "gpt-4o-mini");
  const steps = [...el.querySelectorAll(".bw-step")].map((s) => s.querySelector(".bw-step__label").textContent);
  assert.deepEqual(steps, ["Created", "In progress", "Finalizing", "Completed"]);
  assert.equal(el.querySelectorAll(".bw-step")[1].querySelector(".bw-step__took").textContent, "+1m 40s");
  assert.equal(kv(el, "Timing")["Processing time"], "6m 40s");
  assert.equal(kv(el, "Cost").Cost, "$0.0123 from usage");
  assert.equal(kv(el, "Cost")["Input tokens"], "1,000");
  assert.deepEqual(kv(el, "Files"), { Input: "file-in", Output: "file-out", Errors: "file-err" });
  assert.deepEqual([...el.querySelectorAll(".bw-tags .bw-chip")].map((c) => c.textContent), ["eval", "nightly"]);
  assert.equal(kv(el, "Metadata").owner, "ml-team");
  const err = [...el.querySelectorAll('section[aria-label="Errors"] tbody td')].map((td) => td.textContent);
  assert.deepEqual(err, ["invalid_json_line", "bad line", "7"]);
  assert.equal(buttonNamed(el, "Cancel batch").hidden, true); // finished
  assert.equal(buttonNamed(el, "Retry failed").hidden, false); // 5 failed
  cleanup();
});

test("metadata lists the user's keys but not the client's internal create tag", async () => {
  const { REQUEST_TAG_KEY, GROUP_ID_KEY, PARENT_KEY } = await import("../lib/facts.js");
  const metadata = { description: "d", tags: "a,b", [REQUEST_TAG_KEY]: "4cdaef8ef4ad42be8d9e45b681b7682e",
    [GROUP_ID_KEY]: "grp-1", [PARENT_KEY]: "batch_0" };
  assert.deepEqual(shownMetadata(metadata), [[GROUP_ID_KEY, "grp-1"], [PARENT_KEY, "batch_0"]]);
  const { el, cleanup } = mount(detail("batch_1", { metadata }));
  assert.deepEqual(kv(el, "Metadata"), { [GROUP_ID_KEY]: "grp-1", [PARENT_KEY]: "batch_0" });
  assert.doesNotMatch(el.querySelector('section[aria-label="Metadata"]').textContent,
    new RegExp(`${REQUEST_TAG_KEY}|4cdaef8e`));
  // Ids sit under their label in a narrow card (a class the stylesheet's container query uses).
  assert.ok(el.querySelector('section[aria-label="Files"] dd').classList.contains("bw-kv__wide"));
  assert.equal(kv(el, "Cost").Cost, "$0.0123 from usage");
  cleanup();
});

test("a tiny cost is written in decimals, with the exact amount as its tooltip", () => {
  const { el, cleanup } = mount(detail("batch_1", { cost: { usd: 3.1e-7, source: "estimate", tokens: null } }));
  const dd = el.querySelector('section[aria-label="Cost"] dd');
  assert.equal(dd.textContent, "$0.00000031 estimated");
  assert.equal(dd.title, "$0.00000031");
  cleanup();
});

test("timeline of a running batch marks the current step; a failed validation skips steps", () => {
  const running = detail("b", { status: "in_progress", timeline: { created: 1, in_progress: 2 } });
  assert.deepEqual(timelineSteps(running).map((s) => s.state), ["done", "current", "todo", "todo"]);
  const failed = detail("b", { status: "failed", timeline: { created: 1, failed: 5 } });
  assert.deepEqual(timelineSteps(failed).map((s) => [s.label, s.state]), [["Created", "done"], ["Failed", "done"]]);
});

test("a running batch ticks its running time and ETA and can be cancelled after confirming", async () => {
  const d = detail("b", { ...row("b"), timeline: { created: NOW - 600, in_progress: NOW - 500 }, processing_seconds: null,
    output_file_id: "", error_file_id: "" });
  const { model, el, cleanup } = mount(d);
  assert.equal(kv(el, "Timing")["Running for"], "8m 20s");
  assert.equal(kv(el, "Timing").ETA, "6m 40s");
  assert.equal(buttonNamed(el, "Download results").hidden, true);
  buttonNamed(el, "Cancel batch").click();
  await answerDialog(el, true);
  assert.deepEqual(model.sent.map((s) => s.msg), [{ action: "cancel", ids: ["b"] }]);
  cleanup();
});

test("a status change is announced in the live region", async () => {
  const d = detail("b", { status: "in_progress" });
  const { model, el, cleanup } = mount(d);
  model.update("_detail", { ...d, status: "completed" });
  await settle(2);
  assert.equal(el.querySelector("[aria-live=polite]").textContent, "Batch Nightly eval is now Completed");
  cleanup();
});

test("buttons send their actions", () => {
  const { model, el, cleanup } = mount(detail("batch_1"));
  for (const name of ["Refresh", "Download results", "Download errors", "Retry failed", "Results as DataFrame"]) {
    buttonNamed(el, name).click();
  }
  assert.deepEqual(model.sent.map((s) => s.msg), [
    { action: "refresh", id: "batch_1" },
    { action: "download", kind: "output" },
    { action: "download", kind: "error" },
    { action: "retry_failed" },
    { action: "results_frame" },
  ]);
  cleanup();
});

test("a download message becomes a browser download of exactly those bytes", async () => {
  const { model, cleanup } = mount(detail("batch_1"));
  const blobs = [];
  const orig = URL.createObjectURL;
  URL.createObjectURL = (b) => (blobs.push(b), "blob:x");
  let name = null;
  document.addEventListener("click", (ev) => (name = /** @type {Element} */ (ev.target).getAttribute("download")), { once: true });
  const bytes = new TextEncoder().encode('{"custom_id":"r1"}\n');
  model.emitCustom({ type: "download", filename: "batch_1_output.jsonl", mime: "application/jsonl" },
    [new DataView(bytes.buffer)]);
  URL.createObjectURL = orig;
  assert.equal(name, "batch_1_output.jsonl");
  assert.equal(await blobs[0].text(), '{"custom_id":"r1"}\n');
  cleanup();
});

test("a standalone details view shows a clean loading state (no back button, no stray text)", () => {
  const { el, cleanup } = mount({});
  assert.equal(el.querySelector(".bw-empty").textContent, "Loading batch…");
  cleanup();
});

test("loading and missing states; back button when hosted in the dashboard", () => {
  let backs = 0;
  const { model, el, cleanup } = mount({}, { onBack: () => backs++ });
  assert.match(el.querySelector(".bw-empty").textContent, /Loading/);
  model.update("_detail_state", "missing");
  assert.match(el.querySelector(".bw-empty").textContent, /No batch x/);
  buttonNamed(el, "← Back").click();
  model.update("_detail", detail("batch_1"));
  assert.equal(el.querySelector(".bw-empty").hidden, true);
  buttonNamed(el, "← Back").click();
  assert.equal(backs, 2);
  cleanup();
});

test("cleanup removes the DOM and every listener (custom messages included)", () => {
  const { model, el, cleanup } = mount(detail("batch_1"));
  cleanup();
  assert.equal(model.listenerCount(), 0);
  assert.equal(el.children.length, 0);
});

test("the footer and the preview name the user's variable; the preview shows the first rows as text", () => {
  const { model, el, cleanup } = mount(detail("batch_1"));
  const hint = () => el.querySelector(".bw-hint").textContent;
  assert.match(hint(), /widget\.results_frame/); // no name known yet: never the nonexistent "details"
  assert.equal(el.querySelector('section[aria-label="Results preview"]').hidden, true);
  model.set("_py_name", "dashboard");
  model.set("_results_preview", { batch_id: "batch_1", rows: 7, columns: ["custom_id", "text"],
    head: [["r0", "<b>answer</b>"], ["r1", ""]] });
  assert.match(hint(), /dashboard\.results\(\)\.to_dataframe\(\).*dashboard\.results_frame/);
  const card = el.querySelector('section[aria-label="Results preview"]');
  assert.equal(card.hidden, false);
  assert.match(card.textContent, /First 2 of 7 rows of dashboard\.results_frame/);
  assert.deepEqual([...card.querySelectorAll("th")].map((th) => th.textContent), ["custom_id", "text"]);
  assert.equal(card.querySelector("tbody td:nth-child(2)").textContent, "<b>answer</b>"); // text, not HTML
  assert.equal(card.querySelector("tbody b"), null);
  model.set("_results_preview", { ...model.get("_results_preview"), batch_id: "other" });
  assert.equal(card.hidden, true); // a preview of another batch is not shown under this one
  cleanup();
});

test("a batch whose input was refused says so instead of 0 of 0", () => {
  const errors = [{ code: "invalid_json_line", message: "not valid JSON", line: 2, param: "" }];
  const { el, cleanup } = mount(detail("b", { status: "failed", total: 0, completed: 0, failed: 0, failed_validation: true, errors }));
  const refused = el.querySelector(".bw-details__refused");
  assert.equal(refused.hidden, false);
  assert.equal(refused.textContent, "Failed validation: no request ran. 1 problem in the input file, listed under Errors.");
  assert.equal(el.querySelector(".bw-details__progress .bw-stats").hidden, true);
  cleanup();
});

test("a batch of a job names its part and round and links to the job", () => {
  const shown = [];
  const job = { id: "job_9", part: 2, parts: 3, round: 1 };
  const { el, cleanup } = mount(detail("batch_1", { job }), { onShowJob: (id) => shown.push(id) });
  const line = el.querySelector(".bw-details__job");
  assert.ok(!line.hidden);
  assert.equal(line.querySelector("span").textContent, "Part 2/3 of job job_9 · retry round 1");
  buttonNamed(el, "Show job").click();
  assert.deepEqual(shown, ["job_9"]);
  cleanup();
  const plain = mount(detail("batch_2", { job: null, metadata: { group_id: "group_old" } })); // not a job
  assert.ok(plain.el.querySelector(".bw-details__job").hidden);
  plain.cleanup();
});

test("an expired output file says so instead of offering a download", () => {
  const { el, model, cleanup } = mount(detail("batch_1"));
  assert.equal(buttonNamed(el, "Download results").hidden, false);
  model.set("_files_gone", ["output"]);
  assert.equal(kv(el, "Files").Output, "output expired");
  assert.equal(kv(el, "Files").Errors, "file-err");
  assert.equal(buttonNamed(el, "Download results").hidden, true);
  assert.equal(buttonNamed(el, "Download errors").hidden, false);
  cleanup();
});

test("a simulated cost says so: no money was spent", () => {
  const { el, cleanup } = mount(detail("batch_1", { cost: { usd: 0.0123, source: "simulated", tokens: null } }));
  assert.equal(el.querySelector('section[aria-label="Cost"] dd').textContent, "$0.0123 simulated, not spent");
  cleanup();
});
