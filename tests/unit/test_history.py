import base64
import json
import re
import sys
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from batch_widgets import facts
from batch_widgets.client import BatchClient
from batch_widgets.history import BatchHistory, batch_history
from batch_widgets.jsonl import build_requests
from batch_widgets.server.local import LocalBatchServer

sys.path.insert(0, str(Path(__file__).parent))
from fake_batch_api import FakeBatchAPI  # noqa: E402 - after the sys.path insert above

T0 = 1_764_400_000


def fake_history(n=250, **kw):
    api = FakeBatchAPI()
    for i in range(n):
        api.add_batch(
            status="completed",
            created_at=T0 + i * 3600,
            in_progress_at=T0 + i * 3600 + 10,
            finalizing_at=T0 + i * 3600 + 100,
            completed_at=T0 + i * 3600 + 130,
            request_counts={"total": 10, "completed": 9, "failed": 1},
            model="gpt-4o-mini",
            metadata={"description": f"run {i}", "tags": "even" if i % 2 == 0 else "odd"},
            **kw,
        )
    client = BatchClient(api_key="k", base_url="http://fake/v1", transport=api.transport(), max_retries=0)
    return api, client


def test_first_load_reads_every_page_then_refresh_is_one_request():
    api, client = fake_history(250)
    history = batch_history(client)
    assert len(history) == 250 and len(api.requests) == 3  # pages of 100
    df = history.to_dataframe()
    assert df["id"].tolist()[:2] == ["batch_0249", "batch_0248"]  # newest first
    assert (df["total_seconds"] == 130).all() and (df["queue_seconds"] == 10).all()
    before = len(api.requests)
    history.refresh()
    assert len(api.requests) - before == 1


def test_refresh_picks_up_new_and_changed_batches():
    api, client = fake_history(5)
    active = api.add_batch(status="in_progress", created_at=T0 + 10**6, request_counts={"total": 4})
    history = batch_history(client)
    assert history.stats()["active"] == 1
    active.update(
        status="completed", completed_at=T0 + 10**6 + 50, request_counts={"total": 4, "completed": 4, "failed": 0}
    )
    api.add_batch(status="validating", created_at=T0 + 2 * 10**6)
    history.refresh()
    df = history.to_dataframe()
    assert len(df) == 7 and df.loc[df["id"] == active["id"], "status"].item() == "completed"
    assert df.loc[df["id"] == active["id"], "total_seconds"].item() == 50


def test_filter_returns_a_new_history_and_follows_refresh():
    api, client = fake_history(10)
    history = batch_history(client)
    odd = history.filter(search="ODD")
    assert isinstance(odd, BatchHistory) and odd is not history
    assert len(odd) == 5 and len(history) == 10
    narrowed = odd.filter(since=T0 + 5 * 3600)
    assert narrowed.to_dataframe()["description"].tolist() == ["run 9", "run 7", "run 5"]
    assert narrowed.filters == {"search": "ODD", "since": T0 + 5 * 3600}
    api.add_batch(status="failed", created_at=T0 + 10**6, metadata={"tags": "odd"})
    narrowed.refresh()
    assert len(narrowed) == 4 and len(history) == 11  # views share the index
    assert len(history.filter(status="failed")) == 1
    assert len(odd.filter(search="even")) == 5  # a repeated condition replaces the old one
    with pytest.raises(TypeError):
        BatchHistory(client, filters={"colour": "red"})


def test_filter_by_tags_and_a_bad_status_lists_the_valid_ones():
    api, client = fake_history(6)
    api.add_batch(status="completed", created_at=T0 + 10**6, metadata={"tags": "odd,eval"})
    history = batch_history(client)
    assert len(history.filter(tags="odd")) == 4
    assert history.filter(tags=["odd", "eval"]).to_dataframe()["tags"].tolist() == [["odd", "eval"]]
    assert len(history.filter(search="run").filter(tags="eval")) == 0  # narrows a cached view too
    assert len(history.filter(tags="od")) == 0  # a whole tag, not a substring (that is search=)
    with pytest.raises(ValueError, match=f"use one of {', '.join(facts.STATUSES)}; did you mean 'completed'"):
        history.filter(status="complete")


def test_batch_history_since():
    _, client = fake_history(10)
    assert len(batch_history(client, since=T0 + 8 * 3600)) == 2


def test_exports(tmp_path):
    _, client = fake_history(3)
    history = batch_history(client)
    text = history.to_csv()
    back = pd.read_csv(__import__("io").StringIO(text))
    assert len(back) == 3 and back.loc[0, "tags"] == "even" and json.loads(back.loc[0, "metadata"])["tags"] == "even"
    history.to_csv(tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text() == text
    history.to_parquet(tmp_path / "h.parquet")
    parquet = pd.read_parquet(tmp_path / "h.parquet")
    assert isinstance(parquet["created_at"].dtype, pd.DatetimeTZDtype)
    assert list(parquet.loc[0, "tags"]) == ["even"] and parquet.loc[0, "total_seconds"] == 130


def test_charts_build_and_render_offline(tmp_path):
    _, client = fake_history(30)
    history = batch_history(client)
    charts = [
        history.success_failure_chart(),
        history.status_chart(),
        history.processing_time_chart(),
        history.cost_chart(),
        history.cost_chart(by="model"),
        history.throughput_chart(),
    ]
    for chart in charts:
        assert isinstance(chart, (alt.Chart, alt.LayerChart))
        spec = chart.to_dict()
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    rule = charts[2].to_dict()["layer"][1]
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["y"]["aggregate"] == "mean"
    svg = tmp_path / "time.svg"
    charts[2].save(svg)  # vl-convert: no browser, no internet
    assert svg.read_text().lstrip().startswith("<svg")
    with pytest.raises(ValueError, match="by must be"):
        history.cost_chart(by="week")
    empty = history.filter(status="expired")
    for build in (empty.success_failure_chart, empty.processing_time_chart, empty.throughput_chart):
        build().to_dict()


def test_chart_in_an_exported_html_file_is_inline_svg():
    """What nbconvert --to html makes of a chart cell's output: the SVG itself, no script, no CDN."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    _, client = fake_history(6)
    bundle = batch_history(client).status_chart()._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "history.status_chart()", outputs=[nbformat.v4.new_output("display_data", data=bundle)]
        )
    ]
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    encoded = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)  # nbconvert inlines it as an <img>
    assert encoded and base64.b64decode(encoded.group(1)).lstrip().startswith(b"<svg")
    assert "vega-embed" not in html and "cdn.jsdelivr" not in html


@pytest.mark.parametrize("missing", ["altair", "vl_convert"])
def test_charts_without_the_charts_extra_say_what_to_install(monkeypatch, missing):
    _, client = fake_history(3)
    history = batch_history(client)
    monkeypatch.delitem(sys.modules, "batch_widgets.charts", raising=False)
    monkeypatch.delattr(sys.modules["batch_widgets"], "charts", raising=False)  # `from . import` looks here first
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    with pytest.raises(ImportError, match=rf"\({missing} is not installed\): pip install 'batch_widgets\[charts\]'"):
        history.status_chart()


def test_charts_display_as_inline_svg_without_touching_the_renderer():
    """Rich display works offline in any host (issue 18): an SVG in the mime bundle, no vega script, and the
    user's Altair renderer is neither changed nor overridden when they chose one."""
    _, client = fake_history(12)
    history = batch_history(client)
    before = alt.renderers.active
    for chart in (history.status_chart(), history.processing_time_chart(), history.cost_chart().properties(width=200)):
        bundle = chart._repr_mimebundle_()
        assert set(bundle) == {"image/svg+xml", "text/plain"}, set(bundle)
        assert bundle["image/svg+xml"].lstrip().startswith("<svg") and "cdn" not in bundle["image/svg+xml"]
        assert bundle["text/plain"].startswith("<Altair chart: ")
    assert alt.renderers.active == before
    with alt.renderers.enable("html"):  # the user's choice wins
        assert "text/html" in history.status_chart()._repr_mimebundle_()


def test_history_against_the_local_server_with_results_cost(tmp_path):
    with (
        LocalBatchServer(tmp_path, rate=0, poll_interval=0.05) as srv,
        BatchClient(base_url=srv.base_url, api_key="k") as c,
    ):
        first = c.wait(
            c.submit(build_requests(["a", "b", "c"], model="gpt-4o-mini"), description="one", tags=["t1"]),
            poll_interval=0.05,
            timeout=30,
            progress=False,
        )
        second = c.submit(build_requests(["d"], model="gpt-4o-mini"), description="two")
        history = batch_history(c)
        df = history.to_dataframe()
        assert df["id"].tolist() == [second.id, first.id]
        row = df.set_index("id").loc[first.id]
        assert row.description == "one" and row.tags == ["t1"] and row.completed_requests == 3
        assert row.total_seconds >= 0 and row.total_seconds < 60  # seconds, not ms
        # The simulator answered: its tokens get a price, marked as simulated (no money was spent).
        assert first.simulated and row.cost_source == "simulated" and row.cost > 0
        assert history.stats()["cost_sources"] == {"simulated": 2}
        assert history.filter(search="two").to_dataframe()["id"].tolist() == [second.id]


def test_history_from_batches_in_hand():
    api, client = fake_history(4)
    batches = list(client.iter_batches())
    for history in (BatchHistory(batches), BatchHistory.from_batches(batches)):
        assert history.client is None and len(history) == 4
        assert history.filter(search="run 3").to_dataframe()["id"].tolist() == ["batch_0003"]
        with pytest.raises(ValueError, match="no client"):
            history.refresh()
    assert len(BatchHistory([])) == 0


def test_incremental_refresh_gives_the_same_frame_as_a_full_build():
    api, client = fake_history(30)
    running = api.add_batch(status="in_progress", created_at=T0 - 10, request_counts={"total": 5})
    history = batch_history(client)
    history.to_dataframe()  # built once
    running.update(status="completed", completed_at=T0 + 40, request_counts={"total": 5, "completed": 5, "failed": 0})
    api.add_batch(status="validating", created_at=T0 + 10**6, metadata={"tags": "new"})
    history.refresh()
    incremental = history.to_dataframe()
    full = BatchHistory(index=history.index).to_dataframe()
    pd.testing.assert_frame_equal(incremental, full)
    assert incremental["id"].iloc[0] == api.batches[0]["id"] and len(incremental) == 32
