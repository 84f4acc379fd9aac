// @ts-check
// The dashboard shell: a header, tabs (Active, Create, History & Analytics) and one message area for all
// of them. The Active tab shows the list, or one batch's details when `_detail_id` is set (back clears it).
// Tab panels are mounted the first time they are shown and kept, so a half-filled form survives a tab switch.
import { Scope, h, isActiveStatus } from "../lib/dom.js";
import { connectionBadge, mountMessages } from "../lib/panel.js";
import { liveRows } from "../lib/rows.js";
import { renderActiveList } from "./active_list.js";
import { renderCreate } from "./create.js";
import { renderDetails } from "./details.js";
import { renderHistory } from "./history.js";

const TABS = [
  { key: "active", label: "Active" },
  { key: "create", label: "Create" },
  { key: "history", label: "History & Analytics" },
];

let uid = 0;

/**
 * @param {any} model
 * @param {HTMLElement} el
 */
export function renderDashboard(model, el) {
  const scope = new Scope();
  const id = `bw-dash-${++uid}`;
  const root = h("div", { class: "bw-dashboard" });
  el.append(root);

  const count = h("span", { class: "bw-tab__count", "aria-label": "running" });
  const tabs = TABS.map((t) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        class: "bw-tab",
        id: `${id}-tab-${t.key}`,
        "aria-controls": `${id}-panel-${t.key}`,
        "data-tab": t.key,
      },
      [t.label, t.key === "active" ? count : null],
    ),
  );
  const tablist = h("div", { class: "bw-tabs", role: "tablist", "aria-label": "Batch dashboard" }, tabs);
  const header = h("header", { class: "bw-header" }, [
    h("div", { class: "bw-brand" }, [
      h("span", { class: "bw-brand__mark", "aria-hidden": "true" }),
      h("span", { class: "bw-brand__name", text: "Batches" }),
      connectionBadge(model, scope),
    ]),
    tablist,
  ]);
  const messages = h("div", { class: "bw-messages" });
  /** @type {Record<string, HTMLElement>} */
  const panels = {};
  for (const t of TABS) {
    panels[t.key] = h("div", {
      role: "tabpanel",
      class: "bw-tabpanel",
      id: `${id}-panel-${t.key}`,
      "aria-labelledby": `${id}-tab-${t.key}`,
      hidden: true,
    });
  }
  root.append(header, messages, panels.active, panels.create, panels.history);
  const { live } = mountMessages(model, messages, scope);

  // Active tab: the list and the details view, one visible at a time.
  const listHost = h("div", {});
  const detailHost = h("div", { hidden: true });
  panels.active.append(listHost, detailHost);
  /** @type {Record<string, boolean>} */
  const mounted = {};

  /** @param {string} key */
  function mount(key) {
    if (mounted[key]) return;
    mounted[key] = true;
    if (key === "active") {
      scope.add(
        renderActiveList(model, listHost, {
          embedded: true,
          live,
          onOpen: (batchId) => {
            model.set("_detail_id", batchId);
            model.save_changes();
          },
          onCreate: () => select("create", true),
        }),
      );
      scope.add(renderDetails(model, detailHost, { embedded: true, live, onBack: back, onShowJob: showJob }));
    } else if (key === "create") {
      scope.add(renderCreate(model, panels.create));
    } else if (key === "history") {
      scope.add(renderHistory(model, panels.history));
    }
  }

  let lastDetail = model.get("_detail_id") || ""; // no focus move on the first render (it would leave the cell)
  function back() {
    model.set("_detail_id", "");
    model.save_changes();
  }

  /** From a batch's details to its job's row in the list, expanded. @param {string} jobId */
  function showJob(jobId) {
    back();
    listHost.hidden = false;
    detailHost.hidden = true;
    listHost.dispatchEvent(new CustomEvent("bw-show-job", { detail: jobId }));
  }

  function showDetail() {
    const detailId = model.get("_detail_id") || "";
    detailHost.hidden = !detailId;
    listHost.hidden = Boolean(detailId);
    // Move focus with the view so keyboard users are not left on a hidden element.
    if (detailId && !lastDetail) {
      const target = /** @type {HTMLElement | null} */ (detailHost.querySelector(".bw-details__title"));
      if (target) {
        target.tabIndex = -1;
        target.focus();
      }
    } else if (!detailId && lastDetail) {
      const rows = /** @type {NodeListOf<HTMLElement>} */ (listHost.querySelectorAll("tr[data-id]"));
      const row = [...rows].find((r) => r.dataset.id === lastDetail);
      if (row) row.focus();
    }
    lastDetail = detailId;
  }

  /** @param {string} key @param {boolean} [save] */
  function select(key, save) {
    if (save) {
      model.set("_tab", key);
      model.save_changes();
    }
    for (const t of tabs) {
      const on = t.dataset.tab === key;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      t.classList.toggle("bw-tab--on", on);
    }
    for (const [k, panel] of Object.entries(panels)) panel.hidden = k !== key;
    mount(key);
  }

  function updateCount() {
    const rows = [...liveRows(model).get().values()];
    const n = rows.filter((r) => isActiveStatus(r.status)).length;
    count.textContent = n ? String(n) : "";
    count.hidden = !n;
  }

  scope.on(tablist, "click", (ev) => {
    const tab = /** @type {HTMLElement} */ (ev.target).closest("[role=tab]");
    if (tab instanceof HTMLElement && tab.dataset.tab) select(tab.dataset.tab, true);
  });
  scope.on(tablist, "keydown", (/** @type {KeyboardEvent} */ ev) => {
    const i = tabs.findIndex((t) => t === document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
    else if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = tabs.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    tabs[j].focus();
    select(/** @type {string} */ (tabs[j].dataset.tab), true);
  });
  scope.onModel(model, "change:_tab", () => select(model.get("_tab") || "active"));
  scope.onModel(model, "change:_detail_id", showDetail);
  scope.add(liveRows(model).subscribe(updateCount));
  select(model.get("_tab") || "active");
  showDetail();
  updateCount();
  scope.add(() => root.remove());
  return () => scope.dispose();
}
