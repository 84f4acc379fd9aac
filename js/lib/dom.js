// @ts-check
// Small DOM helpers shared by every panel. Strings from the API only ever reach the page as text:
// `h()` sets textContent and attributes, never innerHTML.
import { ACTIVE_STATUSES, STATUSES, STATUS_LABELS } from "./facts.js";

/**
 * @typedef {Record<string, string | number | boolean | null | undefined | Record<string, string>>} Attrs
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * Build an element. `props.class` sets className, `props.text` sets textContent, `props.style` takes an object
 * of CSS properties; every other key becomes an attribute (`true` -> present, `false`/null/undefined -> absent).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [props] (`style` takes an object of CSS properties)
 * @param {Child[] | Child} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = String(value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/**
 * Append children (strings become text nodes; null/false are skipped).
 * @param {Element} el
 * @param {Child[] | Child} children
 */
export function append(el, children) {
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of `el`. @param {Element} el */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * Collects listeners, model subscriptions, timers and other clean-ups so a panel can undo all of them at once.
 */
export class Scope {
  constructor() {
    /** @type {(() => void)[]} */
    this._cleanups = [];
  }
  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: any) => void} fn
   * @param {AddEventListenerOptions} [options]
   */
  on(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    this._cleanups.push(() => target.removeEventListener(type, fn, options));
    return this;
  }
  /**
   * Subscribe to a model event ("change:_rows", "msg:custom").
   * @param {{ on: (name: string, fn: any) => void, off: (name?: string | null, fn?: any) => void }} model
   * @param {string} name
   * @param {(...args: any[]) => void} fn
   */
  onModel(model, name, fn) {
    model.on(name, fn);
    this._cleanups.push(() => model.off(name, fn));
    return this;
  }
  /** Run `fn` every `ms` until disposed. @param {() => void} fn @param {number} ms */
  every(ms, fn) {
    const id = /** @type {any} */ (setInterval(fn, ms));
    if (id && typeof id.unref === "function") id.unref(); // a failed Node test must not hang on a live timer
    this._cleanups.push(() => clearInterval(id));
    return this;
  }
  /** @param {() => void} fn */
  add(fn) {
    this._cleanups.push(fn);
    return this;
  }
  dispose() {
    for (const fn of this._cleanups.splice(0).reverse()) {
      try {
        fn();
      } catch (err) {
        console.error("batch_widgets: cleanup failed", err);
      }
    }
  }
}

/**
 * A button. `variant` is one of "primary", "secondary", "danger", "ghost".
 * @param {string} label
 * @param {{ variant?: string, title?: string, ariaLabel?: string, disabled?: boolean, class?: string }} [opts]
 */
export function button(label, opts = {}) {
  return h("button", {
    type: "button",
    class: `bw-btn bw-btn--${opts.variant || "secondary"}${opts.class ? " " + opts.class : ""}`,
    title: opts.title,
    "aria-label": opts.ariaLabel,
    disabled: opts.disabled,
    text: label,
  });
}

export { STATUSES, STATUS_LABELS };

const ACTIVE = new Set(/** @type {readonly string[]} */ (ACTIVE_STATUSES));

/** @param {string} status */
export function isActiveStatus(status) {
  return ACTIVE.has(status);
}

/** @param {string} status */
export function statusLabel(status) {
  return /** @type {Record<string,string>} */ (STATUS_LABELS)[status] || status || "Unknown";
}

/**
 * A status badge: colour plus text (colour is never the only signal). Active statuses get a pulsing dot.
 * @param {string} status
 */
export function statusBadge(status) {
  const known = /** @type {readonly string[]} */ (STATUSES).includes(status);
  return h("span", { class: `bw-badge bw-badge--${known ? status : "unknown"}` }, [
    h("span", { class: `bw-badge__dot${isActiveStatus(status) ? " bw-pulse" : ""}`, "aria-hidden": "true" }),
    statusLabel(status),
  ]);
}

/**
 * A progress bar with a success and a failure segment.
 * @param {{ total?: number, completed?: number, failed?: number }} counts
 * @param {{ label?: string, large?: boolean }} [opts]
 */
export function progressBar(counts, opts = {}) {
  const ok = h("span", { class: "bw-progress__ok" });
  const bad = h("span", { class: "bw-progress__bad" });
  const bar = h(
    "div",
    { class: `bw-progress${opts.large ? " bw-progress--lg" : ""}`, role: "progressbar", "aria-valuemin": 0 },
    [ok, bad],
  );
  if (opts.label) bar.setAttribute("aria-label", opts.label);
  updateProgressBar(bar, counts);
  return bar;
}

/**
 * @param {HTMLElement} bar an element made by progressBar()
 * @param {{ total?: number, completed?: number, failed?: number }} counts
 */
export function updateProgressBar(bar, counts) {
  const total = Math.max(0, counts.total || 0);
  const done = Math.max(0, counts.completed || 0);
  const failed = Math.max(0, counts.failed || 0);
  const pct = (/** @type {number} */ n) => (total > 0 ? Math.min(100, (100 * n) / total) : 0);
  const okEl = /** @type {HTMLElement} */ (bar.children[0]);
  const badEl = /** @type {HTMLElement} */ (bar.children[1]);
  okEl.style.width = `${pct(done).toFixed(2)}%`;
  badEl.style.width = `${pct(failed).toFixed(2)}%`;
  bar.setAttribute("aria-valuemax", String(total));
  bar.setAttribute("aria-valuenow", String(Math.min(total, done + failed)));
  bar.setAttribute(
    "aria-valuetext",
    total > 0 ? `${done + failed} of ${total} requests processed, ${failed} failed` : "no requests counted yet",
  );
}

/** A visually hidden polite live region. */
export function liveRegion() {
  return h("div", { class: "bw-sr-only", "aria-live": "polite", "aria-atomic": "true", role: "status" });
}

/**
 * Announce `text` in a live region (cleared first so a repeated message is read again).
 * @param {HTMLElement} region
 * @param {string} text
 */
export function announce(region, text) {
  region.textContent = "";
  // A microtask later, so screen readers see a change even for the same text.
  Promise.resolve().then(() => {
    region.textContent = text;
  });
}

/**
 * Save bytes as a browser download: Blob -> object URL -> a clicked <a download>.
 * @param {string} filename
 * @param {ArrayBuffer | ArrayBufferView | DataView} data
 * @param {string} [mime]
 */
export function downloadBytes(filename, data, mime = "application/octet-stream") {
  const blob = new Blob([/** @type {BlobPart} */ (data)], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "bw-sr-only" });
  document.body.append(a);
  a.click();
  a.remove();
  // Revoke later: some browsers start the download asynchronously.
  const timer = /** @type {any} */ (setTimeout(() => URL.revokeObjectURL(url), 10_000));
  if (timer && typeof timer.unref === "function") timer.unref(); // never keeps a Node test process alive
  return blob;
}

/**
 * An in-widget modal confirmation (window.confirm is blocked in some hosts and cannot be styled or tested).
 * Resolves true on confirm, false on cancel / Escape. Focus moves to the dialog and back afterwards.
 * @param {HTMLElement} host element the dialog overlays (a panel root)
 * @param {{ title: string, message: string, confirmLabel?: string, cancelLabel?: string, danger?: boolean }} opts
 * @returns {Promise<boolean>}
 */
export function confirmDialog(host, opts) {
  const previous = /** @type {HTMLElement | null} */ (document.activeElement);
  const titleId = `bw-dlg-${Math.random().toString(36).slice(2, 9)}`;
  const cancel = button(opts.cancelLabel || "Keep running", { variant: "secondary" });
  const ok = button(opts.confirmLabel || "Confirm", { variant: opts.danger ? "danger" : "primary" });
  const dialog = h("div", { class: "bw-dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": titleId }, [
    h("h3", { class: "bw-dialog__title", id: titleId, text: opts.title }),
    h("p", { class: "bw-dialog__msg", text: opts.message }),
    h("div", { class: "bw-dialog__actions" }, [cancel, ok]),
  ]);
  const overlay = h("div", { class: "bw-overlay" }, [dialog]);
  host.append(overlay);
  cancel.focus();
  return new Promise((resolve) => {
    const scope = new Scope();
    /** @param {boolean} value */
    const finish = (value) => {
      scope.dispose();
      overlay.remove();
      if (previous && previous.isConnected) previous.focus();
      resolve(value);
    };
    scope.on(ok, "click", () => finish(true));
    scope.on(cancel, "click", () => finish(false));
    scope.on(overlay, "click", (ev) => ev.target === overlay && finish(false));
    scope.on(dialog, "keydown", (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        finish(false);
      } else if (ev.key === "Tab") {
        // Keep focus inside the two buttons.
        ev.preventDefault();
        (document.activeElement === ok ? cancel : ok).focus();
      }
    });
    // If the panel is torn down while the dialog is open, resolve as cancelled.
    overlay.addEventListener("bw-dispose", () => finish(false), { once: true });
  });
}

/**
 * A card with a big number: stats strips on every panel.
 * @param {string} label
 * @param {string} value
 * @param {{ tone?: string, hint?: string }} [opts]
 */
export function statCard(label, value, opts = {}) {
  return h("div", { class: `bw-stat${opts.tone ? ` bw-stat--${opts.tone}` : ""}` }, [
    h("div", { class: "bw-stat__label", text: label }),
    h("div", { class: "bw-stat__value", text: value }),
    opts.hint ? h("div", { class: "bw-stat__hint", text: opts.hint }) : null,
  ]);
}

/**
 * A dismissible banner for errors / notices.
 * @param {string} text
 * @param {{ tone?: "error" | "info" | "success", onDismiss?: () => void }} [opts]
 */
export function banner(text, opts = {}) {
  const tone = opts.tone || "error";
  const el = h("div", { class: `bw-banner bw-banner--${tone}`, role: tone === "error" ? "alert" : "status" }, [
    h("span", { class: "bw-banner__text", text }),
  ]);
  if (opts.onDismiss) {
    const close = button("×", { variant: "ghost", ariaLabel: "Dismiss message", class: "bw-banner__close" });
    close.addEventListener("click", opts.onDismiss);
    el.append(close);
  }
  return el;
}

/**
 * True when the host page is dark. JupyterLab and Notebook 7 say so with body[data-jp-theme-light]; marimo with
 * body.dark (its widgets live in a shadow root, out of reach of page-level CSS); other hosts (Voila templates,
 * VS Code) are judged by the luminance of the background their theme variables give.
 * @param {HTMLElement} el an element in the page
 */
export function hostIsDark(el) {
  const flag = document.body && document.body.getAttribute("data-jp-theme-light");
  if (flag === "true" || flag === "false") return flag === "false";
  if (document.body && document.body.classList.contains("dark")) return true;
  const probe = h("span", { style: { background: "var(--jp-layout-color1, var(--vscode-editor-background, #fff))" } });
  el.append(probe);
  const color = getComputedStyle(probe).backgroundColor.trim();
  probe.remove();
  const hex = /^#([\da-f]{6})$/i.exec(color); // browsers answer rgb(); some DOMs keep the hex
  const rgb = hex
    ? [0, 2, 4].map((i) => parseInt(hex[1].slice(i, i + 2), 16))
    : (color.match(/[\d.]+/g) || []).map(Number);
  if (rgb.length < 3 || rgb[3] === 0) return false;
  return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255 < 0.4;
}
