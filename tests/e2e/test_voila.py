"""notebooks/dashboard.ipynb served by Voila as a standalone app (issue 7): live rows, no notebook chrome."""

from __future__ import annotations

import re

from conftest import SCREENSHOTS
from playwright.sync_api import expect


def test_voila_dashboard_shows_live_rows(page, voila_server):
    page.goto(f"{voila_server.url}/voila/render/dashboard.ipynb")
    dash = page.locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=90_000)
    rows = dash.locator("tr.bw-row")
    expect(rows).to_have_count(3, timeout=30_000)
    expect(page.get_by_text("start_demo_batches(client")).to_have_count(0)  # an app: no code shown

    # Live: counts move and a batch finishes while the page just sits there.
    counts = rows.locator(".bw-row__counts")
    before = counts.all_inner_texts()
    expect(dash.locator(".bw-badge", has_text="Completed").first).to_be_visible(timeout=90_000)
    assert counts.all_inner_texts() != before, before
    assert all(re.search(r"/ 200\b", text) for text in counts.all_inner_texts()), counts.all_inner_texts()
    page.wait_for_timeout(1000)  # let the progress bars finish their CSS transition before the picture
    dash.screenshot(path=SCREENSHOTS / "voila-dashboard.png")
    # Voila's own template asks a CDN for font-awesome (icons only); nothing of ours leaves loopback.
    assert all("fontawesome" in url or "font-awesome" in url for url in page.external_requests), page.external_requests
