"""Every panel at 360, 680 and 1200 px (issue 18): a phone-width Voila page, a marimo cell, a wide notebook.

One Voila page (a real kernel, a 30-day seeded history and live batches); the viewport is resized and every panel
is checked with layout.py: no control clipped or overlapping another, no number cut, nothing wider than the page.
"""

from __future__ import annotations

import io
import os

import pytest
from conftest import SCREENSHOTS
from labkit import write_notebook
from layout import layout_problems
from playwright.sync_api import expect

CELLS = [
    """
import os, tempfile
os.environ["BATCH_WIDGETS_HOME"] = tempfile.mkdtemp(prefix="bw-e2e-")
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import seed_demo_history, start_demo_batches

seed_demo_history(days=30)  # before the server starts: its storage lists the past first, then today's batches
client = BatchClient()
start_demo_batches(client, n_batches=2, requests_per_batch=40)
start_demo_batches(client, n_batches=1, requests_per_batch=20000,
                   metadata={"description": "Nightly evaluation of the whole support archive, all languages"})
# A job (one row expanding to its parts) and a second connection (a Connection column and filter).
from batch_widgets import LocalBatchServer
from batch_widgets.demo import demo_requests
client.submit_job(demo_requests(900, seed=3), max_part_requests=300, description="Quarterly archive job")
staging = LocalBatchServer(tempfile.mkdtemp(prefix="bw-e2e-"), rate=20, api_key="local-e2e")
staging_client = BatchClient(base_url=staging.base_url, api_key=staging.api_key)
start_demo_batches(staging_client, n_batches=1, requests_per_batch=3000, metadata={"description": "Staging backfill"})
BatchDashboard(clients={"local": client, "staging": staging_client})
""",
    """
from batch_widgets import batch_history
batch_history(client).status_chart()  # an Altair chart in Voila: inline SVG, no network
""",
]
WIDTHS = (360, 680, 1200)


def _check(dash, label: str, problems: dict, artifacts) -> None:
    found = layout_problems(dash)
    if found:
        problems[label] = found
    dash.screenshot(path=artifacts / f"layout-{label}.png")


def test_every_panel_fits_from_360_to_1200_px(page, voila_server, artifacts):
    write_notebook(voila_server.root / "e2e_layout.ipynb", CELLS)
    page.goto(f"{voila_server.url}/voila/render/e2e_layout.ipynb")
    dash = page.locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=90_000)
    running = dash.locator("tr.bw-row", has_text="Nightly evaluation of the whole")
    expect(running.locator(".bw-badge")).to_have_text("In progress", timeout=60_000)
    chart = page.locator(".jp-RenderedSVG, .jp-RenderedImage").first
    expect(chart).to_be_visible(timeout=30_000)
    assert chart.bounding_box()["width"] > 200
    expect(page.locator("body")).not_to_contain_text("Error loading script")
    tab = lambda key: dash.locator(f"[role=tab][data-tab={key}]")  # noqa: E731 - a one-line local helper
    problems: dict[str, list[str]] = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        tab("active").click()
        job = dash.locator("tr.bw-row[data-kind=job]")
        if job.locator(".bw-job__batches").is_hidden():
            job.locator(".bw-job__toggle").click()  # its parts, listed under it
        expect(job.locator(".bw-job__batches")).to_be_visible()
        _check(dash, f"active-{width}", problems, artifacts)
        running.get_by_role("button", name="Cancel batch").click()  # the dialog, then keep it running
        expect(dash.get_by_role("alertdialog")).to_be_visible()
        _check(dash, f"cancel-dialog-{width}", problems, artifacts)
        dash.get_by_role("alertdialog").get_by_role("button", name="Keep running").click()
        running.locator(".bw-row__name").click()
        expect(dash.locator(".bw-details")).to_be_visible()
        _check(dash, f"details-{width}", problems, artifacts)
        dash.get_by_role("button", name="Back to the batch list").click()
        tab("create").click()
        expect(dash.locator(".bw-create")).to_be_visible()
        _check(dash, f"create-{width}", problems, artifacts)
        tab("history").click()
        history = dash.locator(".bw-history")
        expect(history.locator("tbody tr").first).to_be_visible(timeout=30_000)
        _check(dash, f"history-{width}", problems, artifacts)
        toggle = history.locator(".bw-history__toggle")
        if toggle.get_attribute("aria-pressed") != "true":
            toggle.click()
        expect(history.locator(".bw-history__analytics svg").first).to_be_visible()
        _check(dash, f"analytics-{width}", problems, artifacts)
        if width == 1200:  # the README's picture: the seeded 30-day history with its charts
            box = dash.bounding_box()  # the charts and the first rows of the table
            page.screenshot(path=SCREENSHOTS / "history-analytics.png", clip={**box, "height": min(box["height"], 760)})
        toggle.click()
    assert not problems, "\n".join(f"{k}: {p}" for k, v in problems.items() for p in v)


ANIMATION = [
    """
import os, tempfile
os.environ["BATCH_WIDGETS_HOME"] = tempfile.mkdtemp(prefix="bw-e2e-")
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import seed_demo_history, start_demo_batches

seed_demo_history(days=30)
client = BatchClient()
for i, n in enumerate((60, 140, 260, 2000)):
    start_demo_batches(client, n_batches=1, requests_per_batch=n, metadata={"description": [
        "Support ticket triage", "Weekly report summaries", "Help-centre translations (FR)",
        "Nightly evaluation set"][i]})
BatchDashboard(client=client)
""",
]


@pytest.mark.skipif(not os.environ.get("BW_UPDATE_SCREENSHOTS"), reason="only for `make screenshots`")
def test_readme_animation_of_live_batches(page, voila_server):
    """docs/screenshots/dashboard-live.gif: the Active tab while four batches run (about 12 s, <= 2 MB)."""
    from PIL import Image

    write_notebook(voila_server.root / "e2e_animation.ipynb", ANIMATION)
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(f"{voila_server.url}/voila/render/e2e_animation.ipynb")
    dash = page.locator(".bw-dashboard")
    expect(dash.locator("tr.bw-row")).to_have_count(4, timeout=90_000)
    frames = []
    for _ in range(32):
        frames.append(Image.open(io.BytesIO(dash.screenshot())).convert("RGB"))
        page.wait_for_timeout(250)
    # A notice appears when a batch finishes (the widget grows): every frame on one canvas, top-aligned.
    size = (max(f.width for f in frames), max(f.height for f in frames))
    canvases = []
    for f in frames:
        canvas = Image.new("RGB", size, "white")
        canvas.paste(f, (0, 0))
        canvases.append(canvas.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    frames = canvases
    path = SCREENSHOTS / "dashboard-live.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=400, loop=0, optimize=True)
    assert path.stat().st_size <= 2_000_000, path.stat().st_size
