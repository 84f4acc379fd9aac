"""What a user does in JupyterLab 4, as Playwright steps (sync API)."""

from __future__ import annotations

import re
import shutil
import uuid

from playwright.sync_api import Page, expect

# Every host but loopback fails DNS inside the browser: a green test or benchmark cannot depend on a CDN.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def write_notebook(path, cells: list[str]) -> None:
    """A notebook of code cells (a string starting with "# md" becomes a markdown cell)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(c.removeprefix("# md").strip())
        if c.startswith("# md")
        else nbformat.v4.new_code_cell(c.strip())
        for c in cells
    ]
    nbformat.write(nb, str(path))


def open_notebook(page: Page, lab, name: str, cells: list[str] | None = None, app: str = "lab") -> str:
    """Open a private copy of notebook ``name`` (the same path would share one kernel between tests), or a new
    notebook made of ``cells``; ``app="notebook"`` opens it in Notebook 7 (same panel, toolbar and menus)."""
    copy = f"{name.removesuffix('.ipynb')}-{uuid.uuid4().hex[:6]}.ipynb"
    if cells is not None:
        write_notebook(lab.root / copy, cells)
    else:
        shutil.copy(lab.root / name, lab.root / copy)
    path = f"/lab/tree/{copy}?token={lab.token}&reset" if app == "lab" else f"/notebooks/{copy}?token={lab.token}"
    page.goto(lab.url + path)
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    wait_kernel_idle(page)
    return copy


def wait_kernel_idle(page: Page, timeout: float = 60_000) -> None:
    # The indicator reads "idle" before a kernel exists ("No Kernel"); running then asks to pick a kernel.
    toolbar = page.locator(".jp-NotebookPanel:visible .jp-NotebookPanel-toolbar")
    label = toolbar.locator(".jp-Toolbar-kernelName .jp-ToolbarButtonComponent-label")
    expect(label).to_have_text(re.compile(r"^(?!No Kernel$).+"), timeout=timeout)
    expect(toolbar.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle", timeout=timeout)


def run_all(page: Page, timeout: float = 90_000) -> None:
    """Run > Run All Cells in a fresh kernel, then wait until the last code cell ran and the kernel is idle.

    A fresh kernel numbers the cells 1..N, so the last prompt reads [N]: only once this run reached it (a stored
    output's prompt, as in the nbval reference cells, has another number)."""
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    n = prompts.count()
    page.locator("[role=menubar] [role=menuitem]", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    expect(prompts.last).to_have_text(f"[{n}]:", timeout=timeout)
    wait_kernel_idle(page, timeout)


def output(page: Page, cell_index: int):
    """The output area of code cell ``cell_index`` (counting code cells only)."""
    return page.locator(".jp-Notebook .jp-CodeCell").nth(cell_index).locator(".jp-Cell-outputArea")


def run_cell(page: Page, cell_index: int) -> None:
    """Re-run code cell ``cell_index`` in place (Ctrl+Enter in its editor)."""
    page.locator(".jp-Notebook .jp-CodeCell").nth(cell_index).locator(".cm-content").click()
    page.keyboard.press("Control+Enter")


def append_and_run(page: Page, code: str):
    """Type ``code`` into a new cell at the end and run it in place (how a user asks the kernel a question);
    returns that cell's output area."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    index = cells.count()
    page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputPrompt").click()  # select the last cell
    page.keyboard.press("Escape")  # command mode
    page.keyboard.press("b")  # new cell below
    page.keyboard.press("Enter")  # edit mode
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")  # run in place: no extra empty cell
    return output(page, index)


def set_theme(page: Page, theme: str) -> None:
    """Settings > Theme > ``theme`` (e.g. "JupyterLab Dark"), then wait for Lab to apply it."""
    page.locator("[role=menubar] [role=menuitem]", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Theme", exact=True).hover()
    page.locator(".lm-Menu-itemLabel").get_by_text(theme, exact=True).click()
    light = "true" if "Light" in theme else "false"
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", light, timeout=30_000)
    page.wait_for_timeout(500)  # let the new stylesheet paint before a screenshot


def screenshot_notebook(page: Page, path, width: int = 1360) -> None:
    """The whole notebook in one image: grow the viewport to the content (the panel scrolls, not the page)."""
    outer = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
    height = page.evaluate(f"document.querySelector({outer!r}).scrollHeight")
    page.set_viewport_size({"width": width, "height": min(height + 200, 6000)})
    page.evaluate(f"document.querySelector({outer!r}).scrollTop = 0")
    page.wait_for_timeout(300)
    page.screenshot(path=path)


# First lines of every test notebook: a fresh data dir, so this kernel's embedded server starts empty and no
# other test's batches show up in its dashboard.
FRESH_SERVER = """
import os, tempfile
os.environ["BATCH_WIDGETS_HOME"] = tempfile.mkdtemp(prefix="bw-e2e-")
"""


def printed_ids(page: Page, cell_index: int, marker: str = "IDS") -> list[str]:
    """Batch ids a cell printed as ``IDS id1 id2 ...``."""
    out = output(page, cell_index)
    expect(out).to_contain_text(marker, timeout=60_000)
    line = next(text for text in out.inner_text().splitlines() if text.startswith(marker))
    return line.split()[1:]


def luminance(page: Page, locator, prop: str = "color") -> float:
    """Relative luminance (0 dark .. 1 light) of a computed CSS colour of the element."""
    rgb = locator.evaluate(f"el => getComputedStyle(el)[{prop!r}]")
    parts = [float(x) for x in re.findall(r"[\d.]+", rgb)[:3]]
    return (0.2126 * parts[0] + 0.7152 * parts[1] + 0.0722 * parts[2]) / 255
