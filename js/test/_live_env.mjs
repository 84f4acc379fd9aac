// Helpers for the live-panel tests: the shared happy-dom set-up and fake model (_panel_env.mjs), plus
// custom messages (kernel -> view "msg:custom"), a fixed clock and sample rows shaped like widgets/_rows.py.
import { installDom, fakeModel, settle } from "./_panel_env.mjs";

export { installDom, settle };

/** A fake model that can also deliver custom messages with buffers. @param {Record<string, any>} state */
export function liveModel(state) {
  const model = fakeModel(state);
  const custom = new Set();
  const on = model.on;
  const off = model.off;
  model.on = (name, fn) => (name === "msg:custom" ? custom.add(fn) : on(name, fn));
  model.off = (name, fn) => (name === "msg:custom" ? custom.delete(fn) : off(name, fn));
  model.emitCustom = (msg, buffers) => custom.forEach((fn) => fn(msg, buffers));
  const count = model.listenerCount;
  model.listenerCount = () => count() + custom.size;
  return model;
}

export const NOW = 1_750_000_000;

/** A row as batch_row() makes it. */
export function row(id, fields = {}) {
  return {
    id,
    status: "in_progress",
    total: 100,
    completed: 40,
    failed: 10,
    created: NOW - 600,
    in_progress: NOW - 500,
    finalizing: null,
    cancelling: null,
    ended: null,
    expires: NOW + 86000,
    endpoint: "/v1/chat/completions",
    model: "gpt-4o-mini",
    description: "",
    tags: [],
    throughput: 0.1,
    eta: 500,
    seen: NOW - 100,
    ...fields,
  };
}

/** A detail as batch_detail() makes it. */
export function detail(id, fields = {}) {
  const base = row(id, {
    status: "completed",
    completed: 95,
    failed: 5,
    finalizing: NOW - 200,
    ended: NOW - 100,
    eta: null,
    description: "Nightly eval",
    tags: ["eval", "nightly"],
  });
  return {
    ...base,
    completion_window: "24h",
    input_file_id: "file-in",
    output_file_id: "file-out",
    error_file_id: "file-err",
    timeline: {
      created: base.created, in_progress: base.in_progress, finalizing: base.finalizing, completed: base.ended,
      failed: null, expired: null, cancelling: null, cancelled: null, expires: base.expires,
    },
    processing_seconds: 400,
    metadata: { description: "Nightly eval", tags: "eval,nightly", owner: "ml-team" },
    errors: [{ code: "invalid_json_line", message: "bad line", line: 7, param: "" }],
    cost: { usd: 0.0123, source: "usage", tokens: { input: 1000, output: 500, cached: 0, total: 1500 } },
    extra: {},
    ...fields,
  };
}

/** Click the confirm (or cancel) button of the open in-widget dialog. */
export async function answerDialog(root, confirm) {
  await settle(2);
  const dialog = root.querySelector(".bw-dialog");
  if (!dialog) throw new Error("no dialog open");
  const buttons = dialog.querySelectorAll("button");
  buttons[confirm ? 1 : 0].click();
  await settle(2);
}
