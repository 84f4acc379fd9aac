// Test environment for the panels: a happy-dom document on globalThis and a fake anywidget model that
// records what the view sends and lets a test play the kernel (update traits, fire change events).
import { Window } from "happy-dom";

export function installDom() {
  const window = new Window({ url: "http://localhost/" });
  for (const name of ["document", "HTMLElement", "Node", "Event", "KeyboardEvent", "MouseEvent",
    "DocumentFragment", "SVGElement", "Element", "getComputedStyle"]) {
    globalThis[name] = name === "getComputedStyle" ? window.getComputedStyle.bind(window) : window[name];
  }
  globalThis.window = /** @type {any} */ (window); // happy-dom's Window stands in for the browser's
  return window;
}

/**
 * @param {Record<string, any>} state initial trait values
 * @param {{onSend?: (msg: any, buffers: any[] | undefined, model: any) => void}} [opts]
 */
export function fakeModel(state, opts = {}) {
  /** @type {Map<string, Set<Function>>} */
  const listeners = new Map();
  const fire = (name) => { for (const fn of [...(listeners.get(name) || [])]) fn(); };
  const model = {
    state,
    sent: /** @type {{msg: any, buffers: any[] | undefined}[]} */ ([]),
    saved: /** @type {Record<string, any>[]} */ ([]),
    get: (k) => state[k],
    set(k, v) { state[k] = v; fire(`change:${k}`); },
    save_changes() { model.saved.push({ ...state }); },
    on(name, fn) { if (!listeners.has(name)) listeners.set(name, new Set()); listeners.get(name).add(fn); },
    off(name, fn) { if (name && fn) listeners.get(name)?.delete(fn); else if (name) listeners.delete(name); else listeners.clear(); },
    send(msg, _callbacks, buffers) { model.sent.push({ msg, buffers }); if (opts.onSend) opts.onSend(msg, buffers, model); },
    /** The kernel changes a trait. */
    update(k, v) { state[k] = v; fire(`change:${k}`); },
    listenerCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
  };
  return model;
}

/** Let pending promises (file reads, awaits) run. */
export async function settle(times = 20) {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0));
}
