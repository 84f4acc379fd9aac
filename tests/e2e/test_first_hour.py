"""A new user's first hour (issue 19) in JupyterLab: a wrong key stops with one banner that says why and how to
fix it, never spins, and prints nothing under the cells that run after it."""

from __future__ import annotations

from conftest import SCREENSHOTS
from labkit import FRESH_SERVER, open_notebook, output, run_all
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.server.local import LocalBatchServer

server = LocalBatchServer(api_key="the-right-key")
dashboard = BatchDashboard(client=BatchClient(api_key="sk-wrong", base_url=server.base_url, max_retries=0))
dashboard
""",
    "import time\ntime.sleep(4)  # the old poller retried a 401 every 10/20/40 s and logged it here\n"
    "print('later cell')",
]


def test_a_wrong_key_stops_with_one_banner_and_spills_nothing(page, lab_server, artifacts):
    open_notebook(page, lab_server, "e2e_first_hour.ipynb", cells=CELLS)
    run_all(page)
    dash = output(page, 1).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    banner = dash.locator(".bw-banner")
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text("The API key was refused (HTTP 401)")
    expect(banner).to_contain_text("check api_key= or OPENAI_API_KEY")
    expect(banner.get_by_role("button", name="Retry")).to_be_visible()
    expect(dash.locator(".bw-list .bw-loading")).to_have_text("Not connected: see the message above.")
    expect(dash.locator(".bw-header .bw-connection")).to_contain_text("127.0.0.1")
    expect(output(page, 2)).to_contain_text("later cell", timeout=30_000)
    stderr = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not [s for s in stderr if "Refresh failed" in s or "401" in s], stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dash.screenshot(path=SCREENSHOTS / "wrong-key-banner.png")
