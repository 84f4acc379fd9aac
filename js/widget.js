// @ts-check
/// <reference types="@anywidget/types" />
// Entry of the one bundle every panel shares: the Python class sets `_view`, we render that panel.
import { renderActiveList } from "./panels/active_list.js";
import { renderDetails } from "./panels/details.js";
import { renderCreate } from "./panels/create.js";
import { renderHistory, historyRows } from "./panels/history.js";
import { renderDashboard } from "./panels/dashboard.js";
import { liveRows } from "./lib/rows.js";
import { hostIsDark } from "./lib/dom.js";

/** @type {Record<string, (model: any, el: HTMLElement) => (() => void)>} */
const PANELS = {
  list: renderActiveList,
  details: renderDetails,
  create: renderCreate,
  history: renderHistory,
  dashboard: renderDashboard,
};

/** @type {import("@anywidget/types").Render} */
function render({ model, el }) {
  const panel = PANELS[model.get("_view")];
  el.classList.add("bw-root");
  el.classList.toggle("bw-dark", hostIsDark(el)); // JupyterLab theme switches are followed by CSS alone
  if (!panel) {
    el.textContent = `batch_widgets: unknown view ${JSON.stringify(model.get("_view"))}`;
    return;
  }
  return panel(model, el);
}

/** @type {import("@anywidget/types").Initialize} */
function initialize({ model }) {
  // Follow the row patches from the start, even before (or between) views: a view drawn later reads them.
  /** @type {import("./lib/rows.js").SyncedRows[]} */
  const followed = [];
  if (model.get("_rows") !== undefined) followed.push(liveRows(model));
  if (model.get("_history_rows") !== undefined) followed.push(historyRows(model));
  return () => followed.forEach((rows) => rows.dispose());
}

export default { initialize, render };
