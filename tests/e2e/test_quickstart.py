"""The newcomer path (issue 7): `make demo` opens notebooks/01_quickstart.ipynb; Run All gives a live dashboard in
which the quickstart's batch appears and completes, with no key and no internet."""

from __future__ import annotations

from conftest import SCREENSHOTS
from labkit import open_notebook, run_all
from playwright.sync_api import expect


def test_quickstart_notebook_runs_and_its_batch_completes_in_the_dashboard(page, lab_server):
    open_notebook(page, lab_server, "01_quickstart.ipynb")
    run_all(page, timeout=120_000)
    dash = page.locator(".bw-dashboard")
    expect(dash).to_have_count(1)
    # The mode is visible: a plain badge in the header, and the notebook says once why answers are simulated.
    expect(dash.locator(".bw-header .bw-connection__badge")).to_have_text("Local simulated server")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dash.locator(".bw-header").screenshot(path=SCREENSHOTS / "header-local-badge.png")
    notes = page.locator("[data-mime-type='application/vnd.jupyter.stderr']", has_text="LocalServerWarning")
    expect(notes).to_have_count(1)
    expect(notes).to_contain_text("Its answers and costs are simulated")
    row = dash.locator("tr.bw-row", has_text="Quickstart demo")
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".bw-badge")).to_have_text("Completed", timeout=60_000)
    expect(row.locator(".bw-row__counts")).to_contain_text("/ 50")
    expect(page.locator(".jp-Notebook")).to_contain_text("completed 50")  # the checked cell's output
    errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not [e for e in errors if "Traceback" in e or "Error" in e], errors
    assert not page.external_requests, page.external_requests
