"""One dashboard over three connections (OpenAI, Anthropic and Mistral dialects of the local server), in JupyterLab:
each row names its connection, the filter narrows to one, History has the column, and a connection that fails
shows its own banner while the others stay live (issue 17)."""

from __future__ import annotations

from conftest import SCREENSHOTS
from labkit import FRESH_SERVER, append_and_run, open_notebook, output, printed_ids, run_all
from playwright.sync_api import expect

CELLS = [
    FRESH_SERVER,
    """
from batch_widgets import BatchClient, BatchDashboard

def chat(model, n=3):
    return [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": model, "max_tokens": 40, "messages": [{"role": "user", "content": f"hello {i}"}]}}
            for i in range(n)]

clients = {"OpenAI": BatchClient(), "Claude": BatchClient(provider="anthropic"),
           "Mistral": BatchClient(provider="mistral")}
ids = [clients["OpenAI"].submit(chat("gpt-4o-mini"), description="OpenAI run").id,
       clients["Claude"].submit(chat("claude-haiku-4-5")).id,
       clients["Mistral"].submit(chat("mistral-small-latest"), description="Mistral run").id]
print("IDS", *ids)
""",
    "dashboard = BatchDashboard(clients=clients)\ndashboard",
]


def test_three_connections_in_one_dashboard(page, lab_server, artifacts):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_notebook(page, lab_server, "e2e_connections.ipynb", cells=CELLS)
    run_all(page)
    openai_id, claude_id, mistral_id = printed_ids(page, 1)
    dash = output(page, 2).locator(".bw-dashboard")
    expect(dash).to_be_visible(timeout=30_000)
    rows = dash.locator(".bw-list tr.bw-row")
    expect(rows).to_have_count(3, timeout=30_000)
    for batch_id, label in ((openai_id, "OpenAI"), (claude_id, "Claude"), (mistral_id, "Mistral")):
        expect(dash.locator(f"tr.bw-row[data-id='{batch_id}'] td.bw-col-conn")).to_have_text(label)
        expect(dash.locator(f"tr.bw-row[data-id='{batch_id}'] .bw-badge")).to_have_text("Completed", timeout=60_000)
    dash.screenshot(path=artifacts / "dashboard-three-connections.png")

    # The filter narrows the list to one connection and back.
    conn = dash.locator(".bw-list select.bw-conn-filter")
    expect(conn).to_be_visible()
    conn.select_option("Claude")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", claude_id)
    conn.select_option("")
    expect(rows).to_have_count(3)

    # History: the connection column and its filter.
    dash.get_by_role("tab", name="History").click()
    table = dash.locator(".bw-history__table")
    expect(table.locator("th.bw-col-conn")).to_have_text("Connection")
    expect(table.locator(f"tr[data-id='{mistral_id}'] td.bw-col-conn")).to_have_text("Mistral")
    dash.locator(".bw-history select.bw-conn-filter").select_option("Mistral")
    expect(table.locator("tbody tr")).to_have_count(1)
    dash.screenshot(path=artifacts / "history-three-connections.png")

    # One connection fails: its own banner, the others go on (a new OpenAI batch still appears).
    append_and_run(
        page,
        """
claude_store = dashboard._store.stores["Claude"]
claude_store.client._core.config = type(claude_store.client._core.config)(
    base_url="http://127.0.0.1:9", api_key="x", provider="anthropic")
claude_store.poll_once()
late = clients["OpenAI"].submit(chat("gpt-4o-mini", 2), description="after the outage")
print("LATE", late.id)
""",
    )
    dash.get_by_role("tab", name="Active").click()
    banner = dash.locator(".bw-banner", has_text="Claude:")
    expect(banner).to_have_count(1, timeout=30_000)
    expect(dash.locator(".bw-banner", has_text="OpenAI:")).to_have_count(0)
    late_id = printed_ids(page, 3, marker="LATE")[0]
    expect(dash.locator(f"tr.bw-row[data-id='{late_id}']")).to_be_visible(timeout=30_000)
    dash.screenshot(path=artifacts / "dashboard-connection-banner.png")
