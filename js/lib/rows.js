// @ts-check
// The Active list's rows, kept per model: a snapshot (`_rows_init`, {seq, rows}) plus patches (`_rows_patch`,
// {seq, set: {id: row}, drop: [ids]}) that carry only the rows that changed. Started from the entry's
// `initialize`, so no patch is missed while no view is open; every view of the model reads the same rows.

/**
 * @typedef {{ get: () => Map<string, any>, subscribe: (fn: () => void) => () => void, dispose: () => void }} LiveRows
 */

/** @type {WeakMap<object, LiveRows>} */
const caches = new WeakMap();

/**
 * @param {any} model
 * @returns {LiveRows}
 */
export function liveRows(model) {
  const cached = caches.get(model);
  if (cached) return cached;
  /** @type {Map<string, any>} */
  const rows = new Map();
  /** @type {Set<() => void>} */
  const subs = new Set();
  let seq = 0;
  const notify = () => subs.forEach((fn) => fn());
  const reset = () => {
    const init = model.get("_rows_init") || {};
    rows.clear();
    for (const [id, row] of Object.entries(init.rows || {})) rows.set(id, row);
    seq = init.seq || 0;
    notify();
  };
  const patch = () => {
    const p = model.get("_rows_patch") || {};
    if (!p.seq || p.seq <= seq) return; // already part of the snapshot
    // A gap means a patch went by before we listened: apply this one and ask the kernel for a fresh snapshot.
    if (p.seq !== seq + 1) model.send({ action: "rows_resync" });
    for (const [id, row] of Object.entries(p.set || {})) rows.set(id, row);
    for (const id of p.drop || []) rows.delete(id);
    seq = p.seq;
    notify();
  };
  model.on("change:_rows_init", reset);
  model.on("change:_rows_patch", patch);
  reset();
  patch();
  /** @type {LiveRows} */
  const live = {
    get: () => rows,
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    dispose() {
      model.off("change:_rows_init", reset);
      model.off("change:_rows_patch", patch);
      subs.clear();
      caches.delete(model);
    },
  };
  caches.set(model, live);
  return live;
}
