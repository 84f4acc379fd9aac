// Dashboard shell: tabs (ARIA, keyboard), navigation list -> details -> back, one message area, cleanup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { installDom, liveModel, row, detail } from "./_live_env.mjs";

installDom();
const { renderDashboard } = await import("../panels/dashboard.js");
const { liveRows } = await import("../lib/rows.js");
const { MAX_REQUESTS } = await import("../lib/facts.js");

function mount(extra = {}) {
  const model = liveModel({
    _view: "dashboard", _tab: "active", _rows: { version: 1, rows: { a: row("a") } }, _rows_patch: {}, _loaded: true, _banner: "", _notice: {},
    _detail_id: "", _detail: {}, _detail_state: "", ...extra,
  });
  const el = document.createElement("div");
  el.classList.add("bw-root");
  document.body.append(el);
  const cleanup = renderDashboard(model, el);
  return { model, el, cleanup };
}

test("tabs follow the ARIA tabs pattern and the _tab trait", () => {
  const { model, el, cleanup } = mount();
  const tabs = [...el.querySelectorAll("[role=tab]")];
  assert.deepEqual(tabs.map((t) => t.firstChild.textContent), ["Active", "Create", "History & Analytics"]);
  assert.deepEqual(tabs.map((t) => t.getAttribute("aria-selected")), ["true", "false", "false"]);
  assert.equal(tabs[0].querySelector(".bw-tab__count").textContent, "1");
  const panel = el.querySelector(`#${tabs[0].getAttribute("aria-controls")}`);
  assert.equal(panel.getAttribute("role"), "tabpanel");
  assert.equal(panel.hidden, false);
  tabs[0].focus();
  tabs[0].dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
  assert.equal(model.get("_tab"), "history");
  assert.equal(document.activeElement, tabs[2]);
  assert.equal(panel.hidden, true);
  assert.equal(model.saved.at(-1)._tab, "history");
  model.update("_tab", "active"); // Python switched back
  assert.equal(tabs[0].getAttribute("aria-selected"), "true");
  cleanup();
});

test("a row opens its details (via _detail_id) and back returns to the list", () => {
  const { model, el, cleanup } = mount();
  el.querySelector('tr[data-id="a"]').click();
  assert.equal(model.get("_detail_id"), "a");
  assert.equal(model.saved.at(-1)._detail_id, "a");
  model.update("_detail", detail("a"));
  const details = el.querySelector(".bw-details");
  const list = el.querySelector(".bw-list");
  assert.equal(details.parentElement.hidden, false);
  assert.equal(list.parentElement.hidden, true);
  [...details.querySelectorAll("button")].find((b) => b.textContent === "← Back").click();
  assert.equal(model.get("_detail_id"), "");
  assert.equal(list.parentElement.hidden, false);
  assert.equal(document.activeElement, el.querySelector('tr[data-id="a"]')); // focus returns to the row
  cleanup();
});

test("one banner for the whole dashboard", () => {
  const { model, el, cleanup } = mount({ _banner: "Refresh failed: offline" });
  assert.equal(el.querySelectorAll(".bw-banner").length, 1);
  model.update("_banner", "");
  assert.equal(el.querySelectorAll(".bw-banner").length, 0);
  cleanup();
});

test("the empty list's call to action opens the Create tab", () => {
  const { model, el, cleanup } = mount({ _rows: { version: 0, rows: {} }, _create_endpoints: ["/v1/chat/completions"],
    _create_windows: ["24h"], _create_limits: { max_bytes: 1e8, max_requests: MAX_REQUESTS, chunk_bytes: 4194304,
      max_shown_problems: 100 }, _create_state: "idle", _create_transfer: {}, _create_progress: {},
    _create_problems: [], _create_problem_count: 0, _create_error: "", _create_batch_id: "", _create_source: {} });
  el.querySelector(".bw-empty button").click();
  assert.equal(model.get("_tab"), "create");
  cleanup();
});

test("cleanup removes everything it added", () => {
  const { model, el, cleanup } = mount();
  cleanup();
  liveRows(model).dispose();
  assert.equal(model.listenerCount(), 0);
  assert.equal(el.children.length, 0);
});

test("the header names the connection; the local server reads as a plain simulated badge", () => {
  const { model, el, cleanup } = mount({ _connection: { provider: "OpenAI", host: "api.openai.com", local: false } });
  const conn = el.querySelector(".bw-header .bw-connection");
  assert.equal(conn.textContent, "OpenAI · api.openai.com");
  assert.equal(conn.querySelector(".bw-connection__badge"), null);
  model.update("_connection", { provider: "Local simulated server", host: "127.0.0.1:8765", local: true });
  assert.equal(conn.querySelector(".bw-connection__badge").textContent, "Local simulated server");
  assert.match(conn.title, /simulated/);
  cleanup();
});

test("a fatal error: one banner with cause, fix and Retry; no endless 'Loading batches…'", () => {
  const { model, el, cleanup } = mount({ _loaded: false, _rows: { version: 1, rows: {} }, _banner: "",
    _fatal: { title: "The API key was refused (HTTP 401)", fix: "Check api_key= or OPENAI_API_KEY, then Retry.",
      detail: "HTTP 401: invalid_api_key: Incorrect API key provided." } });
  const banners = el.querySelectorAll(".bw-banner");
  assert.equal(banners.length, 1);
  assert.match(banners[0].textContent, /The API key was refused.*Check api_key= or OPENAI_API_KEY/);
  assert.equal(el.querySelector(".bw-list .bw-loading").textContent, "Not connected: see the message above.");
  assert.equal(el.querySelector(".bw-list .bw-spinner").hidden, true);
  const retry = [...banners[0].querySelectorAll("button")].find((b) => b.textContent === "Retry");
  retry.click();
  assert.deepEqual(model.sent.map((s) => s.msg), [{ action: "reconnect" }]);
  model.update("_fatal", {});
  assert.equal(el.querySelectorAll(".bw-banner").length, 0);
  assert.equal(el.querySelector(".bw-list .bw-loading").textContent, "Loading batches…");
  cleanup();
});

test("several connections: only a stopped one's banner offers Retry", () => {
  const { model, el, cleanup } = mount({ _conn_banners: { Claude: "The API key was refused (HTTP 401). To fix: …", OpenAI: "Refresh failed: 503" },
    _conn_stopped: ["Claude"] });
  const banners = [...el.querySelectorAll(".bw-banner")];
  assert.equal(banners.length, 2);
  const retry = (b) => [...b.querySelectorAll("button")].find((x) => x.textContent === "Retry");
  assert.ok(retry(banners.find((b) => b.textContent.startsWith("Claude"))));
  assert.equal(retry(banners.find((b) => b.textContent.startsWith("OpenAI"))), undefined);
  retry(banners[0]).click();
  assert.deepEqual(model.sent.map((s) => s.msg), [{ action: "reconnect" }]);
  cleanup();
});
