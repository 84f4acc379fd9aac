"""One answer everywhere: the History panel's numbers (computed in the browser, js/lib/stats.js) equal
``BatchHistory.stats()`` and its CSV equals ``BatchHistory.to_csv()``, number for number and byte for byte.

A differential test in the style of the validator's (js/test/validate.test.mjs): 320 generated histories cover
every status, missing times, absent / all-zero / real usage, unknown models, estimates and usage-based costs,
hidden and library metadata keys, text a spreadsheet would run, and several connections. Each history goes
through ``encode_rows`` (what the kernel sends), the panel's own decode / filter / sort / summarize / CSV code in
node, and through ``BatchHistory.filter(...).stats()`` / ``to_csv()`` with the same filter.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from live_helpers import run_node

from batch_widgets import facts
from batch_widgets.connections import labelled
from batch_widgets.history import BatchHistory
from batch_widgets.models import Batch
from batch_widgets.widgets.history_view import encode_rows, history_filter_args, normalize_filters

T0 = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())
HISTORIES = 320
MODELS = ["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "text-embedding-3-small", "mystery-model-7", None]
TEXTS = [
    "nightly eval",
    "Support triage, batch 2",
    'quoted "name"',
    "=SUM(A1:A2)",
    "-minus first",
    "+plus",
    "@at",
    "line\nbreak",
    "ünïcödé ✓",
    "",
    "  padded  ",
    "tab\there",
]
NODE = """
import { decodeRows, filterRows, sortRows, emptyFilters, summarize } from "./js/panels/history.js";
import { toCSV } from "./js/lib/stats.js";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ rows, filters }) => {
    const shown = sortRows(filterRows(decodeRows(rows), { ...emptyFilters(), ...filters }), "created", -1);
    const { recentTimes, recentCost, ...stats } = summarize(shown);
    return { stats, csv: toCSV(shown) };
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _batch(rng: random.Random, i: int, connection: str | None) -> Batch:
    status = rng.choice(facts.STATUSES)
    created = T0 + (rng.randrange(0, 20 * 86400) if rng.random() < 0.8 else 3600)  # some share a second
    total = rng.choice([0, 1, 7, 40, 300, facts.MAX_REQUESTS // 7])
    done = total if status == facts.COMPLETED else rng.randrange(0, total + 1)
    failed = rng.randrange(0, done + 1) if rng.random() < 0.6 else 0
    times: dict = {"created_at": created, "expires_at": created + 86400 if rng.random() < 0.8 else None}
    t = created
    for field in ("in_progress_at", "finalizing_at"):
        t += rng.randrange(0, 900)
        times[field] = t if rng.random() < 0.85 else None  # missing times, as some providers leave them
    if status in (facts.CANCELLING, facts.CANCELLED) or rng.random() < 0.1:
        times["cancelling_at"] = t + rng.randrange(0, 60)
    end_field = facts.ENDED_AT_FIELDS.get(status)
    if end_field and rng.random() < 0.9:
        times[end_field] = t + rng.randrange(0, 3600)
    usage = rng.choice([None, "zero", "real", "real"])
    model = rng.choice(MODELS)
    meta: dict = {}
    if rng.random() < 0.8:
        meta[facts.DESCRIPTION_KEY] = rng.choice(TEXTS)
    if rng.random() < 0.5:
        meta[facts.TAGS_KEY] = rng.choice(["eval", "eval,nightly", "a, b", "=x"])
    for key in (facts.REQUEST_TAG_KEY, facts.GROUP_ID_KEY, facts.PARENT_KEY, facts.JOB_SPEC_KEY, "owner"):
        if rng.random() < 0.3:
            meta[key] = rng.choice(TEXTS) or f"v{i}"
    doc = {
        "id": f"batch_{i:05d}",
        "object": "batch",
        "status": status,
        "endpoint": rng.choice(facts.ENDPOINTS[:3]),
        "model": model,
        "input_file_id": f"file-in{i}",
        "completion_window": "24h",
        **times,
        "output_file_id": f"file-out{i}" if rng.random() < 0.5 else None,
        "error_file_id": f"file-err{i}" if failed else None,
        "request_counts": {"total": total, "completed": done - failed, "failed": failed},
        "metadata": meta or None,
    }
    if usage == "zero":
        doc["usage"] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    elif usage == "real":
        tokens_in = rng.randrange(1, 10**7)
        doc["usage"] = {
            "input_tokens": tokens_in,
            "output_tokens": rng.randrange(0, 10**6),
            "input_tokens_details": {"cached_tokens": rng.randrange(0, tokens_in)},
            "total_tokens": 1,
        }
    batch = Batch.model_validate(doc)
    return labelled(batch, connection) if connection else batch


def _filters(rng: random.Random) -> dict:
    f: dict = {}
    if rng.random() < 0.3:
        f["statuses"] = rng.sample(facts.STATUSES, rng.randrange(1, 4))
    if rng.random() < 0.3:
        f["search"] = rng.choice(["eval", "NIGHTLY", " batch_000", "triage", "gpt-4o", "embeddings", "zz"])
    if rng.random() < 0.2:
        f["endpoint"] = rng.choice(facts.ENDPOINTS[:3])
    if rng.random() < 0.2:
        day = datetime.fromtimestamp(T0, timezone.utc) + timedelta(days=rng.randrange(0, 20))
        f["since" if rng.random() < 0.5 else "until"] = day.strftime("%Y-%m-%d")
    if rng.random() < 0.15:
        f["connection"] = rng.choice(["OpenAI", "Local"])
    return f


def _histories():
    rng = random.Random(12)
    for h in range(HISTORIES):
        connections = rng.choice([[None], ["OpenAI", "Local"]])
        batches = [_batch(rng, h * 100 + i, rng.choice(connections)) for i in range(rng.randrange(0, 14))]
        yield batches, _filters(rng)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_browser_statistics_and_csv_equal_stats_and_to_csv():
    cases = list(_histories())
    # Each history twice: whole, and through a random filter (the panel's chips, search, dates, connection).
    cases = [(b, f) for b, filters in cases for f in ({}, filters)]
    payload = [{"rows": json.loads(json.dumps(encode_rows(b))), "filters": f} for b, f in cases]
    results = run_node(NODE, payload, timeout=120)
    assert len(results) == 2 * HISTORIES
    covered = {"statuses": set(), "sources": set()}
    for (batches, filters), js in zip(cases, results, strict=True):
        history = BatchHistory.from_batches(batches).filter(**history_filter_args(normalize_filters(filters)))
        py_stats = history.stats()
        assert js["stats"] == py_stats, (filters, [b.id for b in batches])
        assert js["csv"] == history.to_csv(), (filters, [b.id for b in batches])
        covered["statuses"] |= {s for s, n in py_stats["by_status"].items() if n}
        covered["sources"] |= set(py_stats["cost_sources"])
    # The generator reached every status and every cost source a widget can show.
    assert covered["statuses"] == set(facts.STATUSES)
    assert covered["sources"] == {"usage", "estimate", "unknown"}
