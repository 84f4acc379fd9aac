"""notebooks/marimo_dashboard.py under `marimo run` (issue 18): the widget inside marimo's shadow DOM, driven only
through its own controls (app mode runs no user code): live progress without a re-run, a row opens its details,
a results download, cancel, create from a dropped file, history filters, and the layout checks at marimo's width.
"""

from __future__ import annotations

import base64
import json
import re
import time

from conftest import SCREENSHOTS
from layout import layout_problems
from playwright.sync_api import expect
from test_create import DROP

from batch_widgets.demo import demo_requests, to_jsonl
from batch_widgets.server.storage import Storage


def _status(data_dir, batch_id: str) -> str:
    storage = Storage(data_dir)  # the storage the app's embedded server writes: what the "kernel" knows
    try:
        return storage.batch_status(batch_id) or ""
    finally:
        storage.close()


def test_marimo_dashboard_live_details_download_cancel_create_history(page, marimo_server):
    page.set_viewport_size({"width": 1000, "height": 1000})  # marimo's medium app width (~740 px for the cell)
    page.goto(marimo_server.url)
    dash = page.locator(".bw-dashboard")  # Playwright's CSS locators pierce the shadow root
    expect(dash).to_be_visible(timeout=90_000)
    rows = dash.locator("tr.bw-row")
    expect(rows).to_have_count(3, timeout=30_000)
    slow = dash.locator("tr.bw-row", has_text="Long evaluation run")
    slow_id = slow.get_attribute("data-id")

    # Live: the quick batches complete and the slow one counts up while nothing is re-run.
    counts = slow.locator(".bw-row__counts")
    expect(dash.locator(".bw-badge", has_text="Completed")).to_have_count(2, timeout=90_000)
    before = counts.inner_text()
    expect(counts).not_to_have_text(before, timeout=30_000)
    assert not layout_problems(dash), layout_problems(dash)
    # The notebook's Altair chart (the next cell): drawn by marimo's bundled Vega, with no network.
    expect(page.locator("svg", has_text="Batches by status")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(800)
    dash.screenshot(path=SCREENSHOTS / "marimo-dashboard.png")

    # A row opens its details; the results download as JSONL (a custom message answered with bytes).
    done = dash.locator("tr.bw-row", has_text="Support ticket triage")
    done.locator(".bw-row__name").click()
    details = dash.locator(".bw-details")
    expect(details).to_be_visible()
    expect(details.locator(".bw-details__title")).to_have_text("Support ticket triage")
    with page.expect_download(timeout=30_000) as info:
        details.get_by_role("button", name="Download results").click()
    lines = [json.loads(x) for x in open(info.value.path(), "rb").read().splitlines() if x.strip()]
    assert 30 <= len(lines) <= 40 and all(line["custom_id"].startswith("b0-") for line in lines), lines[:1]
    details.get_by_role("button", name="Back to the batch list").click()
    expect(details).to_be_hidden()

    # Cancel the running batch through the dialog; the server agrees.
    slow.get_by_role("button", name=f"Cancel batch {slow_id}").click()
    dialog = dash.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Cancel batch").click()
    expect(slow.locator(".bw-badge")).to_have_text(re.compile("Cancell(ing|ed)"), timeout=60_000)
    deadline = time.monotonic() + 30
    while _status(marimo_server.data, slow_id) not in ("cancelling", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _status(marimo_server.data, slow_id) in ("cancelling", "cancelled")

    # Create from a dropped file: chunks travel as binary buffers over marimo's model channel.
    dash.locator("[role=tab][data-tab=create]").click()
    create = dash.locator(".bw-create")
    valid = to_jsonl(demo_requests(30, seed=11))
    create.locator(".bw-create__drop").evaluate(DROP, ["marimo.jsonl", base64.b64encode(valid).decode()])
    expect(create.locator(".bw-create__file")).to_contain_text("marimo.jsonl", timeout=15_000)
    create.get_by_label("Description").fill("Dropped in marimo")
    create.get_by_role("button", name="Create batch").click()
    expect(details).to_be_visible(timeout=30_000)
    expect(details.locator(".bw-details__title")).to_have_text("Dropped in marimo")
    new_id = details.locator(".bw-details__sub").inner_text().split(" ")[0]
    assert _status(marimo_server.data, new_id), new_id
    details.get_by_role("button", name="Back to the batch list").click()

    # History: filters narrow the table and the count agrees.
    dash.locator("[role=tab][data-tab=history]").click()
    history = dash.locator(".bw-history")
    count = history.locator(".bw-history__count")
    expect(count).to_have_text("4 batches", timeout=30_000)
    history.locator(".bw-chip[data-status=cancelled]").click()
    expect(count).to_have_text("1 of 4 batches match")
    expect(history.locator("tbody tr")).to_have_count(1)
    history.get_by_role("button", name="Clear filters").click()
    history.get_by_label(re.compile("Search")).fill("marimo")
    expect(count).to_have_text("1 of 4 batches match")
    assert not layout_problems(dash), layout_problems(dash)
    assert not page.external_requests, page.external_requests
