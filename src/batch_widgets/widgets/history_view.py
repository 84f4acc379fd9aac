"""History & analytics panel: every known batch, filtered, sorted and charted in the browser.

The kernel sends the rows ONCE as a compact columnar dict (``_history_rows``: one list per field, statuses and
endpoints as small integer codes) and afterwards only the rows that changed (``_history_patch``). The browser
filters, sorts, pages and charts them itself, so a keystroke never waits for the kernel; it syncs its filter
state back (``_history_filters``) so ``to_dataframe()`` returns the rows the user is looking at.
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Optional

import traitlets as t

from .. import facts
from ..facts import BATCH_TIMESTAMP_FIELDS, visible_metadata
from ..jobs import job_id_of, job_position
from ..models import Batch, BatchStatus
from ._columnar import pack_columns
from .base import BatchWidgetBase, log
from .rowsync import RowSyncMixin, RowTable, snapshot_trait

#: Status codes in the columnar rows: the index in this tuple.
STATUSES: tuple[str, ...] = facts.STATUSES
COST_SOURCES: tuple[str, ...] = facts.COST_SOURCES
FILTER_KEYS = ("statuses", "search", "endpoint", "since", "until", "connection")
#: Past this many changed rows since the snapshot, a fresh snapshot is sent instead of a bigger patch.
PATCH_FOLD_ROWS = 500
#: From this many rows on, rows travel packed: typed arrays in one binary message buffer (widgets/_columnar.py),
#: ~1/3 of the JSON; fewer (a patch, a short history) stay plain JSON.
PACK_ROWS = 1_000
#: The lists of encode_rows that are not one value per row (code tables).
_TABLES = ("statuses", "endpoints", "jobs", "cost_sources", "connections", "time_fields")


#: Timestamp fields sent per row, by their API names (the browser derives the end time from the status).
TIME_FIELDS = BATCH_TIMESTAMP_FIELDS


def encode_rows(batches: Iterable[Batch]) -> dict[str, Any]:
    """Batches -> the compact columnar dict the browser decodes (js/panels/history.js ``decodeRows``).

    Every column the History panel needs for its table, its statistics and its CSV export (which equal
    ``BatchHistory.stats()`` and ``to_csv()``): statuses, endpoints, cost sources and connections as small
    integer codes; the cost is ``pricing.batch_cost``'s, at full precision.
    """
    from ..pricing import batch_cost, batch_usage

    batches = list(batches)
    endpoints = sorted({b.endpoint for b in batches if b.endpoint})
    connections = sorted({c for b in batches if (c := (b.model_extra or {}).get("connection"))})
    conn_code = {c: i for i, c in enumerate(connections)}
    ep_code = {e: i for i, e in enumerate(endpoints)}
    st_code = {s: i for i, s in enumerate(STATUSES)}
    src_code = {s: i for i, s in enumerate(COST_SOURCES)}
    # A job's batches carry its id (coded), part and round: the browser folds them into one row per job.
    job_ids = [job_id_of(b) for b in batches]
    jobs = sorted({j for j in job_ids if j})
    job_code = {j: i for i, j in enumerate(jobs)}
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "desc",
            "tags",
            "status",
            "endpoint",
            "model",
            "total",
            "completed",
            "failed",
            *TIME_FIELDS,
            "cost",
            "cost_source",
            "conn",
            "input_file",
            "output_file",
            "error_file",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "meta",
            "job",
            "part",
            "round",
        )
    }
    times = [cols[name] for name in TIME_FIELDS]
    for b, job in zip(batches, job_ids, strict=True):
        meta = b.metadata or {}
        counts = b.request_counts
        cost, source = batch_cost(b)
        shown = visible_metadata(meta)
        cols["id"].append(b.id)
        cols["desc"].append(meta.get(facts.DESCRIPTION_KEY) or "")
        cols["tags"].append(facts.TAGS_SEPARATOR.join(b.tags))
        cols["status"].append(st_code[b.status.value])
        cols["endpoint"].append(ep_code.get(b.endpoint or "", -1))
        cols["model"].append(b.model or "")
        cols["total"].append(counts.total)
        cols["completed"].append(counts.completed)
        cols["failed"].append(counts.failed)
        for column, name in zip(times, TIME_FIELDS, strict=True):
            column.append(getattr(b, name))
        cols["cost"].append(cost)
        cols["cost_source"].append(src_code.get(source, src_code["unknown"]))
        cols["conn"].append(conn_code.get((b.model_extra or {}).get("connection") or "", -1))
        cols["input_file"].append(b.input_file_id or "")
        cols["output_file"].append(b.output_file_id or "")
        cols["error_file"].append(b.error_file_id or "")
        tokens = batch_usage(b) or (None, None, None)
        for name, value in zip(("input_tokens", "output_tokens", "cached_tokens"), tokens, strict=True):
            cols[name].append(value)
        # The metadata cell of the export, as Python writes it (key order and JSON spacing included).
        cols["meta"].append(json.dumps(shown, ensure_ascii=False) if shown else "")
        part, _parts, round_ = job_position(b) if job else (0, 0, 0)
        cols["job"].append(job_code[job] if job else -1)
        cols["part"].append(part)
        cols["round"].append(round_)
    return {
        "n": len(batches),
        "statuses": list(STATUSES),
        "endpoints": endpoints,
        "jobs": jobs,
        "cost_sources": list(COST_SOURCES),
        "connections": connections,
        "time_fields": list(TIME_FIELDS),
        **cols,
    }


def encode_history(batches: Iterable[Batch]) -> dict[str, Any]:
    """What the History traits carry: :func:`encode_rows`, packed into binary columns from PACK_ROWS rows on
    (js/panels/history.js unpacks it with ``unpackColumns`` before ``decodeRows``)."""
    cols = encode_rows(batches)
    if cols["n"] < PACK_ROWS:
        return cols
    names = [k for k, v in cols.items() if isinstance(v, list) and len(v) == cols["n"] and k not in _TABLES]
    # Times are stored as seconds after creation (small numbers), the creation times as steps between rows.
    return pack_columns(cols, names, relative={f: "created_at" for f in TIME_FIELDS if f != "created_at"})


def normalize_filters(raw: Any) -> dict[str, Any]:
    """The browser's filter dict, checked: unknown statuses, bad dates and wrong types raise ValueError."""
    raw = dict(raw or {})
    unknown = set(raw) - set(FILTER_KEYS)
    if unknown:
        raise ValueError(f"unknown history filter(s) {sorted(unknown)}; known: {list(FILTER_KEYS)}")
    raw_statuses = raw.get("statuses") or []
    if not isinstance(raw_statuses, (list, tuple)):
        raise ValueError(f"history filter 'statuses' must be a list, got {type(raw_statuses).__name__}")
    statuses = [BatchStatus.parse(s).value for s in raw_statuses]
    out = {
        "statuses": [s for s in STATUSES if s in statuses],
        "search": str(raw.get("search") or ""),
        "endpoint": str(raw.get("endpoint") or ""),
        "since": "",
        "until": "",
        "connection": str(raw.get("connection") or ""),
    }
    for key in ("since", "until"):
        value = raw.get(key) or ""
        if isinstance(value, (date, datetime)):
            value = value.strftime("%Y-%m-%d")
        if value:
            try:
                date.fromisoformat(str(value))
            except ValueError:
                raise ValueError(f"history filter {key!r} must be a date YYYY-MM-DD, got {value!r}") from None
        out[key] = str(value)
    return out


def _day_start(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def history_filter_args(f: dict[str, Any]) -> dict[str, Any]:
    """The panel's filters as ``BatchHistory.filter`` arguments: the same rows the browser shows.

    Dates are whole UTC days, ``until`` inclusive (so it becomes the next day's midnight, exclusive).
    """
    return {
        "status": f["statuses"] or None,
        "search": f["search"].strip() or None,
        "endpoint": f["endpoint"] or None,
        "connection": f.get("connection") or None,
        "since": _day_start(f["since"]) if f["since"] else None,
        "until": _day_start(f["until"]) + 86400 if f["until"] else None,
    }


class HistoryMixin(RowSyncMixin):
    """Traits and handlers of the History & analytics panel; composed by ``BatchHistoryView`` and the dashboard.

    The host connects its store first (``_connect_store``), then calls ``_history_setup()``. Its
    ``_store_changed`` reaches ``_history_store_changed`` (the mixin extends the hook with super()).
    """

    #: Every batch, by id, synced by the one row-sync protocol (widgets/rowsync.py): the snapshot, columnar
    #: (encode_history: packed binary columns from PACK_ROWS rows) with a "version", is current whenever a front
    #: end asks and is sent after a load or a change of more than PATCH_FOLD_ROWS rows; the patch carries the
    #: batches of one change (same columns).
    _history_rows = snapshot_trait()
    _history_patch = t.Dict().tag(sync=True)
    #: The browser's filters: {statuses, search, endpoint, since, until} (dates YYYY-MM-DD, UTC).
    _history_filters = t.Dict().tag(sync=True)
    _history_analytics = t.Bool(False).tag(sync=True)
    _history_loading = t.Bool(False).tag(sync=True)

    def _history_setup(self, *, on_open: Optional[Callable[[str], Any]] = None, load: bool = True) -> None:
        #: Called with a batch id when a row's "Details" is clicked (the "history_open" action).
        self.on_open = on_open
        self._history_loader: Optional[threading.Thread] = None
        self._history_timer: Optional[threading.Timer] = None
        self._history_lock = threading.Lock()
        self._history_rows = RowTable(encode_history, fold_rows=PATCH_FOLD_ROWS)
        if load:
            self._history_load()

    def _history_load(self, retry_delay: float = 1.0) -> None:
        """Read every page once in a worker (a long history must not block the cell), then send all rows.

        A failed load is shown as a banner and tried again after ``retry_delay`` seconds, doubling up to the
        store's backoff cap, until it succeeds or the widget is closed."""
        store = self._store
        if store is None:
            return
        self._history_loading = True

        def retry() -> None:  # on the Timer's thread: the load itself starts on the writing thread
            if self._subscription is not None:  # not closed meanwhile
                self._write(self._history_load, min(retry_delay * 2, store.max_backoff))

        def run() -> None:
            try:
                store.load_all()
            except Exception as exc:  # shown as a banner; the rows already known are still sent
                log.warning("batch_widgets: loading the history failed: %s", exc)
                # A store-type banner: the next good refresh (the retry, or the poller's) clears it.
                self._set(_banner=f"Loading the batch history failed: {exc}", _banner_from_store=True)
                self._history_timer = threading.Timer(retry_delay, retry)
                self._history_timer.daemon = True
                self._history_timer.start()
            finally:
                self._write(self._history_loaded)

        self._history_loader = threading.Thread(target=run, name="batch_widgets-history", daemon=True)
        self._history_loader.start()

    def _history_loaded(self) -> None:
        # Under the lock, so a store event lands either before the snapshot (and is in it) or after
        # loading ends (and goes out as a patch): none is lost between the two.
        with self._history_lock:
            self._history_snapshot(self._store.batches() if self._store is not None else [])
            self._history_loading = False

    def close(self) -> None:
        """Close the widget; a pending retry of a failed history load is dropped."""
        timer = getattr(self, "_history_timer", None)
        if timer is not None:
            timer.cancel()
        super().close()

    def _store_changed(self, event: Any) -> None:
        self._history_store_changed(event)
        parent = getattr(super(), "_store_changed", None)
        if parent is not None:
            parent(event)

    def _history_store_changed(self, event: Any) -> None:
        if not event.changed:
            return
        lock = getattr(self, "_history_lock", None)
        if lock is None:
            return  # not set up yet: the first load sends every row
        with lock:
            if self._history_loading:  # the full rows sent at the end of the load carry these
                return
            self._sync_change("_history_rows", "_history_patch", {b.id: b for b in event.changed})

    def _history_snapshot(self, batches: list) -> None:
        """Every row anew, sent whole (call with the lock held)."""
        self._history_rows.replace({b.id: b for b in batches})
        self._sync_all("_history_rows", "_history_patch")

    def _poll_wants(self) -> Optional[float]:
        """While a batch in the history is active, its row needs refreshing (the list's interval)."""
        from ..store import LIST_INTERVAL

        store = self._store
        mine = LIST_INTERVAL if store is not None and store.active() else None
        parent = super()._poll_wants()
        return min((i for i in (mine, parent) if i is not None), default=None)

    def _on_history_open(self, msg: dict, _buffers: list) -> None:
        batch_id = msg.get("id")
        if not isinstance(batch_id, str) or not batch_id:
            return
        self._history_open(batch_id)

    def _history_open(self, batch_id: str) -> None:
        """Hook: the user asked to open a batch's details (the dashboard switches to its details view)."""
        if self.on_open is not None:
            self.on_open(batch_id)

    # -- Python API --------------------------------------------------------------------------------------------
    @property
    def filters(self) -> dict[str, Any]:
        """The filters shown in the panel now."""
        return normalize_filters(self._history_filters)

    def set_filters(self, **filters: Any) -> None:
        """Set filters from Python (the panel follows): statuses=[...], search=, endpoint=, since=, until=."""
        if isinstance(filters.get("statuses"), str):
            filters["statuses"] = [filters["statuses"]]
        self._history_filters = normalize_filters({**self.filters, **filters})

    def clear_filters(self) -> None:
        self._history_filters = normalize_filters({})

    def history(self) -> Any:
        """The panel's rows as a :class:`~batch_widgets.history.BatchHistory`, narrowed by its filters."""
        from ..history import BatchHistory

        batches = self._store.batches() if self._store is not None else []
        return BatchHistory.from_batches(batches).filter(**history_filter_args(self.filters))

    def to_dataframe(self) -> Any:
        """The rows matching the panel's current filters, as a DataFrame (one typed row per batch)."""
        return self.history().to_dataframe()

    def wait_loaded(self, timeout: Optional[float] = None) -> None:
        """Block until the first load of the history is done (scripts and tests)."""
        loader = self._history_loader
        if loader is not None:
            loader.join(timeout)


class BatchHistoryView(HistoryMixin, BatchWidgetBase):
    """Every batch of this connection: filters, a sortable table, analytics charts and CSV/DataFrame export.

    ``on_open(batch_id)`` is called when a row's "Details" is clicked (the dashboard opens its details view).
    """

    def __init__(self, client: Any = None, *, on_open: Optional[Callable[[str], Any]] = None, **kwargs: Any) -> None:
        super().__init__(_view="history", **kwargs)
        self._connect_store(client)
        self._history_setup(on_open=on_open)

    def _history_open(self, batch_id: str) -> None:
        super()._history_open(batch_id)
        if self.on_open is None:
            self._show_notice(f"Open it with BatchDetails({batch_id!r})", "info")
