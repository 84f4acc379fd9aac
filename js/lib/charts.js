// @ts-check
// Small SVG charts drawn by our own code (no chart library, no CDN): every chart works offline and
// follows the theme because colours come from CSS classes that use the --bw-* tokens.

const NS = "http://www.w3.org/2000/svg";

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}, text) {
  const node = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * An accessible root: role=img with a <title> saying what the chart shows in words.
 * @param {number} width @param {number} height @param {string} label @param {string} cls
 */
function root(width, height, label, cls) {
  const el = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": label,
    class: `bw-chart ${cls}`,
  });
  el.appendChild(svg("title", {}, label));
  return el;
}

/** @param {number} n */
const pct = (n) => `${(Math.round(n * 1000) / 10).toFixed(1)}%`;

/**
 * Donut of succeeded vs failed requests, the success rate in the middle.
 * @param {{success: number, failure: number, size?: number}} opts
 * @returns {SVGElement}
 */
export function donutChart({ success, failure, size = 140 }) {
  const total = success + failure;
  const rate = total > 0 ? success / total : 0;
  const label = total > 0
    ? `Success rate ${pct(rate)}: ${success} succeeded, ${failure} failed`
    : "No finished requests yet";
  const el = root(size, size, label, "bw-chart-donut");
  const r = size / 2 - 12;
  const c = 2 * Math.PI * r;
  const cx = size / 2;
  const ring = { cx, cy: cx, r, fill: "none", "stroke-width": 14 };
  el.appendChild(svg("circle", { ...ring, class: total > 0 ? "bw-chart-failure" : "bw-chart-empty" }));
  if (total > 0 && success > 0) {
    // One arc drawn with a dash: its length is the success share; it starts at 12 o'clock.
    el.appendChild(svg("circle", {
      ...ring,
      class: "bw-chart-success",
      "stroke-dasharray": `${(rate * c).toFixed(2)} ${c.toFixed(2)}`,
      transform: `rotate(-90 ${cx} ${cx})`,
    }));
  }
  el.appendChild(svg("text", { x: cx, y: cx, "text-anchor": "middle", "dominant-baseline": "central",
    class: "bw-chart-center" }, total > 0 ? pct(rate) : "–"));
  return el;
}

/**
 * Horizontal bars, one per item, value and share written at the end (status distribution).
 * @param {{label: string, value: number, cls?: string}[]} items
 * @param {{width?: number, title?: string}} [opts]
 * @returns {SVGElement}
 */
export function barChart(items, { width = 320, title = "Distribution" } = {}) {
  const rowH = 22;
  const labelW = 96;
  const valueW = 78;
  const total = items.reduce((sum, it) => sum + it.value, 0);
  const max = Math.max(1, ...items.map((it) => it.value));
  const height = Math.max(rowH, items.length * rowH);
  const words = items.map((it) => `${it.label} ${it.value}`).join(", ");
  const el = root(width, height, `${title}: ${words || "no data"}`, "bw-chart-bars");
  const barSpace = width - labelW - valueW;
  items.forEach((it, i) => {
    const y = i * rowH;
    el.appendChild(svg("text", { x: 0, y: y + rowH / 2, "dominant-baseline": "central", class: "bw-chart-label" },
      it.label));
    el.appendChild(svg("rect", { x: labelW, y: y + 4, width: barSpace, height: rowH - 8, rx: 3,
      class: "bw-chart-track" }));
    el.appendChild(svg("rect", { x: labelW, y: y + 4, width: ((it.value / max) * barSpace).toFixed(2),
      height: rowH - 8, rx: 3, class: `bw-chart-bar ${it.cls || ""}`.trim() }));
    const share = total > 0 ? ` (${pct(it.value / total)})` : "";
    el.appendChild(svg("text", { x: width, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "central",
      class: "bw-chart-value" }, `${it.value}${share}`));
  });
  return el;
}

/**
 * Vertical bars of processing time per batch with a dashed line at the average.
 * @param {{label: string, seconds: number}[]} items oldest first
 * @param {{average: number, format: (s: number) => string, width?: number, height?: number}} opts
 * @returns {SVGElement}
 */
export function timeBars(items, { average, format, width = 320, height = 150 }) {
  const top = 16;
  const bottom = 20;
  const plotH = height - top - bottom;
  const max = Math.max(1, average, ...items.map((it) => it.seconds));
  const label = items.length
    ? `Processing time of ${items.length} recent batches; average ${format(average)}`
    : "No finished batches yet";
  const el = root(width, height, label, "bw-chart-time");
  const slot = items.length ? width / items.length : width;
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  items.forEach((it, i) => {
    const h = (it.seconds / max) * plotH;
    const x = i * slot + (slot - barW) / 2;
    const bar = svg("rect", { x: x.toFixed(2), y: (top + plotH - h).toFixed(2), width: barW.toFixed(2),
      height: h.toFixed(2), rx: 2, class: "bw-chart-bar" });
    bar.appendChild(svg("title", {}, `${it.label}: ${format(it.seconds)}`));
    el.appendChild(bar);
  });
  el.appendChild(svg("line", { x1: 0, x2: width, y1: top + plotH, y2: top + plotH, class: "bw-chart-axis" }));
  if (items.length) {
    const y = (top + plotH - (average / max) * plotH).toFixed(2);
    el.appendChild(svg("line", { x1: 0, x2: width, y1: y, y2: y, class: "bw-chart-average",
      "stroke-dasharray": "4 3" }));
    // The label sits in the top margin, clear of the bars.
    el.appendChild(svg("text", { x: width, y: 11, "text-anchor": "end", class: "bw-chart-value" },
      `- - avg ${format(average)}`));
  }
  return el;
}

/**
 * Cost overview: total, per batch and per request as three figures, plus a bar per recent batch.
 * @param {{total: number, perBatch: number, perRequest: number, priced: number, batches: number,
 *   recent: {label: string, cost: number}[], format: (usd: number) => string, width?: number}} opts
 * @returns {SVGElement}
 */
export function costOverview({ total, perBatch, perRequest, priced, batches, recent, format, width = 320 }) {
  const figH = 44;
  const barsH = recent.length ? 60 : 0;
  const height = figH + barsH + 16;
  const label = priced > 0
    ? `Cost ${format(total)} in total, ${format(perBatch)} per batch, ${format(perRequest)} per request` +
      ` (${priced} of ${batches} batches priced)`
    : "Cost unknown: no batch has usage or a known price";
  const el = root(width, height, label, "bw-chart-cost");
  const figures = [["Total", total], ["Per batch", perBatch], ["Per request", perRequest]];
  figures.forEach(([name, value], i) => {
    const x = (i * width) / 3;
    el.appendChild(svg("text", { x, y: 14, class: "bw-chart-label" }, String(name)));
    el.appendChild(svg("text", { x, y: 36, class: "bw-chart-figure" },
      priced > 0 ? format(Number(value)) : "–"));
  });
  if (recent.length) {
    const max = Math.max(...recent.map((r) => r.cost), 1e-12);
    const slot = width / recent.length;
    const barW = Math.max(2, Math.min(36, slot * 0.7));
    recent.forEach((r, i) => {
      const h = (r.cost / max) * (barsH - 6);
      const bar = svg("rect", { x: (i * slot + (slot - barW) / 2).toFixed(2), y: (figH + barsH - h).toFixed(2),
        width: barW.toFixed(2), height: h.toFixed(2), rx: 2, class: "bw-chart-bar bw-chart-cost-bar" });
      bar.appendChild(svg("title", {}, `${r.label}: ${format(r.cost)}`));
      el.appendChild(bar);
    });
  }
  el.appendChild(svg("text", { x: 0, y: height - 2, class: "bw-chart-note" },
    `${priced} of ${batches} batches priced`));
  return el;
}
