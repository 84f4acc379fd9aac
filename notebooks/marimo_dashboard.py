# /// script
# requires-python = ">=3.10"
# dependencies = ["batch_widgets", "marimo"]
# ///
"""The batch dashboard as a marimo app: `marimo run notebooks/marimo_dashboard.py` (or `marimo edit`).

With no OPENAI_API_KEY it talks to the embedded local batch server and starts a few demo batches
(BATCH_WIDGETS_DEMO=0 turns them off). The widget updates live; nothing needs re-running.
"""

import marimo

__generated_with = "0.9.0"
app = marimo.App(width="medium")


@app.cell
def _():
    import os

    import marimo as mo

    from batch_widgets import BatchClient, BatchDashboard
    from batch_widgets.demo import runs_locally, start_demo_batches

    client = BatchClient()
    if runs_locally(client) and os.environ.get("BATCH_WIDGETS_DEMO", "1") != "0":
        start_demo_batches(client, n_batches=2, requests_per_batch=40)
        start_demo_batches(
            client, n_batches=1, requests_per_batch=5000, metadata={"description": "Long evaluation run"}
        )
    dashboard = mo.ui.anywidget(BatchDashboard(client=client))
    dashboard  # noqa: B018  (a cell shows its last expression)
    return (client, dashboard, mo)


@app.cell
def _(client):
    from batch_widgets import batch_history

    # An Altair chart of the history (the "charts" extra): marimo draws it with its own bundled Vega.
    batch_history(client).status_chart(width=360, height=120)
    return ()


if __name__ == "__main__":
    app.run()
