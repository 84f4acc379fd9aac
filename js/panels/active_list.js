// @ts-check
// The Active panel: stats cards, a live table of running (and recently finished) batches, cancel with
// confirmation, multi-select, dismiss. Rows are keyed by batch id and only rows whose data changed are redrawn;
// durations and ETAs tick every second in the browser from the row timestamps (no kernel traffic).
import {
  Scope,
  announce,
  append,
  button,
  clear,
  confirmDialog,
  h,
  isActiveStatus,
  progressBar,
  statCard,
  statusBadge,
  statusLabel,
  updateProgressBar,
} from "../lib/dom.js";
import {
  batchLabel,
  batchLabelWithId,
  formatCompact,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatRate,
  formatRelative,
  requestCounts,
} from "../lib/format.js";
import { NOT_CONNECTED, codeHint, mountMessages } from "../lib/panel.js";
import { liveRows } from "../lib/rows.js";

/**
 * @typedef {{ id: string, status: string, total: number, completed: number, failed: number, created: number,
 *   in_progress: number | null, finalizing: number | null, cancelling: number | null, ended: number | null,
 *   expires: number | null, endpoint: string, model: string, description: string, tags: string[],
 *   throughput: number | null, eta: number | null, seen: number, connection?: string, kind?: string,
 *   parts?: number, round?: number, batches?: { id: string, part: number, round: number, status: string,
 *   total: number, completed: number, failed: number }[] }} Row
 * @typedef {{ onOpen?: (id: string) => void, onCreate?: () => void, live?: HTMLElement, embedded?: boolean,
 *   now?: () => number }} ListOptions
 */

/** Seconds a batch has been running (or ran), from its own timestamps. @param {Row} row @param {number} now */
export function runningSeconds(row, now) {
  const start = row.in_progress ?? row.created;
  const end = row.ended ?? (isActiveStatus(row.status) ? now : row.finalizing ?? now);
  return Math.max(0, end - start);
}

/** ETA counted down from when the kernel measured it. @param {Row} row @param {number} now */
export function etaSeconds(row, now) {
  if (row.eta === null || row.eta === undefined || row.status !== "in_progress") return null;
  return Math.max(0, row.eta - Math.max(0, now - row.seen));
}

/** Active first, then newest first. @param {Row} a @param {Row} b */
function order(a, b) {
  const act = Number(isActiveStatus(b.status)) - Number(isActiveStatus(a.status));
  return act || b.created - a.created || (a.id < b.id ? -1 : 1);
}

/**
 * @param {any} model
 * @param {HTMLElement} el
 * @param {ListOptions} [opts]
 */
export function renderActiveList(model, el, opts = {}) {
  const scope = new Scope();
  const now = opts.now || (() => Date.now() / 1000);
  const root = h("section", { class: "bw-panel bw-list", "aria-label": "Active batches" });
  el.append(root);
  const live = opts.embedded && opts.live ? opts.live : mountMessages(model, root, scope).live;

  const stats = h("div", { class: "bw-stats" });
  const selectAll = h("input", { type: "checkbox", class: "bw-check", "aria-label": "Select all running batches" });
  const selCount = h("span", { class: "bw-muted bw-toolbar__count", "aria-live": "polite" });
  const cancelSel = button("Cancel selected", { variant: "danger", disabled: true });
  const dismissAll = button("Dismiss finished", { variant: "ghost" });
  const refresh = button("Refresh", { variant: "secondary", title: "Re-read the batch list now" });
  // Shown when the dashboard watches several connections (clients={...}): one of them, or all.
  const connSel = h("select", { class: "bw-input bw-conn-filter", "aria-label": "Connection", hidden: true });
  let connFilter = "";
  const toolbar = h("div", { class: "bw-toolbar", role: "toolbar", "aria-label": "Batch actions" }, [
    h("label", { class: "bw-toolbar__all" }, [selectAll, h("span", { text: "All" })]),
    selCount,
    cancelSel,
    h("span", { class: "bw-spacer" }),
    connSel,
    dismissAll,
    refresh,
  ]);
  const tbody = h("tbody");
  const connHead = h("th", { scope: "col", class: "bw-col-conn", text: "Connection", hidden: true });
  const table = h("table", { class: "bw-table" }, [
    h("caption", { class: "bw-sr-only", text: "Running and recently finished batches" }),
    h("thead", {}, [
      h("tr", {}, [
        h("th", { class: "bw-col-check", scope: "col" }, [h("span", { class: "bw-sr-only", text: "Select" })]),
        h("th", { scope: "col", text: "Batch" }),
        connHead,
        h("th", { scope: "col", text: "Status" }),
        h("th", { scope: "col", class: "bw-col-progress", text: "Progress" }),
        h("th", { scope: "col", class: "bw-num", text: "Running" }),
        h("th", { scope: "col", class: "bw-num", text: "ETA / ended" }),
        h("th", { scope: "col", class: "bw-col-actions" }, [h("span", { class: "bw-sr-only", text: "Actions" })]),
      ]),
    ]),
    tbody,
  ]);
  const tableWrap = h("div", { class: "bw-table-wrap" }, [table]);
  const empty = h("div", { class: "bw-empty", hidden: true });
  const spinner = h("span", { class: "bw-spinner", "aria-hidden": "true" });
  const loadingText = h("span", { text: "Loading batches…" });
  const loading = h("div", { class: "bw-loading", role: "status" }, [spinner, loadingText]);
  root.append(stats, toolbar, tableWrap, empty, loading);

  /** @type {Set<string>} */
  const selected = new Set();
  /** @type {Map<string, { tr: HTMLTableRowElement, key: string, row: Row, cells: Record<string, any> }>} */
  const rendered = new Map();

  // ---- empty state -------------------------------------------------------------------------------------
  const createBtn = button("Create a batch", { variant: "primary" });
  scope.on(createBtn, "click", () => opts.onCreate && opts.onCreate());
  append(empty, [
    h("div", { class: "bw-empty__icon", "aria-hidden": "true", text: "▤" }),
    h("h3", { class: "bw-empty__title", text: "No running batches" }),
    h("p", { class: "bw-empty__text", text: "Batches you submit show up here with live progress." }),
    opts.onCreate ? createBtn : h("p", { class: "bw-empty__text" }, ["Create one with ", codeHint("CreateBatch()"), " or ", codeHint("client.submit(requests)")]),
  ]);

  // ---- rows ----------------------------------------------------------------------------------------------
  /** @param {Row} row */
  function buildRow(row) {
    const tr = h("tr", { class: "bw-row", "data-id": row.id });
    const check = h("input", { type: "checkbox", class: "bw-check", "aria-label": `Select batch ${row.id}` });
    const name = h("div", { class: "bw-row__name" });
    const sub = h("div", { class: "bw-row__sub bw-muted" });
    const isJob = row.kind === "job";
    // A job is one row; it expands to its batches (each opens its details).
    const expand = button("▸", { variant: "ghost", class: "bw-btn--sm bw-job__toggle", ariaLabel: `Show the batches of job ${row.id}` });
    expand.setAttribute("aria-expanded", "false");
    expand.hidden = !isJob;
    const members = h("ul", { class: "bw-job__batches", hidden: true, "aria-label": `Batches of job ${row.id}` });
    const status = h("td", { class: "bw-col-status" });
    const conn = h("td", { class: "bw-col-conn", "data-label": "Connection", hidden: true });
    const bar = progressBar(row, { label: `Progress of ${row.id}` });
    const counts = h("div", { class: "bw-row__counts bw-muted" });
    // data-label: the column's name, shown beside the value when a narrow container folds the columns.
    const runningCell = h("td", { class: "bw-num bw-col-running", "data-label": "Running" });
    const etaCell = h("td", { class: "bw-num bw-col-eta", "data-label": "ETA" });
    const cancel = button("Cancel", { variant: "ghost", class: "bw-btn--sm", ariaLabel: `Cancel batch ${row.id}` });
    const dismiss = button("Dismiss", { variant: "ghost", class: "bw-btn--sm", ariaLabel: `Dismiss batch ${row.id}` });
    append(tr, [
      h("td", { class: "bw-col-check" }, [check]),
      h("td", { class: "bw-col-name" }, [h("div", { class: "bw-job__head" }, [expand, name]), sub, members]),
      conn,
      status,
      h("td", { class: "bw-col-progress" }, [bar, counts]),
      runningCell,
      etaCell,
      h("td", { class: "bw-col-actions" }, [cancel, dismiss]),
    ]);
    if (isJob) {
      tr.dataset.kind = "job";
      tr.tabIndex = 0;
      tr.setAttribute("aria-label", `Job ${row.id}: show its batches`);
    } else if (opts.onOpen) {
      tr.tabIndex = 0;
      tr.classList.add("bw-row--link");
      tr.setAttribute("aria-label", `Batch ${row.id}: open details`);
    }
    scope.on(expand, "click", (ev) => {
      ev.stopPropagation();
      toggleJob(row.id);
    });
    scope.on(members, "click", (ev) => {
      const item = /** @type {HTMLElement} */ (ev.target).closest("[data-batch]");
      if (item instanceof HTMLElement && item.dataset.batch && opts.onOpen) {
        ev.stopPropagation();
        opts.onOpen(item.dataset.batch);
      }
    });
    scope.on(check, "change", () => {
      if (check.checked) selected.add(row.id);
      else selected.delete(row.id);
      syncSelection();
    });
    scope.on(cancel, "click", (ev) => {
      ev.stopPropagation();
      askCancel([row.id]);
    });
    scope.on(dismiss, "click", (ev) => {
      ev.stopPropagation();
      model.send({ action: "dismiss", ids: [row.id] });
    });
    return {
      tr, key: "", row,
      cells: { check, name, sub, conn, status, bar, counts, runningCell, etaCell, cancel, dismiss, expand, members },
    };
  }

  /** @param {{ tr: HTMLElement, cells: Record<string, any> }} entry @param {Row} row */
  function fillRow(entry, row) {
    const c = entry.cells;
    const active = isActiveStatus(row.status);
    c.name.textContent = row.description || row.id;
    c.name.title = row.description ? `${row.description}\n${row.id}` : row.id; // the whole text when it is cut
    c.sub.textContent = row.kind === "job"
      ? [`Job · ${row.parts} part${row.parts === 1 ? "" : "s"} · round ${row.round}`, row.description ? row.id : "",
        row.model].filter(Boolean).join(" · ")
      : [row.description ? row.id : "", row.model, row.endpoint].filter(Boolean).join(" · ");
    if (row.kind === "job") fillMembers(c.members, row);
    c.sub.title = c.sub.textContent;
    c.conn.textContent = row.connection || "";
    c.conn.hidden = connHead.hidden;
    clear(c.status).append(statusBadge(row.status));
    updateProgressBar(c.bar, row);
    const counts = requestCounts(row);
    c.counts.title = row.total > 0 ? counts.title : "";
    c.counts.textContent =
      row.total > 0
        ? `${counts.text} done` + (row.failed ? ` · ${formatNumber(row.failed)} failed` : "")
        : active
          ? "waiting for counts"
          : "no requests ran";
    c.cancel.hidden = !active || row.status === "cancelling";
    c.dismiss.hidden = active;
    c.check.disabled = !active || row.status === "cancelling";
    if (c.check.disabled && selected.delete(row.id)) c.check.checked = false;
    entry.tr.classList.toggle("bw-row--done", !active);
  }

  /** @param {HTMLElement} list @param {Row} row */
  function fillMembers(list, row) {
    clear(list).append(
      ...(row.batches || []).map((b) => {
        const label = `Part ${b.part}/${row.parts}${b.round ? ` · retry ${b.round}` : ""}`;
        const counts = `${formatNumber(b.completed + b.failed)} / ${formatNumber(b.total)}` +
          (b.failed ? ` · ${formatNumber(b.failed)} failed` : "");
        const open = h("button", { type: "button", class: "bw-job__batch", "data-batch": b.id,
          "aria-label": `${label}: batch ${b.id}, open details` }, [
          h("span", { class: "bw-job__part", text: label }),
          statusBadge(b.status),
          h("span", { class: "bw-muted", text: counts }),
          h("code", { class: "bw-muted", text: b.id }),
        ]);
        return h("li", {}, [open]);
      }),
    );
  }

  /** @param {string} id @param {boolean} [open] */
  function toggleJob(id, open) {
    const entry = rendered.get(id);
    if (!entry || entry.row.kind !== "job") return;
    const show = open ?? entry.cells.members.hidden;
    entry.cells.members.hidden = !show;
    entry.cells.expand.textContent = show ? "▾" : "▸";
    entry.cells.expand.setAttribute("aria-expanded", String(show));
  }

  /** @param {{ cells: Record<string, any> }} entry @param {Row} row @param {number} t */
  function tickRow(entry, row, t) {
    entry.cells.runningCell.textContent = row.in_progress || row.ended ? formatDuration(runningSeconds(row, t)) : "—";
    entry.cells.runningCell.title = `Created ${formatRelative(row.created, t)}`;
    const eta = etaSeconds(row, t);
    const ended = eta === null && Boolean(row.ended);
    // A finished row has no ETA: the column says when it ended instead, muted, so it does not read as a countdown.
    entry.cells.etaCell.textContent = ended ? `ended ${formatRelative(row.ended, t)}` : eta === null ? "—" : formatDuration(eta);
    entry.cells.etaCell.classList.toggle("bw-muted", ended);
    entry.cells.etaCell.title = ended ? `Ended ${formatDateTime(row.ended)}` : row.throughput ? `at ${formatRate(row.throughput)}` : "";
  }

  function tick() {
    const t = now();
    for (const entry of rendered.values()) tickRow(entry, entry.row, t);
  }

  function syncSelection() {
    const n = selected.size;
    selCount.textContent = n ? `${n} selected` : "";
    cancelSel.disabled = n === 0;
    cancelSel.textContent = n > 1 ? `Cancel ${n} batches` : "Cancel selected";
    const selectable = [...rendered.values()].filter((e) => !e.cells.check.disabled);
    selectAll.checked = selectable.length > 0 && selectable.every((e) => selected.has(e.row.id));
    selectAll.indeterminate = n > 0 && !selectAll.checked;
    selectAll.disabled = selectable.length === 0;
  }

  /** @param {Row[]} rows */
  function renderStats(rows) {
    const active = rows.filter((r) => isActiveStatus(r.status));
    // Request totals cover every row on show (running and recently finished), so they match the table.
    const sum = (/** @type {keyof Row} */ k) => rows.reduce((s, r) => s + (Number(r[k]) || 0), 0);
    const finished = rows.length - active.length;
    clear(stats).append(
      statCard("Active batches", formatNumber(active.length), {
        tone: "accent",
        hint: finished ? `+ ${formatNumber(finished)} recently finished` : undefined,
      }),
      statCard("Requests", formatCompact(sum("total")), { hint: "in the batches shown" }),
      statCard("Succeeded", formatCompact(sum("completed")), { tone: "ok", hint: "requests, in the batches shown" }),
      statCard("Failed", formatCompact(sum("failed")), { tone: sum("failed") ? "bad" : undefined,
        hint: "requests, in the batches shown" }),
    );
  }

  /** The connection column and filter appear once rows come from more than one connection. @param {Row[]} all */
  function renderConnections(all) {
    const names = [...new Set(all.map((r) => r.connection || "").filter(Boolean))].sort();
    const several = names.length > 1 || (names.length === 1 && Boolean(connFilter));
    if (connFilter && !names.includes(connFilter)) names.push(connFilter);
    const key = names.join("\n");
    if (connSel.dataset.names !== key) {
      connSel.dataset.names = key;
      clear(connSel).append(h("option", { value: "", text: "All connections" }));
      for (const n of names) connSel.append(h("option", { value: n, text: n }));
      connSel.value = connFilter;
    }
    connSel.hidden = !several;
    const show = names.length > 0;
    if (connHead.hidden === show) {
      connHead.hidden = !show;
      for (const entry of rendered.values()) entry.cells.conn.hidden = !show;
    }
  }

  function update() {
    const allById = liveRows(model).get();
    const all = [...allById.values()];
    renderConnections(all);
    const rowsById = connFilter ? new Map(all.filter((r) => r.connection === connFilter).map((r) => [r.id, r])) : allById;
    const rows = [...rowsById.values()].sort(order);
    const t = now();
    for (const [id, entry] of rendered) {
      if (!rowsById.has(id)) {
        entry.tr.remove();
        rendered.delete(id);
        selected.delete(id);
      }
    }
    rows.forEach((row, i) => {
      let entry = rendered.get(row.id);
      const key = JSON.stringify(row);
      if (!entry) {
        entry = buildRow(row);
        rendered.set(row.id, entry);
      } else if (entry.key !== key && entry.row.status !== row.status) {
        announce(live, `Batch ${batchLabel(row)} is now ${statusLabel(row.status)}`);
      }
      if (entry.key !== key) {
        entry.row = row;
        entry.key = key;
        fillRow(entry, row);
        tickRow(entry, row, t);
      }
      // Keep DOM order without moving rows that are already in place (moving a focused row blurs it).
      if (tbody.children[i] !== entry.tr) tbody.insertBefore(entry.tr, tbody.children[i] || null);
    });
    const loaded = model.get("_loaded") !== false;
    loading.hidden = loaded;
    // Polling stopped on a fatal error: no spinner that would never end; the banner says why.
    const stopped = Boolean((model.get("_fatal") || {}).title);
    spinner.hidden = stopped;
    loadingText.textContent = stopped ? NOT_CONNECTED : "Loading batches…";
    const none = rows.length === 0;
    empty.hidden = !loaded || !none;
    tableWrap.hidden = none;
    toolbar.hidden = none && !connFilter; // the connection filter stays reachable when it hides every row
    dismissAll.hidden = !rows.some((r) => !isActiveStatus(r.status));
    renderStats(rows);
    syncSelection();
  }

  /** @param {string[]} ids */
  async function askCancel(ids) {
    if (!ids.length) return;
    const one = ids.length === 1;
    const rowOf = (/** @type {string} */ id) => rendered.get(id)?.row || { id };
    const job = one ? rendered.get(ids[0])?.row : undefined;
    if (job && job.kind === "job") {
      const running = (job.batches || []).filter((b) => isActiveStatus(b.status)).length;
      const sure = await confirmDialog(root, {
        title: "Cancel this job?",
        message: `Job ${batchLabelWithId(job)} will stop: its ${formatNumber(running)} running batch` +
          `${running === 1 ? "" : "es"} are cancelled and no further part or retry is submitted. Requests already ` +
          "finished are kept and billed; job.resume() can carry on later.",
        confirmLabel: "Cancel job",
        danger: true,
      });
      if (sure) model.send({ action: "cancel", ids });
      return;
    }
    const ok = await confirmDialog(root, {
      title: one ? "Cancel this batch?" : `Cancel ${ids.length} batches?`,
      message:
        (one ? `Batch ${batchLabelWithId(rowOf(ids[0]))}` : ids.map((id) => batchLabel(rowOf(id))).join(", ")) +
        " will stop. Requests already finished are kept and billed; the rest are not run.",
      confirmLabel: one ? "Cancel batch" : `Cancel ${ids.length} batches`,
      danger: true,
    });
    if (!ok) return;
    model.send({ action: "cancel", ids });
    for (const id of ids) selected.delete(id);
    for (const entry of rendered.values()) entry.cells.check.checked = selected.has(entry.row.id);
    syncSelection();
  }

  // ---- events --------------------------------------------------------------------------------------------
  scope.on(selectAll, "change", () => {
    for (const entry of rendered.values()) {
      if (entry.cells.check.disabled) continue;
      entry.cells.check.checked = selectAll.checked;
      if (selectAll.checked) selected.add(entry.row.id);
      else selected.delete(entry.row.id);
    }
    syncSelection();
  });
  scope.on(cancelSel, "click", () => askCancel([...selected]));
  scope.on(dismissAll, "click", () => model.send({ action: "dismiss", ids: "finished" }));
  scope.on(refresh, "click", () => model.send({ action: "refresh" }));
  scope.on(connSel, "change", () => {
    connFilter = connSel.value;
    update();
  });
  if (opts.onOpen) {
    const onOpen = opts.onOpen;
    /** @param {Event} ev */
    const rowOf = (ev) => {
      const target = /** @type {HTMLElement} */ (ev.target);
      if (target.closest("button, input, a")) return null; // the row's own controls act for themselves
      return /** @type {HTMLElement | null} */ (target.closest("tr.bw-row"));
    };
    scope.on(tbody, "click", (ev) => {
      const tr = rowOf(ev);
      if (tr && tr.dataset.kind === "job") toggleJob(/** @type {string} */ (tr.dataset.id));
      else if (tr && tr.dataset.id) onOpen(tr.dataset.id);
    });
    scope.on(tbody, "keydown", (/** @type {KeyboardEvent} */ ev) => {
      const tr = rowOf(ev);
      if (!tr) return;
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        if (tr.dataset.kind === "job") toggleJob(/** @type {string} */ (tr.dataset.id));
        else if (tr.dataset.id) onOpen(tr.dataset.id);
      } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const next = ev.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        if (next) /** @type {HTMLElement} */ (next).focus();
      }
    });
  }
  // The dashboard asks to show a job (from a batch's details): expand its row and move focus to it.
  scope.on(el, "bw-show-job", (/** @type {CustomEvent} */ ev) => {
    const entry = rendered.get(ev.detail);
    if (!entry) return;
    toggleJob(ev.detail, true);
    entry.tr.focus();
  });
  scope.add(liveRows(model).subscribe(update));
  scope.onModel(model, "change:_loaded", update);
  scope.onModel(model, "change:_fatal", update);
  scope.every(1000, tick);
  update();
  scope.add(() => root.remove());
  return () => scope.dispose();
}
