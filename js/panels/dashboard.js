// @ts-check
// Placeholder until the real panel lands.
/** @param {any} model @param {HTMLElement} el */
export function renderDashboard(model, el) {
  const note = document.createElement("p");
  note.textContent = "This panel is not built yet.";
  el.append(note);
  return () => note.remove();
}
