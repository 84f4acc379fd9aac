"""BatchDashboard in Jupyter Notebook 7 (issue 18): the JupyterLab checks (live progress, details, download,
cancel, light and dark themes) plus the layout checks and a history chart that draws with no network."""

from __future__ import annotations

import json

from conftest import SCREENSHOTS
from labkit import FRESH_SERVER, append_and_run, luminance, open_notebook, output, printed_ids, run_all, set_theme
from layout import layout_problems
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard, batch_history
from batch_widgets.demo import start_demo_batches

client = BatchClient()
quick = start_demo_batches(client, n_batches=2, requests_per_batch=40)
slow = start_demo_batches(client, n_batches=1, requests_per_batch=5000,
                          metadata={"description": "Long evaluation run"})[0]
print("IDS", quick[0].id, quick[1].id, slow.id)
""",
    "dashboard = BatchDashboard(client=client)\ndashboard",
    "batch_history(client).status_chart()",
]


def test_notebook7_dashboard_live_details_cancel_chart_themes(page, notebook_server, artifacts):
    open_notebook(page, notebook_server, "e2e_nb7.ipynb", cells=CELLS, app="notebook")
    run_all(page)
    first, _, slow = printed_ids(page, 1)
    dash = output(page, 2).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    row = lambda batch_id: dash.locator(f"tr.bw-row[data-id='{batch_id}']")  # noqa: E731 - a one-line local helper
    expect(dash.locator(".bw-badge", has_text="Completed")).to_have_count(2, timeout=90_000)  # live, no re-run
    expect(row(slow).locator(".bw-badge")).to_have_text("In progress")
    assert not layout_problems(dash), layout_problems(dash)

    # The Altair chart: an inline SVG from the kernel, no vega script, no CDN.
    chart = output(page, 3)
    expect(chart.locator(".jp-RenderedSVG, .jp-RenderedImage").first).to_be_visible(timeout=30_000)
    assert chart.locator(".jp-RenderedSVG, .jp-RenderedImage").first.bounding_box()["width"] > 200
    expect(chart).not_to_contain_text("Error loading script")

    # Details and a results download, then back.
    row(first).locator(".bw-row__name").click()
    details = dash.locator(".bw-details")
    expect(details).to_contain_text(first)
    with page.expect_download(timeout=30_000) as info:
        details.get_by_role("button", name="Download results").click()
    lines = [json.loads(x) for x in open(info.value.path(), "rb").read().splitlines() if x.strip()]
    assert lines and all(line["custom_id"].startswith("b0-") for line in lines)
    details.get_by_role("button", name="Back to the batch list").click()

    # Cancel through the dialog; the kernel agrees.
    row(slow).get_by_role("button", name=f"Cancel batch {slow}").click()
    dash.get_by_role("alertdialog").get_by_role("button", name="Cancel batch").click()
    expect(row(slow).locator(".bw-badge")).to_have_text("Cancelled", timeout=60_000)
    out = append_and_run(page, f"print('STATUS', client.retrieve_batch({slow!r}).status)")
    expect(out).to_contain_text("STATUS cancelled", timeout=30_000)

    light = luminance(page, dash)
    dash.screenshot(path=SCREENSHOTS / "notebook7-light.png")
    try:
        set_theme(page, "JupyterLab Dark")
        dark = luminance(page, dash)
        assert dark > 0.6 > light, (light, dark)
        assert not layout_problems(dash), layout_problems(dash)
        dash.screenshot(path=SCREENSHOTS / "notebook7-dark.png")
    finally:
        set_theme(page, "JupyterLab Light")
    assert not page.external_requests, page.external_requests
