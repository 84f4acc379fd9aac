"""The Create tab in JupyterLab (issue 6): a bad JSONL shows its line errors and uploads nothing; a valid one
dropped on the drop zone becomes a batch that shows up in the Active list."""

from __future__ import annotations

import base64
import json

from conftest import SCREENSHOTS
from labkit import FRESH_SERVER, append_and_run, open_notebook, output, run_all
from playwright.sync_api import expect

from batch_widgets.demo import demo_requests, to_jsonl

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard

client = BatchClient()
dashboard = BatchDashboard(client=client)
dashboard
""",
]


def _bad_jsonl() -> bytes:
    good = demo_requests(4)
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps({**good[2], "custom_id": good[0]["custom_id"]}),
        json.dumps({**good[3], "url": "/v1/embeddings"}),
    ]
    return ("\n".join(lines) + "\n").encode()


DROP = """(el, [name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type: "application/jsonl" }));
  for (const type of ["dragenter", "dragover", "drop"]) {
    el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }
}"""


def test_create_rejects_bad_file_and_creates_from_dropped_file(page, lab_server, artifacts):
    open_notebook(page, lab_server, "e2e_create.ipynb", cells=CELLS)
    run_all(page)
    dash = output(page, 1).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    dash.locator("[role=tab][data-tab=create]").click()
    create = dash.locator(".bw-create")
    expect(create).to_be_visible()

    # A bad file (picked with the file input): every problem with its line, and the Create button stays off.
    create.locator("input[type=file]").set_input_files(
        {"name": "bad.jsonl", "mimeType": "application/jsonl", "buffer": _bad_jsonl()}
    )
    problems = create.locator(".bw-create__problem")
    expect(problems).to_have_count(3, timeout=15_000)
    expect(problems.nth(0)).to_contain_text("Line 2")
    expect(problems.nth(0)).to_contain_text("invalid_json_line")
    expect(problems.nth(1)).to_contain_text("Line 3")
    expect(problems.nth(1)).to_contain_text("duplicate_custom_id")
    expect(problems.nth(2)).to_contain_text("Line 4")
    expect(problems.nth(2)).to_contain_text("url_mismatch")
    expect(create.get_by_role("button", name="Create batch")).to_be_disabled()
    dash.screenshot(path=SCREENSHOTS / "create-problems.png")
    out = append_and_run(
        page, "print('FILES', len(client.list_files().data), 'BATCHES', len(client.list_batches().data))"
    )
    expect(out).to_contain_text("FILES 0 BATCHES 0", timeout=30_000)  # nothing reached the server

    # A valid file, dropped: described and tagged, created, then its details open; back shows it in the list.
    valid = to_jsonl(demo_requests(60, seed=7))
    create.locator(".bw-create__drop").evaluate(DROP, ["tickets.jsonl", base64.b64encode(valid).decode()])
    expect(problems).to_have_count(0, timeout=15_000)
    expect(create.locator(".bw-create__file")).to_contain_text("tickets.jsonl")
    create.get_by_label("Description").fill("Dropped from the browser")
    create.get_by_label("Tags (comma-separated)").fill("e2e, drop")
    create.get_by_role("button", name="Create batch").click()
    details = dash.locator(".bw-details")
    expect(details).to_be_visible(timeout=30_000)
    expect(details.locator(".bw-details__title")).to_have_text("Dropped from the browser")
    batch_id = details.locator(".bw-details__sub").inner_text().split(" ")[0]
    assert batch_id.startswith("batch_"), batch_id
    details.get_by_role("button", name="Back to the batch list").click()
    row = dash.locator(f"tr.bw-row[data-id='{batch_id}']")
    expect(row).to_be_visible()
    expect(row.locator(".bw-row__name")).to_have_text("Dropped from the browser")
    expect(row.locator(".bw-row__counts")).to_contain_text("/ 60")
    out = append_and_run(page, f"b = client.retrieve_batch({batch_id!r}); print('NEW', b.request_counts.total, b.tags)")
    expect(out).to_contain_text("NEW 60 ['e2e', 'drop']", timeout=30_000)
    assert not page.external_requests, page.external_requests
