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
  if (!items.length) el.appendChild(svg("text", { x: 0, y: rowH / 2, "dominant-baseline": "central",
    class: "bw-chart-note" }, "No batches to show"));
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

/** Text cut to `max` characters with an ellipsis. @param {string} text @param {number} max */
function cut(text, max) {
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}

/**
 * Vertical bars in a plot box, with what a reader needs to tell them apart: the scale (its maximum, written at
 * the top of the y axis, and 0), each bar's value above it and its name under it when there is room, and the
 * name and value in the bar's <title> (a hover tooltip) always.
 * @param {SVGElement} el
 * @param {{label: string, value: number}[]} items
 * @param {{x: number, y: number, width: number, height: number, max: number, format: (v: number) => string,
 *   cls: string}} box
 * @returns {{ yOf: (v: number) => number, plotX: number }}
 */
function columns(el, items, { x, y, width, height, max, format, cls }) {
  const gutter = Math.max(24, format(max).length * 6 + 10); // room for the y scale labels
  const plotX = x + gutter;
  const plotW = width - gutter;
  const nameH = 14;
  const slot = items.length ? plotW / items.length : plotW;
  const named = items.length > 0 && slot >= 44; // room for a short name under each bar
  const plotH = height - (named ? nameH : 0);
  const base = y + plotH;
  const yOf = (/** @type {number} */ v) => base - (v / max) * (plotH - 12); // 12px headroom for value labels
  el.appendChild(svg("line", { x1: plotX, x2: plotX, y1: y, y2: base, class: "bw-chart-axis" }));
  el.appendChild(svg("line", { x1: plotX, x2: x + width, y1: base, y2: base, class: "bw-chart-axis" }));
  el.appendChild(svg("line", { x1: plotX - 3, x2: x + width, y1: yOf(max), y2: yOf(max), class: "bw-chart-grid" }));
  el.appendChild(svg("text", { x: plotX - 5, y: yOf(max), "text-anchor": "end", "dominant-baseline": "central",
    class: "bw-chart-tick" }, format(max)));
  el.appendChild(svg("text", { x: plotX - 5, y: base, "text-anchor": "end", "dominant-baseline": "central",
    class: "bw-chart-tick" }, "0"));
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  // Values over the bars for all of them or none (a few labelled bars would read as the only ones that matter).
  const longest = Math.max(0, ...items.map((it) => format(it.value).length));
  const valued = slot >= longest * 6 + 4;
  items.forEach((it, i) => {
    const cx = plotX + i * slot + slot / 2;
    const top = yOf(it.value);
    const bar = svg("rect", { x: (cx - barW / 2).toFixed(2), y: top.toFixed(2), width: barW.toFixed(2),
      height: Math.max(0, base - top).toFixed(2), rx: 2, class: `bw-chart-bar ${cls}`.trim() });
    bar.appendChild(svg("title", {}, `${it.label}: ${format(it.value)}`));
    el.appendChild(bar);
    if (valued) {
      el.appendChild(svg("text", { x: cx, y: top - 3, "text-anchor": "middle", class: "bw-chart-tick" },
        format(it.value)));
    }
    if (named) {
      const short = cut(it.label, Math.floor(slot / 6.5));
      const name = svg("text", { x: cx, y: base + 11, "text-anchor": "middle", class: "bw-chart-tick" }, short);
      if (short !== it.label) name.appendChild(svg("title", {}, it.label));
      el.appendChild(name);
    }
  });
  return { yOf, plotX };
}

/** Vertical columns fit when every bar can carry its value above it and its name under it. */
function columnsFit(/** @type {{label: string, value: number}[]} */ items, /** @type {number} */ width,
  /** @type {(v: number) => string} */ format, /** @type {number} */ max) {
  const gutter = Math.max(24, format(max).length * 6 + 10);
  const slot = items.length ? (width - gutter) / items.length : width;
  const longest = Math.max(0, ...items.map((it) => format(it.value).length));
  return slot >= 44 && slot >= longest * 6 + 4;
}

const ROW_H = 18;

/**
 * Too many bars for columns: fold them into rows, one per item, name on the left (cut, whole in its title),
 * bar in the middle, value on the right, so every bar is named and valued at a glance.
 * @param {SVGElement} el
 * @param {{label: string, value: number}[]} items
 * @param {{y: number, width: number, max: number, format: (v: number) => string, cls: string}} box
 * @returns {{ xOf: (v: number) => number, top: number, bottom: number }}
 */
function rows(el, items, { y, width, max, format, cls }) {
  const longestName = Math.max(4, ...items.map((it) => it.label.length));
  const labelW = Math.min(Math.floor(width * 0.4), longestName * 6.2 + 8);
  const valueW = Math.max(...items.map((it) => format(it.value).length)) * 6.4 + 8;
  const barSpace = Math.max(10, width - labelW - valueW);
  const xOf = (/** @type {number} */ v) => labelW + (v / max) * barSpace;
  items.forEach((it, i) => {
    const top = y + i * ROW_H;
    const short = cut(it.label, Math.floor((labelW - 6) / 6.2));
    const name = svg("text", { x: 0, y: top + ROW_H / 2, "dominant-baseline": "central", class: "bw-chart-label" }, short);
    if (short !== it.label) name.appendChild(svg("title", {}, it.label));
    el.appendChild(name);
    el.appendChild(svg("rect", { x: labelW, y: top + 4, width: barSpace, height: ROW_H - 8, rx: 2,
      class: "bw-chart-track" }));
    const bar = svg("rect", { x: labelW, y: top + 4, width: Math.max(0, xOf(it.value) - labelW).toFixed(2),
      height: ROW_H - 8, rx: 2, class: `bw-chart-bar ${cls}`.trim() });
    bar.appendChild(svg("title", {}, `${it.label}: ${format(it.value)}`));
    el.appendChild(bar);
    el.appendChild(svg("text", { x: width, y: top + ROW_H / 2, "text-anchor": "end", "dominant-baseline": "central",
      class: "bw-chart-tick" }, format(it.value)));
  });
  return { xOf, top: y, bottom: y + items.length * ROW_H };
}

/**
 * Bars of processing time per batch (oldest first) with a dashed line at the average: columns when each can be
 * named and valued, else one row per batch.
 * @param {{label: string, seconds: number}[]} items oldest first
 * @param {{average: number, format: (s: number) => string, width?: number, height?: number}} opts
 * @returns {SVGElement}
 */
export function timeBars(items, { average, format, width = 320, height = 150 }) {
  const top = 16;
  const max = Math.max(1, average, ...items.map((it) => it.seconds));
  const label = items.length
    ? `Processing time of ${items.length} recent batches, oldest first; average ${format(average)}`
    : "No finished batches yet";
  if (!items.length) {
    // Nothing to plot: one line of text, not an empty box as tall as a chart.
    const empty = root(width, 24, label, "bw-chart-time");
    empty.appendChild(svg("text", { x: 0, y: 12, "dominant-baseline": "central", class: "bw-chart-note" },
      "No completed batch to show"));
    return empty;
  }
  const values = items.map((it) => ({ label: it.label, value: it.seconds }));
  if (!columnsFit(values, width, format, max)) {
    const el = root(width, top + items.length * ROW_H + 2, label, "bw-chart-time bw-chart--rows");
    const { xOf, top: y0, bottom } = rows(el, values, { y: top, width, max, format, cls: "" });
    const x = xOf(average).toFixed(2);
    el.appendChild(svg("line", { x1: x, x2: x, y1: y0 - 2, y2: bottom, class: "bw-chart-average",
      "stroke-dasharray": "4 3" }));
    el.appendChild(svg("text", { x: width, y: 10, "text-anchor": "end", class: "bw-chart-value" },
      `- - average ${format(average)}`));
    return el;
  }
  const el = root(width, height, label, "bw-chart-time");
  const { yOf, plotX } = columns(el, values, { x: 0, y: top, width, height: height - top, max, format, cls: "" });
  const y = yOf(average).toFixed(2);
  el.appendChild(svg("line", { x1: plotX, x2: width, y1: y, y2: y, class: "bw-chart-average",
    "stroke-dasharray": "4 3" }));
  // The label sits in the top margin, clear of the bars.
  el.appendChild(svg("text", { x: width, y: 10, "text-anchor": "end", class: "bw-chart-value" },
    `- - average ${format(average)}`));
  return el;
}

/**
 * Cost overview: total, per batch and per request as three figures, plus a bar per recent batch.
 * @param {{total: number, perBatch: number, perRequest: number, priced: number, batches: number,
 *   recent: {label: string, cost: number}[], format: (usd: number) => string, width?: number}} opts
 * @returns {SVGElement}
 */
export function costOverview({ total, perBatch, perRequest, priced, batches, recent, format, width = 320 }) {
  const figures = [["Total", total], ["Per batch", perBatch], ["Per request", perRequest]];
  // Three across when each gets ~110px (a figure such as "$0.00000031" needs that), else one per line.
  const across = width / 3 >= 110;
  const figH = across ? 44 : 3 * 20 + 4;
  const bars = recent.map((r) => ({ label: r.label, value: r.cost }));
  const maxCost = Math.max(...recent.map((r) => r.cost), 1e-12);
  const fold = recent.length > 0 && !columnsFit(bars, width, format, maxCost);
  const barsH = !recent.length ? 0 : fold ? recent.length * ROW_H + 8 : 84;
  const note = `${priced} of ${batches} batches priced`;
  const noteMore = recent.length ? `the last ${recent.length}, oldest first` : "";
  const noteLines = noteMore && (note.length + noteMore.length + 2) * 6.2 > width ? [note, noteMore]
    : [noteMore ? `${note}; ${noteMore}` : note];
  const height = figH + barsH + 4 + 14 * noteLines.length;
  const label = priced > 0
    ? `Cost ${format(total)} in total, ${format(perBatch)} per batch, ${format(perRequest)} per request` +
      ` (${priced} of ${batches} batches priced)`
    : "Cost unknown: no batch has usage or a known price";
  const el = root(width, height, label, "bw-chart-cost");
  figures.forEach(([name, value], i) => {
    const text = priced > 0 ? format(Number(value)) : "–";
    if (across) {
      const x = (i * width) / 3;
      el.appendChild(svg("text", { x, y: 14, class: "bw-chart-label" }, String(name)));
      el.appendChild(svg("text", { x, y: 36, class: "bw-chart-figure" }, text));
    } else {
      const y = 14 + i * 20;
      el.appendChild(svg("text", { x: 0, y, class: "bw-chart-label" }, String(name)));
      el.appendChild(svg("text", { x: width, y, "text-anchor": "end", class: "bw-chart-figure bw-chart-figure--sm" },
        text));
    }
  });
  if (fold) rows(el, bars, { y: figH + 6, width, max: maxCost, format, cls: "bw-chart-cost-bar" });
  else if (recent.length) {
    columns(el, bars, { x: 0, y: figH + 6, width, height: barsH - 6, max: maxCost, format, cls: "bw-chart-cost-bar" });
  }
  noteLines.forEach((line, i) => el.appendChild(svg("text", { x: 0, y: height - 2 - 14 * (noteLines.length - 1 - i),
    class: "bw-chart-note" }, line)));
  return el;
}
