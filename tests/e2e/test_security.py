"""Strings from the API are text, never HTML (issue 9): a batch whose description and tags carry markup renders
that markup literally in the list, the details and the history, and none of it runs."""

from __future__ import annotations

from labkit import FRESH_SERVER, open_notebook, output, printed_ids, run_all
from playwright.sync_api import expect

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
CELLS = [
    FRESH_SERVER,
    f"""
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import demo_requests

client = BatchClient()
evil = client.submit(demo_requests(3000), description={IMG!r}, tags=[{SCRIPT!r}, "<b>bold</b>"])
print("IDS", evil.id)
""",
    "BatchDashboard(client=client)",
]

INJECTED = """el => ({
  pwned: typeof window.__pwned,
  imgs: el.querySelectorAll('img').length,
  scripts: el.querySelectorAll('script').length,
  bold: el.querySelectorAll('b').length,
})"""


def _assert_inert(page, dash):
    page.wait_for_timeout(300)  # give an onerror handler the chance to fire, if an <img> had been made
    assert dash.evaluate(INJECTED) == {"pwned": "undefined", "imgs": 0, "scripts": 0, "bold": 0}


def test_markup_in_description_and_tags_is_shown_as_text(page, lab_server, artifacts):
    open_notebook(page, lab_server, "e2e_security.ipynb", cells=CELLS)
    run_all(page)
    (batch_id,) = printed_ids(page, 1)
    dash = output(page, 2).locator(".bw-dashboard")
    row = dash.locator(f"tr.bw-row[data-id='{batch_id}']")
    expect(row.locator(".bw-row__name")).to_have_text(IMG, timeout=30_000)  # the literal characters
    _assert_inert(page, dash)

    row.locator(".bw-row__name").click()
    details = dash.locator(".bw-details")
    expect(details.locator(".bw-details__title")).to_have_text(IMG)
    expect(details).to_contain_text(SCRIPT)
    expect(details).to_contain_text("<b>bold</b>")
    _assert_inert(page, dash)
    details.screenshot(path=artifacts / "security-details.png")
    details.get_by_role("button", name="Back to the batch list").click()

    dash.locator("[role=tab][data-tab=history]").click()
    history = dash.locator(".bw-history")
    expect(history.locator("tbody tr")).to_have_count(1, timeout=30_000)
    expect(history.locator("tbody tr")).to_contain_text(IMG)
    expect(history.locator("tbody tr")).to_contain_text(SCRIPT)
    _assert_inert(page, dash)
    assert page.evaluate("typeof window.__pwned") == "undefined"
