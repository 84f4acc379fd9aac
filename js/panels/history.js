// @ts-check
// History & analytics panel. The kernel sends every batch ONCE as a compact columnar structure
// (`_history_rows`) and later only the rows that change (`_history_patch`; the protocol is js/lib/rows.js);
// filtering, sorting, paging, the analytics and the CSV export all run here, so a keystroke never waits for the
// kernel. The filter state is synced back (`_history_filters`) so `view.to_dataframe()` in Python returns the same rows.
import { h, clear, Scope, button, statusBadge, STATUSES, statusLabel, downloadBytes, isActiveStatus } from "../lib/dom.js";
import {
  formatNumber, formatDuration, formatDateTime, formatPercent, formatCost, isoTime, requestCounts,
} from "../lib/format.js";
import { COST_SOURCES, CUT_SHORT_STATUSES } from "../lib/facts.js";
import { donutChart, barChart, timeBars, costOverview } from "../lib/charts.js";
import { NOT_CONNECTED } from "../lib/panel.js";
import { endedAt, summarize as summaryStats, toCSV } from "../lib/stats.js";
import { syncRows } from "../lib/rows.js";
import { unpackColumns } from "../lib/columnar.js";

export { toCSV };

export const PAGE_SIZE = 25;
const DAY = 86400;

/**
 * One batch in the table: the numbers the statistics and the CSV need (js/lib/stats.js) plus the lower-cased
 * search text, the success rate (-1: nothing done yet) and the running duration; a job's batch its job, part
 * and round. A job's line (groupJobs) also has its batches (`members`) and its number of parts.
 * @typedef {import("../lib/stats.js").StatRow & {hay: string, rate: number, duration: number, job: string,
 *   part: number, round: number, members?: Row[], parts?: number}} Row
 * @typedef {{statuses: string[], search: string, endpoint: string, since: string, until: string,
 *   connection: string}} Filters
 */

/** @returns {Filters} */
export function emptyFilters() {
  return { statuses: [], search: "", endpoint: "", since: "", until: "", connection: "" };
}

/**
 * Columnar rows from the kernel -> one object per row (with the lower-cased search text and derived numbers
 * computed once, not per keystroke).
 * @param {any} cols
 * @param {number} [now] Unix seconds, for the running duration of active batches
 * @returns {Row[]}
 */
export function decodeRows(cols, now = Date.now() / 1000) {
  if (!cols || !Array.isArray(cols.id)) return [];
  const statuses = cols.statuses || [];
  const endpoints = cols.endpoints || [];
  const sources = cols.cost_sources || [];
  const connections = cols.connections || [];
  /** @type {string[]} the timestamp columns, by their API names (history_view.TIME_FIELDS) */
  const timeFields = cols.time_fields || [];
  const timeCols = timeFields.map((name) => cols[name] || []);
  /** @type {Row[]} */
  const rows = new Array(cols.id.length);
  for (let i = 0; i < cols.id.length; i++) {
    const total = cols.total[i] || 0;
    const completed = cols.completed[i] || 0;
    const failed = cols.failed[i] || 0;
    /** @type {Record<string, number | null>} */
    const t = {};
    for (let k = 0; k < timeFields.length; k++) t[timeFields[k]] = timeCols[k][i] ?? null;
    const status = statuses[cols.status[i]] || "";
    const created = /** @type {number} */ (t.created_at);
    const ended = endedAt(status, t);
    const desc = cols.desc[i] || "";
    const tags = cols.tags[i] || "";
    const model = (cols.model && cols.model[i]) || "";
    const endpoint = endpoints[cols.endpoint[i]] || "";
    const done = completed + failed;
    rows[i] = {
      id: cols.id[i],
      desc,
      tags,
      status,
      endpoint,
      model,
      total,
      completed,
      failed,
      created,
      started: t.in_progress_at,
      ended,
      t,
      cost: cols.cost[i] ?? null,
      costSource: sources[cols.cost_source[i]] || "unknown",
      inputFile: (cols.input_file && cols.input_file[i]) || "",
      outputFile: (cols.output_file && cols.output_file[i]) || "",
      errorFile: (cols.error_file && cols.error_file[i]) || "",
      tokens: cols.input_tokens && cols.input_tokens[i] !== null && cols.input_tokens[i] !== undefined
        ? [cols.input_tokens[i], cols.output_tokens[i], cols.cached_tokens[i]] : null,
      meta: (cols.meta && cols.meta[i]) || "",
      connection: (cols.conn && connections[cols.conn[i]]) || "",
      hay: `${cols.id[i]}\n${desc}\n${tags}\n${model}\n${endpoint}`.toLowerCase(),
      rate: done > 0 ? completed / done : -1,
      duration: (ended ?? now) - created,
      job: cols.job && cols.job[i] >= 0 ? (cols.jobs || [])[cols.job[i]] || "" : "",
      part: (cols.part && cols.part[i]) || 0,
      round: (cols.round && cols.round[i]) || 0,
    };
  }
  return rows;
}

/**
 * The History rows of this model (`_history_rows` + `_history_patch`, the one row-sync protocol), decoded.
 * @param {any} model
 */
export function historyRows(model) {
  // Big payloads come packed (typed arrays in one binary buffer, history_view.encode_history).
  return syncRows(model, { snapshot: "_history_rows", patch: "_history_patch",
    decode: (p) => decodeRows(unpackColumns(p)) });
}

/** Cost sources, best first (facts.COST_SOURCES): a job's cost is as good as its worst batch's. */
const COST_RANK = /** @type {readonly string[]} */ (COST_SOURCES);

/**
 * Fold each job's batches into one row (at the place of its first batch in `rows`), with the job's counts as
 * Python's Job counts them: its requests are its parts' first rounds; what a retry round ran again is counted
 * once, by the round that settled it. Batches of no job pass through. The job row keeps its batches in `members`.
 * @param {Row[]} rows
 * @param {number} [now]
 * @returns {Row[]}
 */
export function groupJobs(rows, now = Date.now() / 1000) {
  /** @type {Map<string, Row[]>} */
  const byJob = new Map();
  for (const r of rows) {
    if (!r.job) continue;
    const list = byJob.get(r.job);
    if (list) list.push(r);
    else byJob.set(r.job, [r]);
  }
  if (!byJob.size) return rows;
  /** @type {Row[]} */
  const out = [];
  for (const r of rows) {
    if (!r.job) out.push(r);
    else if (byJob.get(r.job)?.[0] === r) out.push(jobRow(r.job, /** @type {Row[]} */ (byJob.get(r.job)), now));
  }
  return out;
}

/** @param {string} job @param {Row[]} members @param {number} now @returns {Row} */
function jobRow(job, members, now) {
  const sorted = [...members].sort((a, b) => a.part - b.part || a.round - b.round || a.created - b.created);
  const first = sorted.reduce((a, b) => (b.created < a.created ? b : a));
  const sum = (/** @type {(r: Row) => number} */ f, /** @type {Row[]} */ list = members) =>
    list.reduce((n, r) => n + f(r), 0);
  const retried = sum((r) => r.total, members.filter((r) => r.round > 0));
  const total = sum((r) => r.total, members.filter((r) => r.round === 0));
  const done = Math.min(total, Math.max(0, sum((r) => r.completed + r.failed) - retried));
  const failed = Math.min(done, Math.max(0, sum((r) => r.failed) - retried));
  const active = members.some((r) => isActiveStatus(r.status));
  const status = active ? "in_progress" : members.some((r) => r.status === "cancelled") ? "cancelled"
    : members.every((r) => r.status === "failed") ? "failed" : "completed";
  const ended = active ? null : Math.max(...members.map((r) => r.ended ?? r.created));
  const costs = members.map((r) => r.cost);
  const firstStart = Math.min(...members.map((r) => r.started ?? Infinity));
  const source = members.reduce((worst, r) =>
    (COST_RANK.indexOf(r.costSource) > COST_RANK.indexOf(worst) ? r.costSource : worst), "usage");
  return {
    ...first,
    id: job,
    status,
    total,
    completed: done - failed,
    failed,
    started: firstStart === Infinity ? null : firstStart,
    ended,
    cost: costs.some((c) => c === null) ? null : costs.reduce((/** @type {number} */ a, c) => a + (c ?? 0), 0),
    costSource: source,
    rate: done > 0 ? (done - failed) / done : -1,
    duration: (ended ?? now) - first.created,
    members: sorted,
    parts: Math.max(...members.map((r) => r.part)),
    round: Math.max(...members.map((r) => r.round)),
  };
}

/** "2026-11-29" -> Unix seconds at 00:00 UTC (dates are UTC, as in Python), or null. @param {string} day */
export function dayStart(day) {
  if (!day) return null;
  const ms = Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/**
 * The rows matching the filters, in the order given (the rule of Python's BatchHistory.filter). Status: any
 * of the chosen (none = all); search: substring of id, description, tags, model or endpoint, any case; endpoint and
 * connection: exact; dates: created on or after `since` and on
 * or before `until` (whole UTC days).
 * @param {Row[]} rows
 * @param {Filters} f
 * @returns {Row[]}
 */
export function filterRows(rows, f) {
  const statuses = f.statuses && f.statuses.length ? new Set(f.statuses) : null;
  const needle = (f.search || "").trim().toLowerCase();
  const endpoint = f.endpoint || "";
  const connection = f.connection || "";
  const since = dayStart(f.since);
  const untilDay = dayStart(f.until);
  const until = untilDay === null ? null : untilDay + DAY;
  if (!statuses && !needle && !endpoint && !connection && since === null && until === null) return rows.slice();
  const out = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (statuses && !statuses.has(r.status)) continue;
    if (endpoint && r.endpoint !== endpoint) continue;
    if (connection && r.connection !== connection) continue;
    if (since !== null && r.created < since) continue;
    if (until !== null && r.created >= until) continue;
    if (needle && r.hay.indexOf(needle) === -1) continue;
    out.push(r);
  }
  return out;
}

/** A canonical string of a filter state (key order of the kernel's dict does not matter). @param {Filters} f */
export function filterKey(f) {
  return JSON.stringify([[...(f.statuses || [])].sort(), f.search || "", f.endpoint || "", f.since || "", f.until || "",
    f.connection || ""]);
}

/** @type {Record<string, (r: Row) => number | string>} */
const SORT_KEYS = {
  id: (r) => (r.desc || r.id).toLowerCase(),
  status: (r) => STATUSES.indexOf(/** @type {any} */ (r.status)),
  requests: (r) => r.total,
  rate: (r) => r.rate,
  duration: (r) => r.duration,
  created: (r) => r.created,
};

/**
 * Sort in place by one column; ties keep newest first (then the larger id, as BatchHistory orders rows).
 * @param {Row[]} rows @param {string} key @param {1 | -1} dir
 */
export function sortRows(rows, key, dir) {
  const get = SORT_KEYS[key] || SORT_KEYS.created;
  rows.sort((a, b) => {
    const x = get(a);
    const y = get(b);
    if (x < y) return -dir;
    if (x > y) return dir;
    return b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0); // as BatchHistory: newest id first
  });
  return rows;
}

/**
 * The `k` rows with the largest `key` among those `keep` takes, oldest first, in one pass (no sort of the whole
 * list and no filtered copy of it per keystroke).
 * @param {Row[]} rows @param {number} k @param {(r: Row) => number} key @param {(r: Row) => boolean} keep
 */
function latest(rows, k, key, keep) {
  /** @type {Row[]} kept ascending by key */
  const top = [];
  for (const r of rows) {
    if (!keep(r)) continue;
    const v = key(r);
    if (top.length === k && v <= key(top[0])) continue;
    let i = top.length;
    while (i > 0 && key(top[i - 1]) > v) i--;
    top.splice(i, 0, r);
    if (top.length > k) top.shift();
  }
  return top;
}

/**
 * The numbers behind the analytics view: analytics.summary_stats over the rows (js/lib/stats.js), plus the
 * newest finished and priced batches the charts draw.
 * @param {Row[]} rows
 */
export function summarize(rows) {
  return {
    ...summaryStats(rows),
    recentTimes: latest(rows, 10, (r) => /** @type {number} */ (r.ended), (r) => r.ended !== null),
    recentCost: latest(rows, 10, (r) => r.created, (r) => r.cost !== null),
  };
}

/**
 * @param {any} model
 * @param {HTMLElement} el
 * @returns {() => void}
 */
export function renderHistory(model, el) {
  const scope = new Scope();
  /** @type {Row[]} */
  let all = [];
  const synced = historyRows(model);
  /** @type {Row[]} all rows in the current sort order; filtering keeps it */
  let sorted = [];
  /** @type {Row[]} */
  let shown = [];
  /** Table rows already built, per row object: re-filtering re-attaches them instead of rebuilding. */
  let rowCache = new WeakMap();
  /** @type {Row[]} the rows on the page now (a filter that leaves them as they are redraws nothing) */
  let drawn = [];
  let sortKey = "created";
  /** @type {1 | -1} */
  let sortDir = -1;
  let page = 0;
  const filters = { ...emptyFilters(), ...(model.get("_history_filters") || {}) };

  // -- controls ---------------------------------------------------------------------------------------------
  const chips = STATUSES.map((s) => {
    const chip = h("button", { type: "button", class: `bw-chip bw-chip--${s}`, "aria-pressed": "false",
      "data-status": s, text: statusLabel(s) });
    scope.on(chip, "click", () => {
      const set = new Set(filters.statuses);
      if (set.has(s)) set.delete(s);
      else set.add(s);
      filters.statuses = STATUSES.filter((x) => set.has(x));
      changed();
    });
    return chip;
  });
  // A short placeholder fits narrow notebooks; the full list of searched fields is the tooltip and the label.
  const searchHelp = "Search batches by id, description or tags (also model and endpoint)";
  const search = h("input", { type: "search", class: "bw-input bw-history__search",
    placeholder: "Search batches", title: searchHelp, "aria-label": searchHelp });
  const endpointSel = h("select", { class: "bw-input", "aria-label": "Endpoint" });
  // Only when the rows come from several connections (a dashboard over clients={...}).
  const connSel = h("select", { class: "bw-input bw-conn-filter", "aria-label": "Connection", hidden: true });
  const since = h("input", { type: "date", class: "bw-input", "aria-label": "Created on or after (UTC)" });
  const until = h("input", { type: "date", class: "bw-input", "aria-label": "Created on or before (UTC)" });
  const clearBtn = button("Clear filters", { variant: "ghost", class: "bw-history__clear" });
  const count = h("span", { class: "bw-history__count", role: "status", "aria-live": "polite" });
  const analyticsBtn = button("Show analytics", { variant: "secondary", class: "bw-history__toggle" });
  analyticsBtn.setAttribute("aria-pressed", "false");
  const exportBtn = button("Export CSV", { variant: "secondary", class: "bw-history__export",
    title: "Download the filtered rows as CSV" });

  scope.on(search, "input", () => { filters.search = search.value; changed(); });
  scope.on(endpointSel, "change", () => { filters.endpoint = endpointSel.value; changed(); });
  scope.on(connSel, "change", () => { filters.connection = connSel.value; changed(); });
  scope.on(since, "change", () => { filters.since = since.value; changed(); });
  scope.on(until, "change", () => { filters.until = until.value; changed(); });
  scope.on(clearBtn, "click", () => { Object.assign(filters, emptyFilters()); changed(); });
  scope.on(analyticsBtn, "click", () => {
    model.set("_history_analytics", !model.get("_history_analytics"));
    model.save_changes();
    drawAnalytics();
  });
  scope.on(exportBtn, "click", () => {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    downloadBytes(`batch-history-${stamp}.csv`, new TextEncoder().encode(toCSV(shown)), "text/csv");
  });

  // -- table ------------------------------------------------------------------------------------------------
  const COLUMNS = [["id", "Batch"], ["status", "Status"], ["requests", "Requests"], ["rate", "Success rate"],
    ["duration", "Duration"], ["created", "Created"]];
  const headCells = COLUMNS.map(([key, label]) => {
    const btn = h("button", { type: "button", class: "bw-history__sort", "data-key": key, text: label });
    scope.on(btn, "click", () => {
      if (sortKey === key) sortDir = sortDir === 1 ? -1 : 1;
      else { sortKey = key; sortDir = key === "id" || key === "status" ? 1 : -1; }
      resort();
      page = 0;
      refilter(false);
    });
    const numeric = key === "requests" || key === "duration";
    return h("th", { scope: "col", "data-key": key, class: numeric ? "bw-num" : null }, [btn]);
  });
  const tbody = h("tbody");
  const connHead = h("th", { scope: "col", class: "bw-col-conn", text: "Connection", hidden: true });
  const table = h("table", { class: "bw-table bw-history__table" }, [
    h("thead", {}, [h("tr", {}, [headCells[0], connHead, ...headCells.slice(1),
      h("th", { scope: "col", class: "bw-history__actions", text: "Actions" })])]),
    tbody,
  ]);
  const prev = button("‹ Previous", { variant: "ghost", ariaLabel: "Previous page" });
  const next = button("Next ›", { variant: "ghost", ariaLabel: "Next page" });
  const pageInfo = h("span", { class: "bw-history__page" });
  scope.on(prev, "click", () => { page = Math.max(0, page - 1); drawTable(); });
  scope.on(next, "click", () => { page += 1; drawTable(); });
  /** @type {Set<string>} jobs whose batches are shown under their line */
  const expanded = new Set();
  scope.on(tbody, "click", (ev) => {
    const target = /** @type {HTMLElement} */ (ev.target);
    const toggle = target.closest && target.closest("[data-toggle]");
    if (toggle) {
      const job = toggle.getAttribute("data-toggle") || "";
      if (!expanded.delete(job)) expanded.add(job);
      drawn = []; // redraw the page with the job's batches shown or hidden
      drawTable();
      const again = [...tbody.querySelectorAll("[data-toggle]")].find((b) => b.getAttribute("data-toggle") === job);
      if (again) /** @type {HTMLElement} */ (again).focus();
      return;
    }
    const btn = target.closest && target.closest("[data-open]");
    if (btn) model.send({ action: "history_open", id: btn.getAttribute("data-open") });
  });
  const empty = h("div", { class: "bw-empty bw-history__empty" });
  const analytics = h("section", { class: "bw-history__analytics", "aria-label": "Analytics", hidden: true });

  const root = h("div", { class: "bw-history" }, [
    h("div", { class: "bw-history__filters", role: "group", "aria-label": "Filters" }, [
      h("div", { class: "bw-history__chips", role: "group", "aria-label": "Status" }, chips),
      h("div", { class: "bw-history__row" }, [
        search, endpointSel, connSel,
        h("label", { class: "bw-history__date" }, ["From ", since]),
        h("label", { class: "bw-history__date" }, ["To ", until]),
        clearBtn,
      ]),
      h("div", { class: "bw-history__row" }, [count, h("span", { class: "bw-spacer" }), analyticsBtn, exportBtn]),
    ]),
    analytics,
    h("div", { class: "bw-history__scroll" }, [table]),
    empty,
    h("div", { class: "bw-history__pager" }, [prev, pageInfo, next]),
  ]);
  el.append(root);

  // -- behaviour --------------------------------------------------------------------------------------------
  /** Every row anew (a snapshot came, or the view opens): the table's cached row elements go too. */
  function load() {
    all = [...synced.get().values()];
    rowCache = new WeakMap();
    drawn = [];
    fillEndpoints();
    resort();
  }

  /** A patch: its rows replace theirs (their table rows are rebuilt when drawn), new ones are added. */
  function applyChange(/** @type {import("../lib/rows.js").RowChange} */ change) {
    if (change.reset) load();
    else {
      all = [...synced.get().values()];
      fillEndpoints();
      resort();
    }
    chartKey = "";
    refilter(false, true);
  }

  function fillEndpoints() {
    const known = [...new Set(all.map((r) => r.endpoint).filter(Boolean))].sort();
    if (filters.endpoint && !known.includes(filters.endpoint)) known.push(filters.endpoint);
    clear(endpointSel);
    endpointSel.append(h("option", { value: "", text: "All endpoints" }));
    for (const e of known) endpointSel.append(h("option", { value: e, text: e }));
    const conns = [...new Set(all.map((r) => r.connection).filter(Boolean))].sort();
    if (filters.connection && !conns.includes(filters.connection)) conns.push(filters.connection);
    clear(connSel).append(h("option", { value: "", text: "All connections" }));
    for (const c of conns) connSel.append(h("option", { value: c, text: c }));
    connSel.value = filters.connection;
    connSel.hidden = conns.length < 2 && !filters.connection;
    const showConn = conns.length > 0;
    if (connHead.hidden === showConn) {
      connHead.hidden = !showConn;
      rowCache = new WeakMap(); // rows are rebuilt with (or without) their connection cell
      drawn = [];
    }
  }

  function resort() {
    sorted = sortRows(all.slice(), sortKey, sortDir);
    for (const th of headCells) {
      const key = th.getAttribute("data-key");
      th.setAttribute("aria-sort", key === sortKey ? (sortDir === 1 ? "ascending" : "descending") : "none");
    }
  }

  let syncTimer = /** @type {any} */ (null);
  scope.add(() => clearTimeout(syncTimer));
  function changed() {
    page = 0;
    refilter(true);
  }

  /** @param {boolean} sync send the filters to the kernel @param {boolean} [keepPage] */
  function refilter(sync, keepPage = false) {
    shown = filterRows(sorted, filters);
    if (!keepPage) page = 0;
    syncControls();
    drawTable();
    drawAnalytics();
    if (sync) {
      // Typing sends one message when it pauses, not one per key.
      clearTimeout(syncTimer);
      syncTimer = setTimeout(() => {
        model.set("_history_filters", { ...filters, statuses: [...filters.statuses] });
        model.save_changes();
      }, 250);
    }
  }

  function syncControls() {
    for (const chip of chips) {
      chip.setAttribute("aria-pressed", String(filters.statuses.includes(chip.getAttribute("data-status") || "")));
    }
    if (search.value !== filters.search) search.value = filters.search;
    if (endpointSel.value !== filters.endpoint) endpointSel.value = filters.endpoint;
    if (connSel.value !== filters.connection) connSel.value = filters.connection;
    if (since.value !== filters.since) since.value = filters.since;
    if (until.value !== filters.until) until.value = filters.until;
    const active = filters.statuses.length || filters.search || filters.endpoint || filters.connection || filters.since
      || filters.until;
    clearBtn.disabled = !active;
    count.textContent = active
      ? `${formatNumber(shown.length)} of ${formatNumber(all.length)} batches match`
      : `${formatNumber(all.length)} batches`;
  }

  function drawTable() {
    const lines = groupJobs(shown); // a job is one line; it expands to its batches
    const pages = Math.max(1, Math.ceil(lines.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const start = page * PAGE_SIZE;
    const slice = lines.slice(start, start + PAGE_SIZE);
    const same = slice.length === drawn.length && slice.every((r, i) => r === drawn[i] && rowCache.has(r));
    if (!same) {
      const frag = document.createDocumentFragment();
      for (const r of slice) {
        let tr = rowCache.get(r);
        if (!tr) rowCache.set(r, (tr = r.members ? jobElement(r) : rowElement(r)));
        frag.append(tr);
        if (r.members && expanded.has(r.id)) {
          for (const m of r.members) {
            const sub = rowElement(m, `Part ${m.part}/${r.parts}${m.round ? ` · retry ${m.round}` : ""}`);
            sub.classList.add("bw-history__member");
            frag.append(sub);
          }
        }
      }
      clear(tbody).append(frag);
      drawn = slice;
    }
    pageInfo.textContent = lines.length
      ? `${formatNumber(start + 1)}–${formatNumber(start + slice.length)} of ${formatNumber(lines.length)}`
      : "";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    empty.textContent = all.length === 0
      ? ((model.get("_fatal") || {}).title ? NOT_CONNECTED
        : model.get("_history_loading") ? "Loading the batch history…" : "No batches yet. Create one to see it here.")
      : "No batch matches these filters.";
    empty.hidden = shown.length > 0;
    table.hidden = shown.length === 0;
  }

  /** A job's line: its name, parts and round, the job's status and counts; the button shows its batches.
   * @param {Row} r */
  function jobElement(r) {
    const tr = rowElement(r);
    tr.classList.add("bw-history__job");
    const name = /** @type {HTMLElement} */ (tr.querySelector(".bw-history__name"));
    const id = /** @type {HTMLElement} */ (name.querySelector(".bw-history__id"));
    id.before(h("div", { class: "bw-history__jobline bw-muted",
      text: `Job · ${r.parts} part${r.parts === 1 ? "" : "s"} · round ${r.round}` }));
    const open = expanded.has(r.id);
    const toggle = h("button", { type: "button", class: "bw-btn bw-btn--ghost", "data-toggle": r.id,
      "aria-expanded": String(open), "aria-label": `${open ? "Hide" : "Show"} the batches of job ${r.id}`,
      text: open ? "Batches ▾" : "Batches ▸" });
    clear(/** @type {HTMLElement} */ (tr.querySelector(".bw-history__actions"))).append(toggle);
    return tr;
  }

  /** @param {Row} r @param {string} [label] a batch of a job: its part and round */
  function rowElement(r, label) {
    const rate = r.rate >= 0 ? r.rate : null;
    // A batch that ended early (failed, expired, cancelled) never looks healthy: its bar is the share of ALL its
    // requests that succeeded, in the warning colour, and the requests it never ran are counted beside it.
    const cut = /** @type {readonly string[]} */ (CUT_SHORT_STATUSES).includes(r.status);
    const unrun = cut ? Math.max(0, r.total - r.completed - r.failed) : 0;
    const fill = rate === null ? 0 : cut ? (r.total > 0 ? r.completed / r.total : 0) : rate;
    const rateLabel = rate === null ? "no finished requests"
      : `success rate ${formatPercent(rate)} of the done requests` +
        (unrun ? `; ${statusLabel(r.status).toLowerCase()}: ${formatNumber(unrun)} of ${formatNumber(r.total)} never ran` : "");
    const rateBar = h("span", { class: `bw-rate${cut ? " bw-rate--cut" : ""}`, role: "img", "aria-label": rateLabel },
      [h("span", { class: "bw-rate__fill", style: { width: `${(fill * 100).toFixed(1)}%` } })]);
    const counts = requestCounts(r);
    const requests = h("td", { class: "bw-num bw-history__requests", title: counts.title }, [
      counts.text,
      r.failed ? h("div", { class: "bw-history__failed", text: `${formatNumber(r.failed)} failed` }) : null,
    ]);
    const rateCell = h("td", { class: "bw-history__rate", title: rateLabel }, [rateBar,
      h("span", { class: "bw-rate__text", text: rate === null ? "—" : formatPercent(rate) }),
      unrun ? h("div", { class: "bw-history__unrun", text: `${formatNumber(unrun)} not run` }) : null]);
    return h("tr", { "data-id": r.id }, [
      h("td", { class: "bw-history__name" }, [
        label ? h("div", { class: "bw-history__part", text: label }) : null,
        r.desc && !label ? h("div", { class: "bw-history__desc", text: r.desc, title: r.desc }) : null,
        h("code", { class: "bw-history__id", text: r.id }),
        r.tags ? h("div", { class: "bw-history__tags", text: r.tags.split(",").join(" · "), title: r.tags }) : null,
      ]),
      connHead.hidden ? null : h("td", { class: "bw-col-conn", "data-label": "Connection", text: r.connection }),
      h("td", { class: "bw-history__status" }, [statusBadge(r.status)]),
      requests,
      rateCell,
      h("td", { class: "bw-num bw-history__duration", "data-label": "took", text: formatDuration(r.duration) }),
      h("td", { class: "bw-history__created" }, [h("time", { datetime: isoTime(r.created), text: formatDateTime(r.created) })]),
      h("td", { class: "bw-history__actions" }, [h("button", { type: "button", class: "bw-btn bw-btn--ghost", "data-open": r.id,
        "aria-label": `Open details of ${r.id}`, text: "Details" })]),
    ]);
  }

  /** The inner width of one analytics card (the grid's columns are at least 260px wide). */
  function chartWidth() {
    const full = analytics.clientWidth;
    if (!full) return 320; // not laid out (hidden tab, or a DOM without layout)
    const cols = Math.max(1, Math.min(4, Math.floor((full + 10) / (260 + 10))));
    return Math.max(200, Math.min(420, Math.floor((full - 10 * (cols - 1)) / cols) - 30));
  }

  let chartKey = "";
  let chartWidthDrawn = 0;
  if (typeof ResizeObserver === "function") {
    // A wider or narrower output (window resized, sidebar toggled) redraws the charts at their new width.
    const ro = new ResizeObserver(() => {
      if (analytics.hidden || Math.abs(chartWidth() - chartWidthDrawn) < 8) return;
      chartKey = "";
      drawAnalytics();
    });
    ro.observe(analytics);
    scope.add(() => ro.disconnect());
  }
  function drawAnalytics() {
    const on = Boolean(model.get("_history_analytics"));
    analytics.hidden = !on;
    analyticsBtn.textContent = on ? "Hide analytics" : "Show analytics";
    analyticsBtn.setAttribute("aria-pressed", String(on));
    if (!on) {
      chartKey = "";
      return;
    }
    const s = summarize(shown);
    // Keystrokes that leave the numbers as they were redraw nothing.
    const key = JSON.stringify([s.completed_requests, s.failed_requests, s.by_status, s.mean_processing_seconds,
      s.total_cost, s.priced_batches, s.recentTimes.map((r) => r.id), s.recentCost.map((r) => r.id)]);
    if (key === chartKey) return;
    chartKey = key;
    chartWidthDrawn = chartWidth();
    const card = (/** @type {string} */ title, /** @type {Node} */ body, /** @type {string} */ note,
      /** @type {string} */ name) =>
      h("div", { class: "bw-card bw-history__chart", "data-card": name }, [h("h4", { text: title }), body,
        note ? h("p", { class: "bw-history__note", text: note }) : null]);
    // Charts are drawn at the width of their card, so their text is not scaled down in a narrow one.
    const width = chartWidth();
    const n = shown.length;
    const over = `${formatNumber(n)} batch${n === 1 ? "" : "es"}`;
    const statusItems = STATUSES.filter((st) => s.by_status[st] > 0)
      .map((st) => ({ label: statusLabel(st), value: s.by_status[st], cls: `bw-chart-status--${st}` }));
    const done = s.completed_requests + s.failed_requests;
    clear(analytics).append(
      card("Success vs failure", donutChart({ success: s.completed_requests, failure: s.failed_requests }),
        `${formatNumber(s.completed_requests)} succeeded · ${formatNumber(s.failed_requests)} failed, of ` +
        `${formatNumber(done)} done requests in ${over}`, "success"),
      card("Status distribution", barChart(statusItems, { title: "Batches by status", width }), "", "status"),
      card("Processing time", timeBars(s.recentTimes.map((r) => ({ label: r.desc || r.id,
        seconds: /** @type {number} */ (r.ended) - r.created })),
      { average: s.mean_processing_seconds ?? 0, format: formatDuration, width }),
      s.finished_batches ? `average ${formatDuration(s.mean_processing_seconds)}, median ` +
        `${formatDuration(s.median_processing_seconds)}, created to end, over ${formatNumber(s.finished_batches)} ` +
        `finished batch${s.finished_batches === 1 ? "" : "es"} (any end state)`
        : "", "time"), // the chart says so itself
      card("Cost overview", costOverview({ total: s.total_cost ?? 0, perBatch: s.cost_per_batch ?? 0,
        perRequest: s.cost_per_request ?? 0, priced: s.priced_batches, batches: n,
        recent: s.recentCost.map((r) => ({ label: r.desc || r.id, cost: /** @type {number} */ (r.cost) })),
        format: formatCost, width }), (s.cost_sources && s.cost_sources.simulated
        ? `simulated: ${formatNumber(s.cost_sources.simulated)} of these batches were answered by the local server's ` +
          "simulator, so their cost is what the tokens would cost; nothing was spent. "
        : "") + "per request = per succeeded request of the priced batches; cost from usage " +
        "where the batch reports it, else an estimate per succeeded request", "cost"),
    );
  }

  scope.add(synced.subscribe(applyChange));
  scope.onModel(model, "change:_history_analytics", drawAnalytics);
  scope.onModel(model, "change:_history_loading", drawTable);
  scope.onModel(model, "change:_fatal", drawTable);
  scope.onModel(model, "change:_history_filters", () => {
    // Filters set from Python (view.set_filters) show up here; our own echo changes nothing.
    const incoming = { ...emptyFilters(), ...(model.get("_history_filters") || {}) };
    if (filterKey(incoming) === filterKey(filters)) return;
    Object.assign(filters, incoming);
    page = 0;
    refilter(false);
  });

  load();
  refilter(false);
  return () => {
    scope.dispose();
    root.remove();
  };
}
