// Shared helpers: formatters, the text-only element builder, badges, progress bars, dialog, Scope, download.
import { test } from "node:test";
import assert from "node:assert/strict";
import { installDom, settle } from "./_live_env.mjs";

installDom();
const dom = await import("../lib/dom.js");
const fmt = await import("../lib/format.js");

test("durations, numbers, costs, rates, relative times", () => {
  assert.equal(fmt.formatDuration(5), "5s");
  assert.equal(fmt.formatDuration(185), "3m 05s");
  assert.equal(fmt.formatDuration(3720), "1h 02m");
  assert.equal(fmt.formatDuration(2 * 86400 + 3 * 3600), "2d 03h");
  assert.equal(fmt.formatDuration(-1), "—");
  assert.equal(fmt.formatDuration(null), "—");
  assert.equal(fmt.formatNumber(1234567), "1,234,567");
  assert.equal(fmt.formatCompact(12345), "12.3K");
  assert.equal(fmt.formatCompact(950), "950");
  assert.equal(fmt.formatCost(0), "$0.00");
  assert.equal(fmt.formatCost(0.0042), "$0.0042");
  assert.equal(fmt.formatCost(1234.5), "$1,234.50");
  assert.equal(fmt.formatRate(2.5), "2.5 req/s");
  assert.equal(fmt.formatRate(0.5), "30 req/min");
  assert.equal(fmt.formatRelative(1000, 1300), "5m 00s ago");
  assert.equal(fmt.formatRelative(1000, 1002), "just now");
  assert.equal(fmt.formatPercent(0.955), "95.5%");
  assert.equal(fmt.formatBytes(1536), "1.5 KB");
  assert.match(fmt.formatDateTime(0), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
});

test("money is never in scientific notation and keeps two significant digits under a cent", () => {
  assert.equal(fmt.formatCost(3.1e-7), "$0.00000031");
  assert.equal(fmt.formatCost(5.04e-7), "$0.0000005");
  assert.equal(fmt.formatCost(0.00059), "$0.00059");
  assert.equal(fmt.formatCost(0.0123456), "$0.0123");
  assert.equal(fmt.formatCost(0.5), "$0.50");
  assert.equal(fmt.formatCost(2e-10), "< $0.00000001");
  assert.equal(fmt.formatCost(null), "—");
  for (let e = -12; e <= 7; e++) {
    for (const m of [1, 3.14159, 9.99]) assert.doesNotMatch(fmt.formatCost(m * 10 ** e), /e/i, `${m}e${e}`);
  }
  assert.equal(fmt.exactCost(3.12345e-7), "$0.000000312345");
  assert.equal(fmt.exactCost(undefined), "");
  // Other number formatters stay out of scientific notation too, down to tiny and up to huge values.
  for (const n of [1e-9, 1e21, 123456789012]) {
    for (const f of [fmt.formatNumber, fmt.formatCompact, fmt.formatBytes]) assert.doesNotMatch(f(n), /\de[+-]?\d/i, `${f.name}(${n})`);
  }
  assert.equal(fmt.formatRate(0.004), "14.4 req/h");
});

test("h() puts API strings in as text, never as HTML", () => {
  const evil = '<img src=x onerror="globalThis.pwned=1">';
  const el = dom.h("div", { text: evil, title: evil }, [evil, dom.h("span", { text: evil })]);
  assert.equal(el.querySelector("img"), null);
  assert.equal(el.firstChild.textContent, evil);
  assert.equal(el.getAttribute("title"), evil);
  assert.equal(dom.h("input", { disabled: false, checked: true }).hasAttribute("disabled"), false);
});

test("a badge for each of the 8 statuses, with colour class and text", () => {
  for (const s of dom.STATUSES) {
    const b = dom.statusBadge(s);
    assert.ok(b.classList.contains(`bw-badge--${s}`));
    assert.equal(b.textContent, dom.statusLabel(s));
    assert.equal(Boolean(b.querySelector(".bw-pulse")), dom.isActiveStatus(s));
  }
  assert.ok(dom.statusBadge("weird").classList.contains("bw-badge--unknown"));
});

test("progress bar: success and failure segments, aria values", () => {
  const bar = dom.progressBar({ total: 200, completed: 100, failed: 50 }, { label: "p" });
  const [ok, failed] = /** @type {HTMLElement[]} */ ([...bar.children]);
  assert.equal(ok.style.width, "50.00%");
  assert.equal(failed.style.width, "25.00%");
  assert.equal(bar.getAttribute("aria-valuenow"), "150");
  assert.equal(bar.getAttribute("aria-valuemax"), "200");
  dom.updateProgressBar(bar, { total: 0 });
  assert.equal(ok.style.width, "0.00%");
  assert.match(bar.getAttribute("aria-valuetext"), /no requests/);
});

test("confirm dialog: confirm resolves true, Escape resolves false, focus returns", async () => {
  const host = document.createElement("div");
  const opener = dom.button("open");
  host.append(opener);
  document.body.append(host);
  opener.focus();
  let p = dom.confirmDialog(host, { title: "Sure?", message: "<b>x</b>", danger: true });
  const dlg = host.querySelector("[role=alertdialog]");
  assert.ok(dlg);
  assert.equal(dlg.querySelector("p").textContent, "<b>x</b>");
  dlg.querySelectorAll("button")[1].click();
  assert.equal(await p, true);
  assert.equal(host.querySelector(".bw-overlay"), null);
  p = dom.confirmDialog(host, { title: "Sure?", message: "m" });
  host.querySelector(".bw-dialog").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
  assert.equal(await p, false);
  host.remove();
});

test("Scope removes every listener, model subscription and timer", async () => {
  const scope = new dom.Scope();
  const btn = dom.button("x");
  let clicks = 0;
  scope.on(btn, "click", () => clicks++);
  const calls = [];
  const model = { on: (n, f) => calls.push(["on", n, f]), off: (n, f) => calls.push(["off", n, f]) };
  scope.onModel(model, "change:x", () => {});
  let ticks = 0;
  scope.every(1, () => ticks++);
  btn.click();
  scope.dispose();
  btn.click();
  const ticksAtDispose = ticks;
  await settle(5);
  assert.equal(clicks, 1);
  assert.deepEqual(calls.map((c) => c[0]), ["on", "off"]);
  assert.equal(ticks, ticksAtDispose);
});

test("downloadBytes saves a Blob through a clicked <a download>", async () => {
  const created = [];
  const origCreate = URL.createObjectURL;
  URL.createObjectURL = (blob) => (created.push(blob), "blob:test");
  let clicked = /** @type {Element | null} */ (null);
  document.addEventListener("click", (ev) => (clicked = /** @type {Element} */ (ev.target)), { once: true });
  const blob = dom.downloadBytes("out.jsonl", new TextEncoder().encode('{"a":1}\n'), "application/jsonl");
  URL.createObjectURL = origCreate;
  assert.equal(await created[0].text(), '{"a":1}\n');
  assert.equal(blob.type, "application/jsonl");
  assert.equal(clicked.getAttribute("download"), "out.jsonl");
  assert.equal(document.querySelector("a[download]"), null); // removed again
});

test("hostIsDark follows JupyterLab's body flag, else the theme background", () => {
  const el = document.createElement("div");
  document.body.append(el);
  document.body.setAttribute("data-jp-theme-light", "false");
  assert.equal(dom.hostIsDark(el), true);
  document.body.setAttribute("data-jp-theme-light", "true");
  assert.equal(dom.hostIsDark(el), false);
  document.body.removeAttribute("data-jp-theme-light");
  document.body.style.setProperty("--jp-layout-color1", "#111111");
  assert.equal(dom.hostIsDark(el), true);
  document.body.style.removeProperty("--jp-layout-color1");
  assert.equal(dom.hostIsDark(el), false);
  document.body.classList.add("dark"); // marimo's dark theme
  assert.equal(dom.hostIsDark(el), true);
  document.body.classList.remove("dark");
  el.remove();
});
