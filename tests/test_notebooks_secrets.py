"""An executed example notebook, with its widget state saved and exported to HTML, holds no API key.

``nbconvert --execute`` / nbclient save widget state into the notebook by default (``store_widget_state``), and
``nbconvert --to html`` embeds it in the page. Here every example notebook runs against a LocalBatchServer that
requires a sentinel key (so a notebook that got through did send it), with the key in OPENAI_API_KEY as a user
would have it; then the saved notebook and its HTML export are searched for the key.
"""

from __future__ import annotations

import pathlib
import secrets
import shutil

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from batch_widgets.server.local import SHARED_DEFAULTS, LocalBatchServer  # noqa: E402 - after the importorskip above

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
KEY = "sk-sentinel-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    with LocalBatchServer(tmp_path_factory.mktemp("secret_server"), api_key=KEY, **SHARED_DEFAULTS) as server:
        yield server


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_executed_notebook_and_html_export_hold_no_key(path, keyed_server, tmp_path, monkeypatch):
    from nbconvert import HTMLExporter

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", keyed_server.base_url)
    monkeypatch.delenv("OPENAI_ORG_ID", raising=False)
    monkeypatch.setenv("BATCH_WIDGETS_HOME", str(tmp_path / "home"))
    work = tmp_path / path.name
    shutil.copy(path, work)
    nb = nbformat.read(work, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError if a cell fails: the key was accepted where it was needed

    saved = nbformat.writes(nb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    bw_models = [m for m in state.values() if "_view" in m.get("state", {})]  # our anywidget panels
    if any("BatchDashboard(" in cell.source for cell in nb.cells if cell.cell_type == "code"):
        # The widget state really was stored, so the search below looked at it.
        assert bw_models, f"{path.name}: expected saved state for the dashboard widget"
    for where, text in (("notebook", saved), ("HTML export", html)):
        assert KEY not in text, f"{path.name}: the API key appears in the executed {where}"
        assert KEY[3:] not in text, f"{path.name}: part of the API key appears in the executed {where}"
