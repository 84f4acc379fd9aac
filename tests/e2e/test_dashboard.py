"""BatchDashboard in JupyterLab, as a user sees it (issue 5): live progress, details, cancel, download, themes."""

from __future__ import annotations

import json
import re
import time

from conftest import SCREENSHOTS
from labkit import FRESH_SERVER, append_and_run, luminance, open_notebook, output, printed_ids, run_all, set_theme
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import start_demo_batches

client = BatchClient()
quick = start_demo_batches(client, n_batches=2, requests_per_batch=40)  # done in seconds at the demo rate
slow = start_demo_batches(client, n_batches=1, requests_per_batch=5000,
                          metadata={"description": "Long evaluation run"})[0]  # still running when cancelled
print("IDS", quick[0].id, quick[1].id, slow.id)
""",
    "dashboard = BatchDashboard(client=client)\ndashboard",
]


def _row(dash, batch_id):
    return dash.locator(f"tr.bw-row[data-id='{batch_id}']")


def test_dashboard_live_details_download_cancel_themes(page, lab_server, artifacts):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_notebook(page, lab_server, "e2e_dashboard.ipynb", cells=CELLS)
    run_all(page)
    first, second, slow = printed_ids(page, 1)
    dash = output(page, 2).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    expect(dash.locator("tr.bw-row")).to_have_count(3, timeout=30_000)

    # Live: the quick batches reach Completed while no cell runs (the kernel is idle since run_all).
    t0 = time.monotonic()
    for batch_id in (first, second):
        expect(_row(dash, batch_id).locator(".bw-badge")).to_have_text("Completed", timeout=90_000)
    live_s = time.monotonic() - t0
    expect(dash.locator(".bw-messages")).to_contain_text(re.compile(r"finished|completed"))  # a notice says so
    slow_row = _row(dash, slow)
    expect(slow_row.locator(".bw-badge")).to_have_text("In progress", timeout=30_000)
    expect(dash.locator(".bw-stat, .bw-stats > *").first).to_be_visible()
    page.wait_for_timeout(1200)  # one more tick so the slow batch shows some progress in the picture
    dash.screenshot(path=SCREENSHOTS / "dashboard-light.png")

    # A row opens its details; results download as a JSONL file; back returns to the list.
    _row(dash, first).locator(".bw-row__name").click()
    details = dash.locator(".bw-details")
    expect(details).to_be_visible()
    expect(details.locator(".bw-details__title")).to_contain_text("Support ticket triage")
    expect(details).to_contain_text(first)
    details.screenshot(path=artifacts / "dashboard-details-light.png")
    with page.expect_download(timeout=30_000) as download_info:
        details.get_by_role("button", name="Download results").click()
    download = download_info.value
    lines = [json.loads(line) for line in open(download.path(), "rb").read().splitlines() if line.strip()]
    assert download.suggested_filename.endswith(".jsonl"), download.suggested_filename
    assert len(lines) >= 35 and all(line["custom_id"].startswith("b0-") for line in lines), lines[:2]
    assert all("response" in line for line in lines)
    details.get_by_role("button", name="Back to the batch list").click()
    expect(details).to_be_hidden()
    expect(dash.locator("tr.bw-row")).to_have_count(3)

    # The same with the keyboard only: focus a row, Enter opens it, the back button answers Enter.
    _row(dash, second).focus()
    page.keyboard.press("Enter")
    expect(details).to_be_visible()
    expect(details).to_contain_text(second)
    details.get_by_role("button", name="Back to the batch list").focus()
    page.keyboard.press("Enter")
    expect(details).to_be_hidden()

    # Cancel the running batch from the list, through the confirmation dialog.
    slow_row.get_by_role("button", name=f"Cancel batch {slow}").click()
    dialog = dash.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(slow)
    dialog.screenshot(path=artifacts / "dashboard-cancel-dialog.png")
    dialog.get_by_role("button", name="Cancel batch").click()
    expect(dialog).to_be_hidden()
    expect(slow_row.locator(".bw-badge")).to_have_text("Cancelled", timeout=60_000)
    out = append_and_run(page, f"print('STATUS', client.retrieve_batch({slow!r}).status)")
    expect(out).to_contain_text("STATUS cancelled", timeout=30_000)  # the kernel agrees

    # Themes: the widget follows JupyterLab's light and dark themes.
    light_text = luminance(page, dash)
    try:
        set_theme(page, "JupyterLab Dark")
        expect(dash).to_be_visible()
        dark_text = luminance(page, dash)
        assert dark_text > 0.6 > light_text, (light_text, dark_text)
        dash.screenshot(path=SCREENSHOTS / "dashboard-dark.png")
        for tab, panel in (("create", ".bw-create"), ("history", ".bw-history")):  # the other panels, dark
            dash.locator(f"[role=tab][data-tab={tab}]").click()
            expect(dash.locator(panel)).to_be_visible()
            assert luminance(page, dash.locator(panel)) > 0.6, tab
            dash.screenshot(path=artifacts / f"dashboard-dark-{tab}.png")
        dash.locator("[role=tab][data-tab=active]").click()
    finally:
        set_theme(page, "JupyterLab Light")  # the theme is a user setting shared by the whole session
    print(f"\nquick batches completed live in {live_s:.1f}s")
    assert not page.external_requests, page.external_requests
    assert not [e for e in page.console_errors if "bw" in e or "batch" in e.lower()], page.console_errors
