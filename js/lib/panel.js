// @ts-check
// Messages every panel shows: the `_banner` trait (errors, dismissible), the `_fatal` trait (polling stopped:
// cause, fix and a Retry button, in place of the banner) and the `_notice` trait (a passing toast), plus a
// polite live region for status announcements. A dashboard mounts this once for all its tabs.
import { Scope, announce, append, banner, button, h, clear, liveRegion } from "./dom.js";

const NOTICE_MS = 8000;
/** What a list says instead of "Loading…" when polling stopped on a fatal error (`_fatal`). */
export const NOT_CONNECTED = "Not connected: see the message above.";

/**
 * @param {any} model
 * @param {HTMLElement} host where the banner and toasts go (top of the panel)
 * @param {Scope} scope
 * @returns {{ live: HTMLElement, say: (text: string) => void }}
 */
export function mountMessages(model, host, scope) {
  const bannerSlot = h("div", { class: "bw-banner-slot" });
  const toastSlot = h("div", { class: "bw-toasts" });
  const live = liveRegion();
  host.append(bannerSlot, toastSlot, live);

  const retryButton = () => {
    const retry = button("Retry", { variant: "secondary", class: "bw-banner__action" });
    retry.addEventListener("click", () => {
      retry.disabled = true;
      model.send({ action: "reconnect" });
    });
    return retry;
  };
  const showBanner = () => {
    clear(bannerSlot);
    // A dashboard over several connections: one banner per failing connection, named; the others go on.
    const stopped = model.get("_conn_stopped") || [];
    for (const [label, error] of Object.entries(model.get("_conn_banners") || {})) {
      const one = banner(`${label}: ${error}`, { tone: "error" });
      if (stopped.includes(label)) one.append(retryButton()); // this connection stopped polling: Retry it
      bannerSlot.append(one);
    }
    const text = model.get("_banner");
    const fatal = model.get("_fatal") || {};
    if (fatal.title) {
      // Polling has stopped (a refused key, a wrong base URL): one banner with the cause, the fix and a Retry.
      const retry = retryButton();
      bannerSlot.append(
        h("div", { class: "bw-banner bw-banner--error bw-banner--fatal", role: "alert" }, [
          h("div", { class: "bw-banner__text" }, [
            h("strong", { text: fatal.title }),
            fatal.fix ? h("div", { text: fatal.fix }) : null,
            fatal.detail ? h("div", { class: "bw-muted", text: fatal.detail }) : null,
          ]),
          retry,
        ]),
      );
    } else if (text) {
      bannerSlot.append(
        banner(text, {
          tone: "error",
          onDismiss: () => {
            clear(bannerSlot);
            model.send({ action: "dismiss_banner" });
          },
        }),
      );
    }
  };
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let lastSeq = (model.get("_notice") || {}).seq; // a notice from before this view was opened is stale
  const showNotice = () => {
    const notice = model.get("_notice") || {};
    if (!notice.text || notice.seq === lastSeq) return;
    lastSeq = notice.seq;
    clear(toastSlot);
    const close = button("×", { variant: "ghost", ariaLabel: "Dismiss notice", class: "bw-toast__close" });
    const toast = h("div", { class: `bw-toast bw-toast--${notice.tone || "info"}` }, [
      h("span", { class: "bw-toast__text", text: notice.text }),
      close,
    ]);
    close.addEventListener("click", () => toast.remove());
    toastSlot.append(toast);
    announce(live, notice.text);
    clearTimeout(timer);
    timer = setTimeout(() => toast.remove(), NOTICE_MS);
  };
  showBanner();
  scope.onModel(model, "change:_banner", showBanner);
  scope.onModel(model, "change:_conn_banners", showBanner);
  scope.onModel(model, "change:_conn_stopped", showBanner);
  scope.onModel(model, "change:_fatal", showBanner);
  scope.onModel(model, "change:_notice", showNotice);
  scope.add(() => {
    clearTimeout(timer);
    bannerSlot.remove();
    toastSlot.remove();
    live.remove();
  });
  return { live, say: (text) => announce(live, text) };
}

/**
 * Copy a code hint to the clipboard where allowed; the text stays selectable either way.
 * @param {string} code
 */
export function codeHint(code) {
  return h("code", { class: "bw-code", text: code });
}

/**
 * Where the widget is connected: "OpenAI · api.openai.com", or a plain "Local simulated server" badge.
 * Reads `_connection` ({ provider, host, local }) and keeps up with it.
 * @param {any} model
 * @param {Scope} scope
 */
export function connectionBadge(model, scope) {
  const el = h("span", { class: "bw-connection" });
  const draw = () => {
    const c = model.get("_connection") || {};
    clear(el);
    el.hidden = !c.host && !c.local;
    el.classList.toggle("bw-connection--local", Boolean(c.local));
    el.title = c.local ? `Answers are simulated by the embedded local server at ${c.host}; no provider is called.` : `Connected to ${c.host}`;
    if (c.local) el.append(h("span", { class: "bw-connection__badge", text: "Local simulated server" }));
    else append(el, [h("span", { class: "bw-connection__provider", text: c.provider || "" }), c.provider ? " · " : "", h("span", { class: "bw-mono", text: c.host || "" })]);
  };
  draw();
  scope.onModel(model, "change:_connection", draw);
  return el;
}
