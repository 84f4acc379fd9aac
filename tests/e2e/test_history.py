"""History & Analytics tab in JupyterLab (issue 6): status and text filters with a matching count; the analytics
view draws its charts with no internet."""

from __future__ import annotations

import json
import re

from labkit import FRESH_SERVER, append_and_run, open_notebook, output, run_all
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import demo_requests

client = BatchClient()
def make(description, tags, n=20):
    return client.submit(demo_requests(n, seed=len(description)), description=description, tags=tags)

made = [make("Nightly eval run", ["nightly", "eval"]), make("Nightly translations", ["nightly", "i18n"]),
        make("Ticket triage", ["support"])]
backfill = make("Huge backfill", ["backfill"], n=3000)
client.cancel_batch(backfill.id)
broken = client.upload_file(b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
                            b'"body": {"model": "m"}}\\n{broken\\n', filename="broken.jsonl")
made += [backfill, client.create_batch(broken.id, "/v1/chat/completions",
                                       metadata={"description": "Broken input file"})]
print("STATUSES", sorted(str(b.status) for b in client.wait(made, progress=False)))
""",
    "BatchDashboard(client=client)",
]

SVG_DRAWN = """el => [...el.querySelectorAll('svg')].filter(s => {
  const r = s.getBoundingClientRect();
  return r.width > 40 && r.height > 40 && s.querySelectorAll('path, rect, circle, line').length > 0;
}).length"""


def test_history_filters_count_and_offline_analytics(page, lab_server, artifacts):
    open_notebook(page, lab_server, "e2e_history.ipynb", cells=CELLS)
    run_all(page)
    expect(output(page, 1)).to_contain_text(
        "STATUSES ['cancelled', 'completed', 'completed', 'completed', 'failed']", timeout=60_000
    )
    dash = output(page, 2).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    dash.locator("[role=tab][data-tab=history]").click()
    history = dash.locator(".bw-history")
    count = history.locator(".bw-history__count")
    rows = history.locator("tbody tr")
    expect(count).to_have_text("5 batches", timeout=30_000)
    expect(rows).to_have_count(5)

    # Status chips combine; the count and the rows agree.
    history.locator(".bw-chip[data-status=completed]").click()
    expect(count).to_have_text("3 of 5 batches match")
    expect(rows).to_have_count(3)
    history.locator(".bw-chip[data-status=failed]").click()
    expect(count).to_have_text("4 of 5 batches match")
    expect(rows).to_have_count(4)
    expect(history).to_contain_text("Broken input file")
    history.get_by_role("button", name="Clear filters").click()
    expect(count).to_have_text("5 batches")

    # Text search over description and tags.
    history.get_by_label("Search batches by id, description or tags").fill("nightly")
    expect(count).to_have_text("2 of 5 batches match")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Nightly")
    expect(rows.nth(1)).to_contain_text("Nightly")
    history.get_by_label("Search batches by id, description or tags").fill("")
    expect(count).to_have_text("5 batches")

    # Analytics: drawn by the widget's own bundled code, with the browser unable to reach any other host.
    history.get_by_role("button", name="Show analytics").click()
    analytics = history.locator(".bw-history__analytics")
    expect(analytics).to_be_visible()
    expect(analytics.locator(".bw-history__chart")).to_have_count(4)
    drawn = analytics.evaluate(SVG_DRAWN)
    assert drawn >= 3, f"only {drawn} charts drew an SVG"
    page.set_viewport_size({"width": 1360, "height": 1700})  # room for the whole widget in the picture
    dash.screenshot(path=artifacts / "history-analytics-small.png")  # the README's: test_layout.py
    assert not page.external_requests, page.external_requests

    # One answer everywhere: the numbers the view shows for a filter are batch_history(...).filter(...).stats()'s.
    for status in ("completed", "cancelled"):
        history.locator(f".bw-chip[data-status={status}]").click()
    expect(count).to_have_text("4 of 5 batches match")
    cancelled = rows.filter(has_text="Huge backfill")
    expect(cancelled.locator(".bw-rate--cut")).to_have_count(1)  # ended early: never the healthy bar
    shown = analytics.evaluate(SHOWN_NUMBERS)
    out = append_and_run(
        page,
        "import json\nfrom batch_widgets import batch_history\n"
        "s = batch_history(client).filter(status=['completed', 'cancelled']).stats()\n"
        "print('PYSTATS', json.dumps(s))",
    )
    expect(out).to_contain_text("PYSTATS", timeout=30_000)
    stats = json.loads(out.inner_text().split("PYSTATS", 1)[1].strip().splitlines()[0])
    assert stats["batches"] == 4
    assert_shown_equals_stats(shown, stats)


SHOWN_NUMBERS = """el => ({
  rate: el.querySelector('svg.bw-chart-donut text').textContent,
  success: el.querySelector('[data-card=success] .bw-history__note').textContent,
  time: el.querySelector('[data-card=time] .bw-history__note').textContent,
  cost: [...el.querySelectorAll('svg.bw-chart-cost .bw-chart-figure')].map(t => t.textContent),
})"""


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("$", ""))


def _seconds(text: str) -> float:
    """formatDuration's text ("18s", "1m 05s", "2h 03m") back to seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def _close_at_shown_precision(shown: str, value: float) -> bool:
    """The shown figure is the value rounded to the digits it shows (the last digit within a half unit)."""
    digits = shown.replace(",", "").replace("$", "").replace("%", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return abs(_number(digits) - value) <= 0.5 * 10**-decimals + 1e-12


def assert_shown_equals_stats(shown: dict, stats: dict) -> None:
    done = stats["completed_requests"] + stats["failed_requests"]
    assert _close_at_shown_precision(shown["rate"], 100 * stats["success_rate"]), (shown["rate"], stats)
    succeeded, failed, of_done, batches = (int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", shown["success"]))
    assert (succeeded, failed, of_done, batches) == (
        stats["completed_requests"],
        stats["failed_requests"],
        done,
        stats["batches"],
    ), shown["success"]
    mean, median = (_seconds(t) for t in re.findall(r"(?:average|median) ([\dhms ]+?)(?:,|$)", shown["time"]))
    finished = int(re.search(r"over ([\d,]+) finished", shown["time"]).group(1))
    assert finished == stats["finished_batches"], shown["time"]
    assert mean <= stats["mean_processing_seconds"] < mean + 1, (shown["time"], stats)  # whole seconds shown
    assert median <= stats["median_processing_seconds"] < median + 1, (shown["time"], stats)
    total, per_batch, per_request = shown["cost"]
    assert _close_at_shown_precision(total, stats["total_cost"]), (total, stats["total_cost"])
    assert _close_at_shown_precision(per_batch, stats["cost_per_batch"]), (per_batch, stats["cost_per_batch"])
    assert _close_at_shown_precision(per_request, stats["cost_per_request"]), (per_request, stats["cost_per_request"])


LATE_CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import start_demo_batches

client = BatchClient()
running = start_demo_batches(client, n_batches=2, requests_per_batch=40)
BatchDashboard(client=client)
""",
]


def test_history_tab_opened_after_batches_finished_shows_their_final_state(page, lab_server):
    """The History tab is drawn when first opened: it must show what the batches are now, not what they were
    when the dashboard was created (every change since must reach a view that renders late)."""
    open_notebook(page, lab_server, "e2e_history_late.ipynb", cells=LATE_CELLS)
    run_all(page)
    dash = output(page, 1).locator(".bw-dashboard")
    expect(dash.locator("tr.bw-row")).to_have_count(2, timeout=30_000)
    expect(dash.locator("tr.bw-row .bw-badge", has_text="Completed")).to_have_count(2, timeout=60_000)
    page.wait_for_timeout(6000)  # another list poll: later changes would go out as patches too
    dash.locator("[role=tab][data-tab=history]").click()
    rows = dash.locator(".bw-history tbody tr")
    expect(rows).to_have_count(2, timeout=30_000)
    expect(rows.locator(".bw-badge", has_text="Completed")).to_have_count(2, timeout=10_000)
    for i in range(2):
        expect(rows.nth(i)).to_contain_text("/ 40")
        expect(rows.nth(i)).not_to_contain_text(re.compile(r"(^|\D)0 / 40"))  # "40 / 40" holds "0 / 40"
