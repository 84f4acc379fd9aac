// @ts-check
// The Details panel: one batch from the `_detail` trait — progress, timeline, cost, files, metadata, errors —
// and its actions (refresh, cancel, downloads, retry failed, results as a DataFrame). Downloads arrive as one
// custom message with the file's bytes and are saved by the browser.
import {
  Scope,
  announce,
  append,
  button,
  clear,
  confirmDialog,
  downloadBytes,
  h,
  isActiveStatus,
  progressBar,
  statusBadge,
  statusLabel,
  updateProgressBar,
} from "../lib/dom.js";
import {
  batchLabel,
  batchLabelWithId,
  exactCost,
  formatCost,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatPercent,
  formatRate,
  isoTime,
} from "../lib/format.js";
import { codeHint, mountMessages } from "../lib/panel.js";
import { etaSeconds, runningSeconds } from "./active_list.js";
import { DESCRIPTION_KEY, HIDDEN_KEYS, TAGS_KEY, TERMINAL_STATUSES } from "../lib/facts.js";

/** Metadata keys the Metadata card does not list: description and tags have their own lines; the library's
 * own bookkeeping keys (facts.HIDDEN_KEYS) are never shown. */
export const HIDDEN_METADATA = new Set([DESCRIPTION_KEY, TAGS_KEY, ...HIDDEN_KEYS]);

/** The user's own metadata pairs, in their order. @param {Record<string, string> | null | undefined} metadata */
export function shownMetadata(metadata) {
  return Object.entries(metadata || {}).filter(([k]) => !HIDDEN_METADATA.has(k));
}


/**
 * Timeline steps: created -> in progress -> finalizing -> the end state (cancelling shown when it happened).
 * @param {any} d a batch_detail dict
 * @returns {{ key: string, label: string, at: number | null, state: "done" | "current" | "todo" }[]}
 */
export function timelineSteps(d) {
  const t = d.timeline || {};
  const endKey = TERMINAL_STATUSES.find((k) => t[k]);
  /** @type {{ key: string, label: string, at: number | null }[]} */
  const steps = [
    { key: "created", label: "Created", at: t.created ?? null },
    { key: "in_progress", label: "In progress", at: t.in_progress ?? null },
    { key: "finalizing", label: "Finalizing", at: t.finalizing ?? null },
  ];
  if (t.cancelling) steps.push({ key: "cancelling", label: "Cancelling", at: t.cancelling });
  steps.push({ key: endKey || "done", label: endKey ? statusLabel(endKey) : "Done", at: endKey ? t[endKey] : null });
  // Steps a batch skipped (failed validation never runs) are dropped once it has ended.
  const shown = endKey ? steps.filter((s) => s.at !== null) : steps;
  const lastDone = shown.reduce((acc, s, i) => (s.at !== null ? i : acc), -1);
  return shown.map((s, i) => ({
    ...s,
    state: s.at !== null ? (i === lastDone && !endKey ? "current" : "done") : "todo",
  }));
}

/**
 * @param {any} model
 * @param {HTMLElement} el
 * @param {{ onBack?: () => void, onShowJob?: (jobId: string) => void, live?: HTMLElement, embedded?: boolean,
 *   now?: () => number }} [opts]
 */
export function renderDetails(model, el, opts = {}) {
  const scope = new Scope();
  const now = opts.now || (() => Date.now() / 1000);
  const root = h("section", { class: "bw-panel bw-details", "aria-label": "Batch details" });
  el.append(root);
  const live = opts.embedded ? opts.live : mountMessages(model, root, scope).live;

  // ---- header ----
  const back = button("← Back", { variant: "ghost", ariaLabel: "Back to the batch list" });
  const title = h("h2", { class: "bw-details__title" });
  const subtitle = h("div", { class: "bw-details__sub bw-muted" });
  // A batch that is a part (or retry round) of a job says so, and links to the job's row.
  const jobText = h("span", {});
  const jobLink = button("Show job", { variant: "ghost", class: "bw-btn--sm" });
  const jobLine = h("div", { class: "bw-details__job", hidden: true }, [jobText, jobLink]);
  const badgeSlot = h("span", {});
  const refresh = button("Refresh", { variant: "secondary" });
  const cancel = button("Cancel batch", { variant: "danger" });
  const dlOut = button("Download results", { variant: "primary" });
  const dlErr = button("Download errors", { variant: "secondary" });
  const retry = button("Retry failed", { variant: "secondary", title: "Submit the failed requests as a new batch" });
  const frame = button("Results as DataFrame", { variant: "secondary" });
  const header = h("header", { class: "bw-details__header" }, [
    opts.onBack ? back : null,
    h("div", { class: "bw-details__heading" }, [
      h("div", { class: "bw-details__titlerow" }, [title, badgeSlot]),
      subtitle,
      jobLine,
    ]),
    h("div", { class: "bw-details__actions", role: "toolbar", "aria-label": "Batch actions" }, [
      refresh,
      cancel,
      dlOut,
      dlErr,
      retry,
      frame,
    ]),
  ]);

  // ---- progress ----
  const bar = progressBar({}, { large: true, label: "Batch progress" });
  const countsRow = h("div", { class: "bw-stats bw-stats--inline" });
  // A batch whose input was refused ran nothing: say so instead of "0 of 0".
  const refused = h("p", { class: "bw-details__refused", hidden: true });
  const progress = h("div", { class: "bw-card bw-details__progress" }, [refused, countsRow, bar]);

  // ---- cards ----
  const overview = h("dl", { class: "bw-kv" });
  const timeline = h("ol", { class: "bw-timeline" });
  const timing = h("dl", { class: "bw-kv" });
  const cost = h("dl", { class: "bw-kv" });
  const files = h("dl", { class: "bw-kv" });
  const meta = h("div", {});
  const errors = h("div", {});
  const extra = h("dl", { class: "bw-kv" });
  const card = (/** @type {string} */ name, /** @type {HTMLElement} */ body, /** @type {string} */ cls = "") =>
    h("section", { class: `bw-card ${cls}`, "aria-label": name }, [h("h3", { class: "bw-card__title", text: name }), body]);
  const errorsCard = card("Errors", errors, "bw-card--wide");
  const extraCard = card("Other fields", extra);
  const grid = h("div", { class: "bw-grid" }, [
    card("Overview", overview),
    card("Timeline", timeline),
    card("Timing", timing),
    card("Cost", cost),
    card("Files", files),
    card("Metadata", meta),
    errorsCard,
    extraCard,
  ]);
  // The first rows of `<name>.results_frame` once "Results as DataFrame" loaded it (trait _results_preview).
  const preview = h("div", {});
  const previewCard = card("Results preview", preview, "bw-card--wide");
  grid.append(previewCard);
  const hint = h("p", { class: "bw-hint bw-muted" });
  const body = h("div", { class: "bw-details__body" }, [header, progress, grid, hint]);
  const state = h("div", { class: "bw-empty", hidden: true });
  root.append(state, body);

  /**
   * @param {HTMLElement} dl
   * @param {[string, any, (string | null)?, boolean?][]} pairs label, value (node or text), tooltip, wide (an id:
   *   in a narrow card it goes under its label instead of being squeezed beside it)
   */
  function kv(dl, pairs) {
    clear(dl);
    for (const [label, value, tip, wide] of pairs) {
      const cls = wide ? "bw-kv__wide" : null;
      const dd = h("dd", { title: tip || null, class: cls });
      if (value instanceof Node) dd.append(value);
      else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
      dl.append(h("dt", { text: label, class: cls }), dd);
    }
  }
  /** @param {string} text */
  const mono = (text) => h("span", { class: "bw-mono", text: text || "—" });
  /** @param {number | null | undefined} ts */
  const time = (ts) => (ts ? h("time", { datetime: isoTime(ts), text: formatDateTime(ts) }) : "—");

  let lastStatus = "";
  function update() {
    const d = model.get("_detail") || {};
    const st = model.get("_detail_state");
    const has = Boolean(d.id);
    body.hidden = !has;
    state.hidden = has;
    if (!has) {
      append(clear(state), [
        st === "missing"
          ? h("p", { text: `No batch ${model.get("_detail_id")} on this connection.` })
          : h("div", { class: "bw-loading", role: "status" }, [h("span", { class: "bw-spinner", "aria-hidden": "true" }), "Loading batch…"]),
        opts.onBack ? back : null,
      ]);
      return;
    }
    if (opts.onBack && back.parentElement !== header) header.prepend(back);
    const active = isActiveStatus(d.status);
    if (lastStatus && lastStatus !== d.status && live) announce(live, `Batch ${batchLabel(d)} is now ${statusLabel(d.status)}`);
    lastStatus = d.status;
    title.textContent = d.description || d.id;
    subtitle.textContent = [d.description ? d.id : "", d.model, d.endpoint].filter(Boolean).join(" · ");
    clear(badgeSlot).append(statusBadge(d.status));
    const job = d.job || null; // {id, part, parts, round} when the batch is a part (or retry) of a job
    const jobId = job ? job.id : "";
    jobLine.hidden = !jobId;
    jobLine.dataset.job = jobId;
    if (job) {
      jobText.textContent = `Part ${job.part}/${job.parts} of job ${jobId}` + (job.round ? ` · retry round ${job.round}` : "");
    }
    jobLink.hidden = !opts.onShowJob;
    jobLink.setAttribute("aria-label", `Show job ${jobId}`);
    cancel.hidden = !active || d.status === "cancelling";
    // Files the provider deleted (expired) are named as such, with no download that cannot work.
    const gone = /** @type {string[]} */ (model.get("_files_gone") || []);
    dlOut.hidden = !d.output_file_id || gone.includes("output");
    dlErr.hidden = !d.error_file_id || gone.includes("error");
    retry.hidden = active || !d.failed;
    frame.hidden = !d.output_file_id && !d.error_file_id;

    const done = d.completed + d.failed;
    refused.hidden = !d.failed_validation;
    countsRow.hidden = bar.hidden = Boolean(d.failed_validation);
    const problems = (d.errors || []).length;
    refused.textContent = d.failed_validation
      ? `Failed validation: no request ran. ${problems ? `${formatNumber(problems)} problem${problems === 1 ? "" : "s"} in the input file, listed under Errors.` : "The provider gave no reason."}`
      : "";
    clear(countsRow);
    for (const [label, value, tone] of [
      ["Total", formatNumber(d.total), ""],
      ["Succeeded", formatNumber(d.completed), "ok"],
      ["Failed", formatNumber(d.failed), d.failed ? "bad" : ""],
      ["Success rate", done ? `${formatPercent(d.completed / done)} of ${formatNumber(done)} done` : "—", ""],
    ]) {
      countsRow.append(
        h("div", { class: `bw-stat bw-stat--flat${tone ? ` bw-stat--${tone}` : ""}` }, [
          h("div", { class: "bw-stat__label", text: label }),
          h("div", { class: "bw-stat__value", text: value }),
        ]),
      );
    }
    updateProgressBar(bar, d);

    kv(overview, [
      ["Batch ID", mono(d.id), null, true],
      ["Status", statusLabel(d.status)],
      ["Endpoint", mono(d.endpoint)],
      ["Model", d.model],
      ["Window", d.completion_window],
      ["Expires", time(d.timeline && d.timeline.expires)],
    ]);
    clear(timeline);
    const steps = timelineSteps(d);
    steps.forEach((step, i) => {
      const prev = steps[i - 1];
      // How long the batch took to reach this step from the one before.
      const took = step.at !== null && prev && prev.at !== null ? formatDuration(step.at - prev.at) : "";
      timeline.append(
        h("li", { class: `bw-step bw-step--${step.state}`, "aria-current": step.state === "current" ? "step" : null }, [
          h("span", { class: "bw-step__dot", "aria-hidden": "true" }),
          h("span", { class: "bw-step__label", text: step.label }),
          h("span", { class: "bw-step__time bw-muted" }, [time(step.at)]),
          took ? h("span", { class: "bw-step__took bw-muted", text: `+${took}` }) : null,
        ]),
      );
    });
    const c = d.cost || {};
    const source = { usage: "from usage", results: "from results", estimate: "estimated", simulated: "simulated, not spent", unknown: "no price" }[
      /** @type {"usage"} */ (c.source)
    ];
    const tokens = c.tokens;
    kv(cost, [
      ["Cost", h("span", {}, [formatCost(c.usd), " ", h("span", { class: `bw-chip bw-chip--${c.source}`, text: source || "—" })]),
        exactCost(c.usd)],
      ["Input tokens", tokens ? formatNumber(tokens.input) : "—"],
      ["Output tokens", tokens ? formatNumber(tokens.output) : "—"],
      ["Cached tokens", tokens ? formatNumber(tokens.cached) : "—"],
      ...(tokens && tokens.reasoning ? [/** @type {[string, any]} */ (["Reasoning tokens", formatNumber(tokens.reasoning)])] : []),
    ]);
    /** @param {string} kind @param {string} id */
    const fileCell = (kind, id) =>
      id && gone.includes(kind) ? h("span", { class: "bw-muted", text: `${kind} expired`, title: id }) : mono(id);
    kv(files, [
      ["Input", fileCell("input", d.input_file_id), null, Boolean(d.input_file_id)],
      ["Output", fileCell("output", d.output_file_id), null, Boolean(d.output_file_id)],
      ["Errors", fileCell("error", d.error_file_id), null, Boolean(d.error_file_id)],
    ]);
    clear(meta);
    const metaPairs = shownMetadata(d.metadata);
    append(meta, [
      h("p", { class: "bw-meta__desc", text: d.description || "No description." }),
      d.tags && d.tags.length
        ? h("div", { class: "bw-tags", "aria-label": "Tags" }, d.tags.map((/** @type {string} */ t) => h("span", { class: "bw-chip", text: t, title: t })))
        : null,
    ]);
    if (metaPairs.length) {
      const dl = h("dl", { class: "bw-kv" });
      // A long value without spaces (an id, a URL) goes under its key in a narrow card, like the ids above.
      kv(dl, metaPairs.map(([k, v]) => [k, v, null, String(v).length > 18 && !/\s/.test(String(v))]));
      meta.append(dl);
    }
    clear(errors);
    errorsCard.hidden = !(d.errors && d.errors.length);
    if (d.errors && d.errors.length) {
      errors.append(
        h("table", { class: "bw-table bw-table--compact" }, [
          h("thead", {}, [h("tr", {}, [h("th", { scope: "col", text: "Code" }), h("th", { scope: "col", text: "Message" }), h("th", { scope: "col", class: "bw-num", text: "Line" })])]),
          h(
            "tbody",
            {},
            d.errors.map((/** @type {any} */ e) =>
              h("tr", {}, [
                h("td", {}, [mono(e.code)]),
                h("td", { text: e.message + (e.param ? ` (${e.param})` : "") }),
                h("td", { class: "bw-num", text: e.line === null || e.line === undefined ? "—" : String(e.line) }),
              ]),
            ),
          ),
        ]),
      );
    }
    const extras = Object.entries(d.extra || {});
    extraCard.hidden = extras.length === 0;
    kv(extra, extras.map(([k, v]) => [k, v]));
    tick();
  }

  function updateHint() {
    const name = model.get("_py_name") || "widget";
    clear(hint).append("In Python: ", codeHint(`${name}.results().to_dataframe()`), " · after “Results as DataFrame”: ",
      codeHint(`${name}.results_frame`));
    frame.title = `Load the results into ${name}.results_frame`;
  }

  function updatePreview() {
    const p = model.get("_results_preview") || {};
    const shown = Boolean(p.columns && p.batch_id === id());
    previewCard.hidden = !shown;
    clear(preview);
    if (!shown) return;
    const head = /** @type {string[][]} */ (p.head || []);
    preview.append(
      h("p", { class: "bw-muted", text: `First ${formatNumber(head.length)} of ${formatNumber(p.rows)} rows of ` }, [
        codeHint(`${model.get("_py_name") || "widget"}.results_frame`),
      ]),
      h("div", { class: "bw-table-wrap" }, [
        h("table", { class: "bw-table bw-table--compact" }, [
          h("thead", {}, [h("tr", {}, p.columns.map((/** @type {string} */ c) => h("th", { scope: "col", text: c })))]),
          h("tbody", {}, head.map((row) => h("tr", {}, row.map((cell) => h("td", { text: cell, title: cell }))))),
        ]),
      ]),
    );
  }

  function tick() {
    const d = model.get("_detail") || {};
    if (!d.id) return;
    const t = now();
    const eta = etaSeconds(d, t);
    kv(timing, [
      [isActiveStatus(d.status) ? "Running for" : "Processing time", d.in_progress ? formatDuration(d.processing_seconds ?? runningSeconds(d, t)) : "—"],
      ["Throughput", formatRate(d.throughput)],
      ["ETA", eta === null ? "—" : formatDuration(eta)],
      ["Created", time(d.created)],
      ["Ended", time(d.ended)],
    ]);
  }

  /** @param {{ type?: string, filename?: string, mime?: string }} msg @param {DataView[]} buffers */
  function onCustom(msg, buffers) {
    if (msg && msg.type === "download" && buffers && buffers[0]) {
      downloadBytes(msg.filename || "download.jsonl", buffers[0], msg.mime);
    }
  }

  const id = () => /** @type {string} */ (model.get("_detail_id"));
  scope.on(back, "click", () => opts.onBack && opts.onBack());
  scope.on(jobLink, "click", () => opts.onShowJob && jobLine.dataset.job && opts.onShowJob(jobLine.dataset.job));
  scope.on(refresh, "click", () => model.send({ action: "refresh", id: id() }));
  scope.on(dlOut, "click", () => model.send({ action: "download", kind: "output" }));
  scope.on(dlErr, "click", () => model.send({ action: "download", kind: "error" }));
  scope.on(retry, "click", () => model.send({ action: "retry_failed" }));
  scope.on(frame, "click", () => model.send({ action: "results_frame" }));
  scope.on(cancel, "click", async () => {
    const ok = await confirmDialog(root, {
      title: "Cancel this batch?",
      message: `Batch ${batchLabelWithId(model.get("_detail") || { id: id() })} will stop. Requests already finished are kept and billed; the rest are not run.`,
      confirmLabel: "Cancel batch",
      danger: true,
    });
    if (ok) model.send({ action: "cancel", ids: [id()] });
  });
  scope.onModel(model, "msg:custom", onCustom);
  scope.onModel(model, "change:_detail", update);
  scope.onModel(model, "change:_detail_state", update);
  scope.onModel(model, "change:_files_gone", update);
  scope.onModel(model, "change:_py_name", () => (updateHint(), updatePreview()));
  scope.onModel(model, "change:_results_preview", updatePreview);
  scope.onModel(model, "change:_detail_id", updatePreview);
  scope.every(1000, tick);
  update();
  updateHint();
  updatePreview();
  scope.add(() => root.remove());
  return () => scope.dispose();
}
