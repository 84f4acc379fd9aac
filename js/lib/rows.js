// @ts-check
// The one row-sync protocol of every panel that shows rows (widgets/rowsync.py is the kernel's half):
// a snapshot trait {version, ...payload} that is current whenever the model is created, and a patch trait
// {version, drop?: [keys], ...payload} per change (versions only grow). The rows are followed per model from the entry's
// `initialize`, so no patch is missed while no view is open; every view of the model reads the same rows.
// A panel says how its payload decodes into rows; decoding waits until a view first asks for the rows.

/**
 * @typedef {{ reset: boolean, changed: any[], dropped: string[] }} RowChange
 * @typedef {{ get: () => Map<string, any>, version: () => number | undefined,
 *   subscribe: (fn: (change: RowChange) => void) => () => void, dispose: () => void }} SyncedRows
 * @typedef {{ snapshot: string, patch: string, decode: (payload: any) => any[], key?: (row: any) => string }} Spec
 */

/** @type {WeakMap<object, Map<string, SyncedRows>>} */
const caches = new WeakMap();

/**
 * The rows of `spec.snapshot` + `spec.patch` on this model (one follower per model and trait).
 * @param {any} model
 * @param {Spec} spec
 * @returns {SyncedRows}
 */
export function syncRows(model, spec) {
  let perModel = caches.get(model);
  if (!perModel) caches.set(model, (perModel = new Map()));
  const cached = perModel.get(spec.snapshot);
  if (cached) return cached;
  const key = spec.key || ((/** @type {any} */ r) => r.id);
  /** @type {Map<string, any> | null} null until a view asks (then the snapshot and the patches are decoded) */
  let rows = null;
  /** @type {any} */
  let snapshot = {};
  /** @type {any[]} patches that came before anyone asked for the rows */
  let pending = [];
  /** @type {number | undefined} */
  let version;
  /** @type {Set<(change: RowChange) => void>} */
  const subs = new Set();

  /** @param {Map<string, any>} into @param {any} p */
  const apply = (into, p) => {
    const changed = spec.decode(p);
    for (const r of changed) into.set(key(r), r);
    const dropped = p.drop || [];
    for (const k of dropped) into.delete(k);
    return { reset: false, changed, dropped };
  };
  const onSnapshot = () => {
    snapshot = model.get(spec.snapshot) || {};
    version = snapshot.version;
    rows = null;
    pending = [];
    onPatch(); // the patch the model holds may be newer than this snapshot
    subs.forEach((fn) => fn({ reset: true, changed: [], dropped: [] }));
  };
  const onPatch = () => {
    const p = model.get(spec.patch) || {};
    if (p.version === undefined || (version !== undefined && p.version <= version)) return; // already in
    version = p.version;
    if (rows === null) {
      pending.push(p);
      return;
    }
    const change = apply(rows, p);
    subs.forEach((fn) => fn(change));
  };
  model.on(`change:${spec.snapshot}`, onSnapshot);
  model.on(`change:${spec.patch}`, onPatch);
  snapshot = model.get(spec.snapshot) || {};
  version = snapshot.version;
  onPatch();

  /** @type {SyncedRows} */
  const synced = {
    get() {
      if (rows === null) {
        const fresh = new Map();
        for (const r of spec.decode(snapshot)) fresh.set(key(r), r);
        for (const p of pending) apply(fresh, p);
        pending = [];
        rows = fresh;
      }
      return rows;
    },
    version: () => version,
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    dispose() {
      model.off(`change:${spec.snapshot}`, onSnapshot);
      model.off(`change:${spec.patch}`, onPatch);
      subs.clear();
      perModel.delete(spec.snapshot);
    },
  };
  perModel.set(spec.snapshot, synced);
  return synced;
}

/** The Active list's rows ({"rows": {id: row}} in both traits). @param {any} model */
export function liveRows(model) {
  return syncRows(model, {
    snapshot: "_rows",
    patch: "_rows_patch",
    decode: (/** @type {any} */ payload) => Object.values((payload && payload.rows) || {}),
  });
}
