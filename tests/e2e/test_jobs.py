"""A job in the dashboard (issue 15): one Active row whose progress over all of its requests moves while no cell
runs, expanding to its parts; a part's details link back to the job."""

from __future__ import annotations

import re

from labkit import FRESH_SERVER, open_notebook, output, printed_ids, run_all
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import demo_requests

client = BatchClient()
job = client.submit_job(demo_requests(360), description="Ticket triage job", max_part_requests=120)
print("IDS", job.id)
""",
    "dashboard = BatchDashboard(client=client)\ndashboard",
]


def _settled(row) -> int:
    text = row.locator(".bw-row__counts").inner_text()
    return int(re.match(r"([\d,]+) /", text).group(1).replace(",", ""))


def test_a_job_row_progresses_and_expands_to_its_parts(page, lab_server, artifacts):
    open_notebook(page, lab_server, "e2e_jobs.ipynb", cells=CELLS)
    run_all(page)
    (job_id,) = printed_ids(page, 1)
    dash = output(page, 2).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    row = dash.locator(f"tr.bw-row[data-id='{job_id}']")
    expect(row).to_be_visible(timeout=30_000)
    expect(dash.locator("tr.bw-row")).to_have_count(1)  # its three batches are not rows of their own
    expect(row.locator(".bw-row__name")).to_have_text("Ticket triage job")
    expect(row.locator(".bw-row__sub")).to_contain_text("Job · 3 parts · round 0")
    expect(row.locator(".bw-row__counts")).to_contain_text("/ 360", timeout=30_000)

    # Progress over all of its requests moves on its own (the kernel is idle), up to every request settled.
    first = _settled(row)
    expect(row.locator(".bw-row__counts")).not_to_have_text(re.compile(rf"^{first:,} /"), timeout=60_000)
    assert _settled(row) > first
    row.screenshot(path=artifacts / "job-row-running.png")
    expect(row.locator(".bw-row__counts")).to_contain_text(re.compile(r"^360 / 360"), timeout=120_000)
    expect(row.locator(".bw-badge").first).to_have_text("Completed", timeout=30_000)

    # The row expands to its parts; a part opens its details, which link back to the job.
    row.get_by_role("button", name=f"Show the batches of job {job_id}").click()
    parts = row.locator(".bw-job__batch")
    expect(parts).to_have_count(3)
    expect(parts.locator(".bw-job__part")).to_have_text(["Part 1/3", "Part 2/3", "Part 3/3"])
    dash.screenshot(path=artifacts / "job-row-expanded.png")
    parts.nth(1).click()
    details = dash.locator(".bw-details")
    expect(details).to_be_visible()
    expect(details.locator(".bw-details__job")).to_contain_text(f"Part 2/3 of job {job_id}")
    details.get_by_role("button", name=f"Show job {job_id}").click()
    expect(details).to_be_hidden()
    expect(row.locator(".bw-job__batches")).to_be_visible()
    expect(row).to_be_focused()
