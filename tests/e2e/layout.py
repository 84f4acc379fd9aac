"""Geometry checks for any host (Voila, Notebook 7, marimo): no control clipped or overlapping, no number cut.

Run in the page on the widget's own element, so it works inside a shadow root (marimo) as well as in the DOM.
"""

from __future__ import annotations

# Text that may end in an ellipsis (its title holds the whole of it): names, ids, tags. Never a number.
ELLIPSIS_OK = (
    ".bw-row__name, .bw-row__sub, .bw-history__desc, .bw-history__id, .bw-history__tags, .bw-tags .bw-chip, "
    ".bw-sr-only, .bw-history__name"
)

CHECK_JS = """
([root, ellipsisOk]) => {
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const name = (el) => {
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const label = el.getAttribute("aria-label") ? `[${el.getAttribute("aria-label")}]` : "";
    return `${el.tagName.toLowerCase()}${cls}${label} "${(el.textContent || el.value || "").trim().slice(0, 40)}"`;
  };
  const clips = (cs) => cs.overflowX !== "visible" || cs.overflowY !== "visible";
  const controls = [...root.querySelectorAll("button, input, select, textarea, a[href], [role=tab]")]
    .filter((el) => shown(el) && !el.closest(".bw-sr-only") && el.type !== "file");
  const rootBox = root.getBoundingClientRect();
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    const outside = (box) =>
      r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
    if (outside(rootBox)) problems.push(`outside the widget: ${name(el)}`);
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      if (clips(getComputedStyle(a)) && outside(a.getBoundingClientRect())) {
        problems.push(`clipped: ${name(el)} by ${name(a)}`);
        break;
      }
    }
  }
  // A modal dialog covers the panel on purpose: then only its own controls must not overlap.
  const overlay = [...root.querySelectorAll(".bw-overlay")].find(shown);
  const top = overlay ? controls.filter((el) => overlay.contains(el)) : controls;
  for (let i = 0; i < top.length; i++) {
    for (let j = i + 1; j < top.length; j++) {
      const [a, b] = [top[i], top[j]];
      if (a.contains(b) || b.contains(a)) continue;
      const [p, q] = [a.getBoundingClientRect(), b.getBoundingClientRect()];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 1 && h > 1) problems.push(`overlap: ${name(a)} and ${name(b)}`);
    }
  }
  // Anything cut: a box whose content is wider than it (an ellipsis, a hidden overflow, a table that scrolls).
  for (const el of root.querySelectorAll("*")) {
    if (!shown(el) || el.matches(ellipsisOk) || el.closest(".bw-sr-only")) continue;
    const cs = getComputedStyle(el);
    if (el instanceof SVGElement || !(clips(cs) || cs.textOverflow === "ellipsis")) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`cut (${el.scrollWidth} > ${el.clientWidth}px): ${name(el)}`);
    }
  }
  // Chart labels (SVG text does not wrap or clip by itself): inside their chart.
  for (const chart of root.querySelectorAll("svg")) {
    if (!shown(chart)) continue;
    const box = chart.getBoundingClientRect();
    for (const t of chart.querySelectorAll("text")) {
      const r = t.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) {
        problems.push(`chart text out of its chart: "${t.textContent}"`);
      }
    }
  }
  if (rootBox.width > window.innerWidth + 1) problems.push(`widget wider than the page: ${rootBox.width}px`);
  return problems;
}
"""


def layout_problems(widget) -> list[str]:
    """Problems of the laid-out widget under the Playwright locator ``widget`` (empty when all is well)."""
    return widget.evaluate(f"(root) => ({CHECK_JS})([root, {ELLIPSIS_OK!r}])")
