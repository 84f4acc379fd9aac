"""Pure functions over batches: one typed row per batch, filters and summary statistics.

Shared by ``BatchHistory`` and the widgets' stats cards. API timestamps are Unix **seconds**; every duration
here is in seconds (the seed dashboard divided by 1000 and reported minutes 1000x too small).
"""

from __future__ import annotations

import functools
import json
import math
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .facts import (
    ACTIVE_STATUSES,
    DESCRIPTION_KEY,
    DURATION_COLUMNS,
    FRAME_COLUMNS,
    GROUP_ID_KEY,
    PARENT_KEY,
    STATUSES,
    TAGS_KEY,
    TAGS_SEPARATOR,
    TIMESTAMP_COLUMNS,
    visible_metadata,
)
from .models import Batch, BatchStatus

if TYPE_CHECKING:
    from .pricing import Pricing

__all__ = [
    "DURATION_COLUMNS",
    "FRAME_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "batches_frame",
    "filter_frame",
    "summary_stats",
    "to_timestamp",
]

_STRING_COLUMNS = (
    "id",
    "status",
    "endpoint",
    "model",
    "description",
    "input_file_id",
    "output_file_id",
    "error_file_id",
    GROUP_ID_KEY,
    PARENT_KEY,
    "cost_source",
    "connection",
)
_STRING = pd.StringDtype("pyarrow")
_TAGS = pd.ArrowDtype(pa.list_(pa.string()))
Usage = tuple[int, int, int]  # (input, output, cached) tokens


def batches_frame(
    batches: Iterable[Batch],
    *,
    pricing: Optional["Pricing"] = None,
    result_usage: Optional[Mapping[str, Usage]] = None,
) -> pd.DataFrame:
    """One typed row per batch (columns :data:`FRAME_COLUMNS`), built column-wise from flat values.

    ``result_usage`` maps batch ids to token totals summed from downloaded results; it supplies tokens and
    cost (source "results") for batches whose object carries no ``usage``.
    """
    from .pricing import batch_cost, batch_usage, get_pricing

    pricing = pricing or get_pricing()
    result_usage = result_usage or {}
    batches = list(batches)
    metas = [b.metadata or {} for b in batches]
    counts = [b.request_counts for b in batches]
    usages: list[Optional[Usage]] = [batch_usage(b) for b in batches]
    from_results = [result_usage.get(b.id) if u is None else None for b, u in zip(batches, usages, strict=True)]
    tokens = [u or r for u, r in zip(usages, from_results, strict=True)]
    costs = [batch_cost(b, pricing=pricing, result_usage=r) for b, r in zip(batches, from_results, strict=True)]
    # Column by column: a comprehension per field is several times faster than a row dict per batch.
    cols: dict[str, list] = {
        "id": [b.id for b in batches],
        "status": [b.status.value for b in batches],
        "endpoint": [b.endpoint for b in batches],
        "model": [b.model for b in batches],
        "description": [m.get(DESCRIPTION_KEY) for m in metas],
        "tags": [_tags(m.get(TAGS_KEY)) for m in metas],
        **{name: [getattr(b, name) for b in batches] for name in TIMESTAMP_COLUMNS},
        "total_requests": [c.total for c in counts],
        "completed_requests": [c.completed for c in counts],
        "failed_requests": [c.failed for c in counts],
        "input_file_id": [b.input_file_id or None for b in batches],
        "output_file_id": [b.output_file_id for b in batches],
        "error_file_id": [b.error_file_id for b in batches],
        "input_tokens": [t[0] if t else None for t in tokens],
        "output_tokens": [t[1] if t else None for t in tokens],
        "cached_tokens": [t[2] if t else None for t in tokens],
        "cost": [c[0] for c in costs],
        "cost_source": [c[1] for c in costs],
        GROUP_ID_KEY: [m.get(GROUP_ID_KEY) for m in metas],
        PARENT_KEY: [m.get(PARENT_KEY) for m in metas],
        "metadata": [visible_metadata(m) for m in metas],
        "connection": [(b.model_extra or {}).get("connection") for b in batches],
    }
    return _typed(cols)


@functools.lru_cache(maxsize=4096)
def _tags_tuple(raw: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in raw.split(TAGS_SEPARATOR) if t.strip())


def _tags(raw: Optional[str]) -> list[str]:
    """``Batch.tags`` for a metadata value, cached: histories repeat the same few tag strings."""
    return list(_tags_tuple(raw)) if raw else []


def _seconds(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype="float64")


def _typed(cols: dict[str, list]) -> pd.DataFrame:
    n = len(cols["id"])
    data: dict[str, Any] = {}
    raw = {name: _seconds(cols[name]) for name in TIMESTAMP_COLUMNS}
    for name in _STRING_COLUMNS:
        data[name] = pd.array(cols[name], dtype=_STRING)
    data["tags"] = pd.array(cols["tags"], dtype=_TAGS) if n else pd.array([], dtype=_TAGS)
    for name in TIMESTAMP_COLUMNS:
        data[name] = pd.to_datetime(raw[name], unit="s", utc=True)
    run_end = np.where(
        np.isnan(raw["finalizing_at"]),
        np.where(np.isnan(raw["cancelling_at"]), raw["ended_at"], raw["cancelling_at"]),
        raw["finalizing_at"],
    )
    data["queue_seconds"] = raw["in_progress_at"] - raw["created_at"]
    data["run_seconds"] = run_end - raw["in_progress_at"]
    data["finalize_seconds"] = raw["completed_at"] - raw["finalizing_at"]
    data["total_seconds"] = raw["ended_at"] - raw["created_at"]
    for name in ("total_requests", "completed_requests", "failed_requests"):
        data[name] = np.array(cols[name], dtype="int64")
    done = data["completed_requests"] + data["failed_requests"]
    with np.errstate(invalid="ignore", divide="ignore"):
        data["success_rate"] = np.where(done > 0, data["completed_requests"] / np.maximum(done, 1), np.nan)
    for name in ("input_tokens", "output_tokens", "cached_tokens"):
        data[name] = pd.array(cols[name], dtype="Int64")
    data["cost"] = np.array([np.nan if c is None else c for c in cols["cost"]], dtype="float64")
    data["metadata"] = cols["metadata"]
    return pd.DataFrame({name: data[name] for name in FRAME_COLUMNS}, index=pd.RangeIndex(n))


# --------------------------------------------------------------------------------------------- filters


def to_timestamp(value: Union[str, int, float, datetime, date, pd.Timestamp]) -> pd.Timestamp:
    """A tz-aware UTC timestamp from Unix seconds, an ISO string, a date or a datetime (naive = UTC)."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a boolean")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return pd.Timestamp(float(value), unit="s", tz="UTC")
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _as_list(value: Union[str, Sequence[str]]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def filter_frame(
    frame: pd.DataFrame,
    *,
    status: Union[str, Sequence[str], None] = None,
    search: Optional[str] = None,
    endpoint: Union[str, Sequence[str], None] = None,
    model: Union[str, Sequence[str], None] = None,
    since: Any = None,
    until: Any = None,
    tags: Union[str, Sequence[str], None] = None,
    connection: Union[str, Sequence[str], None] = None,
) -> pd.DataFrame:
    """Rows matching every given condition. ``search`` is a case-insensitive substring of the id,
    description, tags, model or endpoint; ``since``/``until`` bound ``created_at`` (inclusive/exclusive);
    ``tags`` keeps batches carrying every tag given (exact, case-sensitive, as stored)."""
    mask = np.ones(len(frame), dtype=bool)
    if status is not None:
        wanted = [BatchStatus.parse(s).value for s in _as_list(status)]
        mask &= frame["status"].isin(wanted).to_numpy(dtype=bool, na_value=False)
    if endpoint is not None:
        mask &= frame["endpoint"].isin(_as_list(endpoint)).to_numpy(dtype=bool, na_value=False)
    if model is not None:
        mask &= frame["model"].isin(_as_list(model)).to_numpy(dtype=bool, na_value=False)
    if connection is not None:
        mask &= frame["connection"].isin(_as_list(connection)).to_numpy(dtype=bool, na_value=False)
    if since is not None:
        mask &= (frame["created_at"] >= to_timestamp(since)).to_numpy(dtype=bool, na_value=False)
    if until is not None:
        mask &= (frame["created_at"] < to_timestamp(until)).to_numpy(dtype=bool, na_value=False)
    if tags is not None:
        wanted_tags = set(_as_list(tags))
        mask &= np.fromiter(
            (t is not None and wanted_tags.issubset(t) for t in frame["tags"]), dtype=bool, count=len(frame)
        )
    if search:
        mask &= _search_mask(frame, search)
    return frame[mask]


def _search_mask(frame: pd.DataFrame, text: str) -> np.ndarray:
    found = np.zeros(len(frame), dtype=bool)
    for name in ("id", "description", "model", "endpoint", "tags"):
        values = pa.array(frame[name].array)  # Arrow-backed already: no copy
        if name == "tags":
            values = pc.binary_join(values, ",")
        hit = pc.fill_null(pc.match_substring(values, text, ignore_case=True), False)
        found |= hit.to_numpy(zero_copy_only=False)
    return found


# --------------------------------------------------------------------------------------------- stats


def _num(value: Any) -> Optional[float]:
    value = float(value)
    return None if math.isnan(value) else value


def summary_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """The statistics of a set of batches, each defined once (the History panel computes the same in the
    browser, js/lib/stats.js, proven equal by tests/widgets/test_history_parity.py).

    Counts
      ``batches``; ``by_status`` (every status of ``facts.STATUSES``, 0 included); ``active`` (batches in
      ``facts.ACTIVE_STATUSES``); ``total_requests``, ``completed_requests`` (requests that **succeeded**) and
      ``failed_requests``, summed over every batch. A request is *done* once it succeeded or failed.
    Rates, over every batch's done requests
      ``success_rate`` = succeeded / done, ``failure_rate`` = failed / done; ``None`` when nothing is done.
      Requests a cancelled or expired batch never ran are in neither.
    Processing time, over the ``finished_batches``: terminal batches with a creation and an end time
      Seconds from ``created_at`` to the terminal status (``ended_at``); ``mean_processing_seconds`` and
      ``median_processing_seconds`` (the middle value, or the mean of the two middle ones); ``None`` when none.
    Throughput, over the finished batches that took more than 0 s
      ``throughput_rps`` = their done requests / their processing seconds (summed, then divided).
    Cost, over the ``priced_batches`` (those whose cost is known, see ``pricing.batch_cost``)
      ``total_cost`` = the exactly rounded sum of their costs (``math.fsum``: the same in any order);
      ``cost_per_batch`` = total / priced batches; ``cost_per_request`` = total / the succeeded requests of
      the priced batches. ``None`` when nothing is priced (or, per request, nothing succeeded).
      ``cost_sources`` counts batches per source; ``cost_is_estimate`` is True when any cost is an estimate.
    """
    statuses = frame["status"].value_counts()
    by_status = {s: int(statuses.get(s, 0)) for s in STATUSES}
    succeeded_per_batch = frame["completed_requests"].to_numpy()
    failed_per_batch = frame["failed_requests"].to_numpy()
    completed = int(succeeded_per_batch.sum())
    failed = int(failed_per_batch.sum())
    done = completed + failed
    seconds = frame["total_seconds"].to_numpy()
    finished = ~np.isnan(seconds)
    busy = finished & (seconds > 0)
    cost = frame["cost"].to_numpy()
    priced = ~np.isnan(cost)
    sources = frame["cost_source"].value_counts()
    total_cost = math.fsum(cost[priced].tolist()) if priced.any() else None
    priced_succeeded = int(succeeded_per_batch[priced].sum())
    times = np.sort(seconds[finished])
    n = len(times)
    median = None if not n else float(times[n // 2]) if n % 2 else (float(times[n // 2 - 1]) + float(times[n // 2])) / 2
    return {
        "batches": int(len(frame)),
        "by_status": by_status,
        "active": int(sum(by_status[s] for s in ACTIVE_STATUSES)),
        "total_requests": int(frame["total_requests"].sum()),
        "completed_requests": completed,
        "failed_requests": failed,
        "success_rate": completed / done if done else None,
        "failure_rate": failed / done if done else None,
        "finished_batches": n,
        "mean_processing_seconds": float(times.sum()) / n if n else None,
        "median_processing_seconds": median,
        "throughput_rps": int((succeeded_per_batch + failed_per_batch)[busy].sum()) / float(seconds[busy].sum())
        if busy.any()
        else None,
        "priced_batches": int(priced.sum()),
        "total_cost": total_cost,
        "cost_per_batch": total_cost / int(priced.sum()) if total_cost is not None else None,
        "cost_per_request": total_cost / priced_succeeded if total_cost is not None and priced_succeeded else None,
        "cost_sources": {str(k): int(v) for k, v in sources.items()},
        "cost_is_estimate": bool(sources.get("estimate", 0)),
    }


#: Text columns of the CSV export whose cells are defused when they start like a spreadsheet formula.
_TEXT_COLUMNS = (*_STRING_COLUMNS, "tags", "metadata")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(text: Any) -> Any:
    """A cell a spreadsheet would run as a formula gets a leading ``'`` (the browser's export does the same)."""
    return "'" + text if isinstance(text, str) and text.startswith(_FORMULA_START) else text


def frame_for_export(frame: pd.DataFrame, *, csv: bool = False) -> pd.DataFrame:
    """Flat columns for a file: tags comma-joined, metadata (without ``facts.HIDDEN_KEYS``) as JSON text.

    ``csv=True`` also defuses text cells that start like a spreadsheet formula (``= + - @``, tab, CR)."""
    out = frame.copy()
    out["tags"] = [TAGS_SEPARATOR.join(t) if t is not None else "" for t in out["tags"]]
    out["metadata"] = [json.dumps(visible_metadata(m), ensure_ascii=False) if m else "" for m in out["metadata"]]
    if csv:
        for name in _TEXT_COLUMNS:
            if name in out.columns:
                out[name] = out[name].astype(object).map(_defuse)
    return out
