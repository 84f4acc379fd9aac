// @ts-check
// The statistics and the CSV export of the History panel, computed in the browser for speed with the formulas
// of batch_widgets/analytics.py (summary_stats, the frame's derived columns) and the bytes of
// BatchHistory.to_csv(). tests/widgets/test_history_parity.py runs both on generated histories and compares
// them number for number; change a formula here and there together.
import { ACTIVE_STATUSES, ENDED_AT_FIELDS, FRAME_COLUMNS, GROUP_ID_KEY, PARENT_KEY, STATUSES } from "./facts.js";

/**
 * One batch as the panel holds it (decoded from the kernel's columns; see js/panels/history.js decodeRows).
 * Times are Unix seconds or null; `t` holds every timestamp field of the batch by its API name.
 * @typedef {{id: string, desc: string, tags: string, status: string, endpoint: string, model: string,
 *   total: number, completed: number, failed: number, created: number, started: number | null,
 *   ended: number | null, t: Record<string, number | null>, cost: number | null, costSource: string,
 *   inputFile: string, outputFile: string, errorFile: string, tokens: (number | null)[] | null, meta: string,
 *   connection: string}} StatRow
 */

/**
 * The correctly rounded sum of the numbers (Python's math.fsum: Shewchuk's exact partial sums), so the total
 * is the same whatever the order of the rows.
 * @param {Iterable<number>} values
 */
export function fsum(values) {
  /** @type {number[]} */
  const partials = [];
  for (let x of values) {
    let i = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j];
      if (Math.abs(x) < Math.abs(y)) {
        const t = x; // no [x, y] = [y, x]: that allocates an array per addition
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  // Add the partials from the top, then correct a half-way rounding as math.fsum does.
  let n = partials.length;
  if (!n) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/**
 * The number as Python's repr() writes a float (pandas writes floats so in a CSV): the shortest digits that
 * read back to it, "3.0" for whole numbers, scientific notation below 1e-4 and from 1e16 ("1e-05").
 * @param {number} x
 */
export function pyFloat(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e");
  const exp = Number(expText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  return `${sign}${whole}.${digits.slice(exp + 1) || "0"}`;
}

/** The end time of a batch: the timestamp of its terminal status (facts.ENDED_AT_FIELDS), else null. */
export function endedAt(/** @type {string} */ status, /** @type {Record<string, number | null>} */ t) {
  const field = /** @type {Record<string, string>} */ (ENDED_AT_FIELDS)[status];
  return field ? (t[field] ?? null) : null;
}

/**
 * analytics.summary_stats over these rows: the same keys, the same formulas (see its docstring), the same
 * numbers. Rates and times are null when there is nothing to count.
 * @param {StatRow[]} rows
 */
export function summarize(rows) {
  /** @type {Record<string, number>} */
  const byStatus = {};
  for (const s of STATUSES) byStatus[s] = 0;
  /** @type {Record<string, number>} */
  const costSources = {};
  let total = 0;
  let succeeded = 0;
  let failed = 0;
  // Processing times in a typed array: its numeric sort (for the median) is native, no comparator call.
  const times = new Float64Array(rows.length);
  let n = 0;
  let timeSum = 0; // in row order, as the mean always summed
  let busyDone = 0;
  let busySeconds = 0;
  /** @type {number[]} */
  const costs = [];
  let pricedSucceeded = 0;
  for (const r of rows) {
    byStatus[r.status] = (byStatus[r.status] || 0) + 1;
    costSources[r.costSource] = (costSources[r.costSource] || 0) + 1;
    total += r.total;
    succeeded += r.completed;
    failed += r.failed;
    if (r.ended !== null && r.created !== null) {
      const seconds = r.ended - r.created;
      times[n++] = seconds;
      timeSum += seconds;
      if (seconds > 0) {
        busyDone += r.completed + r.failed;
        busySeconds += seconds;
      }
    }
    if (r.cost !== null) {
      costs.push(r.cost);
      pricedSucceeded += r.completed;
    }
  }
  const sorted = times.subarray(0, n).sort();
  const done = succeeded + failed;
  const totalCost = costs.length ? fsum(costs) : null;
  return {
    batches: rows.length,
    by_status: byStatus,
    active: ACTIVE_STATUSES.reduce((sum, s) => sum + (byStatus[s] || 0), 0),
    total_requests: total,
    completed_requests: succeeded,
    failed_requests: failed,
    success_rate: done ? succeeded / done : null,
    failure_rate: done ? failed / done : null,
    finished_batches: n,
    mean_processing_seconds: n ? timeSum / n : null,
    median_processing_seconds: !n ? null : n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    throughput_rps: busySeconds > 0 ? busyDone / busySeconds : null,
    priced_batches: costs.length,
    total_cost: totalCost,
    cost_per_batch: totalCost === null ? null : totalCost / costs.length,
    cost_per_request: totalCost !== null && pricedSucceeded ? totalCost / pricedSucceeded : null,
    cost_sources: costSources,
    cost_is_estimate: Boolean(costSources.estimate),
  };
}

/** A Unix time as pandas writes a UTC timestamp in a CSV ("2026-11-30 04:25:37+00:00"). @param {number | null} s */
function csvTime(s) {
  if (s === null || s === undefined) return null;
  return `${new Date(s * 1000).toISOString().slice(0, 19).replace("T", " ")}+00:00`;
}

/** b - a in seconds as pandas' float column (null when either is missing). */
function span(/** @type {number | null} */ a, /** @type {number | null} */ b) {
  return a == null || b == null ? null : b - a;
}

/** A text cell: defused when a spreadsheet would run it (as analytics.frame_for_export(csv=True)). @param {any} v */
function textCell(v) {
  if (v === null || v === undefined || v === "") return v;
  return /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
}

/** One CSV cell, as Python's csv writer (QUOTE_MINIMAL, "\n" ends lines) writes it. @param {any} v */
function csvCell(v) {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" ? String(v) : v;
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One row's values in FRAME_COLUMNS order (numbers formatted as pandas writes them).
 * @param {StatRow} r
 */
export function csvValues(r) {
  const t = r.t;
  const float = (/** @type {number | null} */ x) => (x === null ? null : pyFloat(x));
  const runEnd = t.finalizing_at ?? t.cancelling_at ?? r.ended;
  const done = r.completed + r.failed;
  /** @type {Record<string, string>} */
  let meta = {};
  try {
    meta = r.meta ? JSON.parse(r.meta) : {};
  } catch {
    meta = {};
  }
  const tokens = r.tokens || [null, null, null];
  return [
    textCell(r.id), textCell(r.status), textCell(r.endpoint), textCell(r.model), textCell(r.desc),
    textCell(r.tags),
    csvTime(t.created_at), csvTime(t.in_progress_at), csvTime(t.finalizing_at), csvTime(t.completed_at),
    csvTime(t.failed_at), csvTime(t.expired_at), csvTime(t.cancelling_at), csvTime(t.cancelled_at),
    csvTime(t.expires_at), csvTime(r.ended),
    float(span(t.created_at, t.in_progress_at)), float(span(t.in_progress_at, runEnd)),
    float(span(t.finalizing_at, t.completed_at)), float(span(t.created_at, r.ended)),
    r.total, r.completed, r.failed, done > 0 ? pyFloat(r.completed / done) : null,
    textCell(r.inputFile), textCell(r.outputFile), textCell(r.errorFile),
    tokens[0], tokens[1], tokens[2], float(r.cost), textCell(r.costSource),
    textCell(meta[GROUP_ID_KEY] ?? null), textCell(meta[PARENT_KEY] ?? null), textCell(r.meta),
    textCell(r.connection),
  ];
}

/**
 * The rows as BatchHistory.to_csv() writes them: the same columns, values and bytes.
 * @param {StatRow[]} rows
 */
export function toCSV(rows) {
  const lines = [FRAME_COLUMNS.join(",")];
  for (const r of rows) lines.push(csvValues(r).map(csvCell).join(","));
  return lines.join("\n") + "\n";
}
