// @ts-check
// Formatters shared by every panel. Timestamps are Unix seconds (as in the Batch API); durations are seconds.

const NUM = new Intl.NumberFormat("en-US");
const NUM1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

/** @param {number | null | undefined} n */
export function formatNumber(n) {
  return n === null || n === undefined || !Number.isFinite(n) ? "—" : NUM.format(n);
}

/** Compact counts: 950, 12.3K, 4.5M. @param {number | null | undefined} n */
export function formatCompact(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${NUM1.format(n / 1e9)}B`;
  if (abs >= 1e6) return `${NUM1.format(n / 1e6)}M`;
  if (abs >= 1e4) return `${NUM1.format(n / 1e3)}K`;
  return NUM.format(Math.round(n));
}

/**
 * "12s", "3m 05s", "1h 02m", "2d 03h". Negative or missing -> "—".
 * @param {number | null | undefined} seconds
 */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/**
 * Local date and time, "2026-11-29 15:04:05" (sortable, unambiguous). Missing -> "—".
 * @param {number | null | undefined} ts Unix seconds
 */
export function formatDateTime(ts) {
  if (ts === null || ts === undefined || !Number.isFinite(ts)) return "—";
  const d = new Date(ts * 1000);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** ISO-8601 UTC for tooltips and <time datetime>. @param {number | null | undefined} ts */
export function isoTime(ts) {
  return ts === null || ts === undefined || !Number.isFinite(ts) ? "" : new Date(ts * 1000).toISOString();
}

/**
 * "just now", "5m ago", "in 3h".
 * @param {number | null | undefined} ts Unix seconds
 * @param {number} [now] Unix seconds
 */
export function formatRelative(ts, now = Date.now() / 1000) {
  if (ts === null || ts === undefined || !Number.isFinite(ts)) return "—";
  const delta = now - ts;
  if (Math.abs(delta) < 5) return "just now";
  return delta > 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
}

/** @param {number | null | undefined} fraction 0..1 @param {number} [digits] */
export function formatPercent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** @param {number | null | undefined} n */
export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${NUM.format(Math.round(v))} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

const USD_SMALL = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 2 }); // never scientific notation
/** Below this a figure would need more than 8 decimals: shown as "< $0.00000001". */
const USD_FLOOR = 1e-8;

/**
 * US dollars, always in plain decimals: "$1,234.50", "$0.0123", "$0.00000031" (two significant digits for
 * amounts under a cent, so a per-request cost is never rounded to $0.00), "< $0.00000001" below that.
 * @param {number | null | undefined} usd
 */
export function formatCost(usd) {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0.00";
  const sign = usd < 0 ? "-" : "";
  const abs = Math.abs(usd);
  if (abs < USD_FLOOR) return "< $0.00000001"; // costs are never negative
  if (abs < 0.01) return `${sign}$${USD_SMALL.format(abs)}`;
  const digits = abs < 1 ? 4 : 2; // $0.0123, not $0.01, for small batches
  return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: digits })}`;
}

/** The amount with up to 12 decimals, for the tooltip of a rounded figure: "$0.000000312345". @param {number | null | undefined} usd */
export function exactCost(usd) {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "";
  return `$${usd.toLocaleString("en-US", { maximumFractionDigits: 12 })}`;
}

/** "12.5 req/s", "40 req/min", "30 req/h" for very slow batches. @param {number | null | undefined} perSecond */
export function formatRate(perSecond) {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond) || perSecond <= 0) return "—";
  if (perSecond >= 1) return `${NUM1.format(perSecond)} req/s`;
  if (perSecond * 60 >= 1) return `${NUM1.format(perSecond * 60)} req/min`;
  return `${NUM1.format(perSecond * 3600)} req/h`;
}

/** How messages name a batch: its description, else its id (Batch.label in Python). @param {{ id?: string, description?: string } | null | undefined} row */
export function batchLabel(row) {
  return (row && (row.description || row.id)) || "";
}

/** A batch named for a confirmation: “description” (id), or the id alone. @param {{ id?: string, description?: string } | null | undefined} row */
export function batchLabelWithId(row) {
  if (!row) return "";
  return row.description ? `“${row.description}” (${row.id})` : row.id || "";
}

/**
 * What a batch's request counts say, the same in every panel: "done / total" (done = succeeded + failed) and a
 * sentence for a tooltip or a screen reader.
 * @param {{ total?: number, completed?: number, failed?: number }} c
 */
export function requestCounts(c) {
  const total = c.total || 0;
  const succeeded = c.completed || 0;
  const failed = c.failed || 0;
  const done = succeeded + failed;
  return {
    text: `${formatNumber(done)} / ${formatNumber(total)}`,
    title: `${formatNumber(done)} of ${formatNumber(total)} requests done: ${formatNumber(succeeded)} succeeded, ` +
      `${formatNumber(failed)} failed`,
  };
}
