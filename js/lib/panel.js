// @ts-check
// Messages every panel shows: the `_banner` trait (errors, dismissible) and the `_notice` trait (a passing
// toast), plus a polite live region for status announcements. A dashboard mounts this once for all its tabs.
import { Scope, announce, banner, button, h, clear, liveRegion } from "./dom.js";

const NOTICE_MS = 8000;

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

  const showBanner = () => {
    clear(bannerSlot);
    const text = model.get("_banner");
    if (text) {
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
