"""The Active list: running batches with live progress, plus recently finished ones until dismissed."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Optional

import traitlets as t

from ..jobs import job_id_of
from ..models import Batch
from ..store import LIST_INTERVAL, StoreEvent
from ._rows import batch_row, job_row, validation_summary
from .base import BatchWidgetBase, log, min_interval, positive_seconds
from .rowsync import RowSyncMixin, RowTable, snapshot_trait

#: Batches that ended this recently (seconds) are shown when a list opens, so a just-finished run is visible.
RECENT_SECONDS = 15 * 60
#: Past this many rows in the cumulative patch, the whole (short) list is sent instead and the patch starts afresh.
PATCH_FOLD_ROWS = 50


def _encode_rows(rows: list[dict]) -> dict[str, Any]:
    """The Active list's rows as they travel (snapshot and patch): ``{"rows": {id: row}}``."""
    return {"rows": {row["id"]: row for row in rows}}


class ActiveListMixin(RowSyncMixin):
    """Traits and handlers of the Active panel; composed by ``BatchList`` and ``BatchDashboard``."""

    #: id -> compact row (see _rows.batch_row): the rows on show. Synced by the one row-sync protocol
    #: (widgets/rowsync.py): a snapshot always current when a front end asks, and a cumulative patch.
    _rows = snapshot_trait()
    _rows_patch = t.Dict().tag(sync=True)  # {"version", "base", "drop": [ids], "rows": {id: row}}
    #: False until the first refresh has answered (the view shows a loading state, not "no batches").
    _loaded = t.Bool(False).tag(sync=True)
    #: Seconds between polls while a listed batch is active.
    poll_interval = t.Float(LIST_INTERVAL)

    def _list_setup(
        self,
        *,
        on_complete: Optional[Callable[[Batch], Any]] = None,
        poll_interval: float = LIST_INTERVAL,
        recent_seconds: float = RECENT_SECONDS,
    ) -> None:
        self.on_complete = on_complete
        self.poll_interval = poll_interval
        self._recent_seconds = recent_seconds
        self._dismissed: set[str] = set()
        self._rows = RowTable(_encode_rows, fold_rows=PATCH_FOLD_ROWS)
        self._rows_lock = self._rows.lock
        #: job id -> its batches: a job is one row (keyed by the job id) that expands to them.
        self._job_members: dict[str, dict[str, Batch]] = {}

    def _rows_apply(self, changed: dict[str, Any], dropped: list[str], *, whole: bool = False) -> None:
        """Change the rows on show and send the views the patch (``whole``: the snapshot, after a load)."""
        self._sync_change("_rows", "_rows_patch", changed, dropped, whole=whole)

    @t.validate("poll_interval")
    def _valid_poll_interval(self, proposal: Any) -> float:
        return positive_seconds("poll_interval", proposal["value"])

    @t.observe("poll_interval")
    def _poll_interval_changed(self, _change: Any) -> None:
        store = getattr(self, "_store", None)
        if store is not None:
            store.wake()

    # -- what is shown ---------------------------------------------------------------------------------------
    def _list_wants(self, batch: Batch, now: float) -> bool:
        if batch.id in self._dismissed:
            return False
        if batch.is_active or batch.id in self._rows:
            return True  # a listed batch that finished stays until dismissed
        ended = batch.ended_at
        return ended is not None and now - ended <= self._recent_seconds

    def _job_wants(self, job_id: str, members: list[Batch], now: float) -> bool:
        if job_id in self._dismissed:
            return False
        if job_id in self._rows or any(b.is_active for b in members):
            return True
        ended = max((b.ended_at or 0 for b in members), default=0)
        return now - ended <= self._recent_seconds

    def _list_update(self, batches: Iterable[Batch], *, whole: bool = False) -> bool:
        """Add/replace rows for these batches; send a patch only if some row really changed."""
        store = self._store
        now = time.time()
        finished_jobs: list[dict] = []
        with self._rows_lock:
            changed: dict[str, Any] = {}
            jobs: set[str] = set()
            for batch in batches:
                job_id = job_id_of(batch)
                if job_id:  # shown in its job's row
                    self._job_members.setdefault(job_id, {})[batch.id] = batch
                    jobs.add(job_id)
                    continue
                if not self._list_wants(batch, now):
                    continue
                row = batch_row(batch, store.seen_at(batch.id) if store else None)
                if self._rows.get(batch.id) != row:
                    changed[batch.id] = row
            for job_id in jobs:
                members = list(self._job_members[job_id].values())
                if not self._job_wants(job_id, members, now):
                    continue
                seen = max((store.seen_at(b.id) or 0 for b in members), default=0) if store else 0
                row = job_row(job_id, members, seen or None)
                old = self._rows.get(job_id)
                if old != row:
                    changed[job_id] = row
                    if old and old["status"] == "in_progress" and row["status"] != "in_progress":
                        finished_jobs.append(row)
            if not changed:
                return False
            self._rows_apply(changed, [], whole=whole)
        for row in finished_jobs:
            name = row["description"] or row["id"]
            text = f"Job {name} {row['status']}: {row['completed']:,} of {row['total']:,} requests succeeded" + (
                f", {row['failed']:,} failed" if row["failed"] else ""
            )
            ok = row["status"] == "completed" and not row["failed"]
            self._show_notice(text, "success" if ok else "warning")
        return True

    def _list_load(self) -> None:
        if self._store is not None and self._store.loaded:
            self._list_update(self._store.batches(), whole=True)
            self._loaded = True

    def _store_changed(self, event: StoreEvent) -> None:
        super()._store_changed(event)
        if self._store is not None and self._store.loaded and not self._loaded:
            self._list_load()
        elif event.changed:
            self._list_update(event.changed)
        finished = [b for b in event.finished if b.id in self._rows]
        if finished:
            self._list_finished(finished)

    def _list_finished(self, batches: list[Batch]) -> None:
        if len(batches) == 1:
            b = batches[0]
            counts = b.request_counts
            if b.failed_validation:
                text = f"Batch {b.label} failed validation: {validation_summary(b)}"
            else:
                text = f"Batch {b.label} {b.status.value}: {counts.completed} of {counts.total} requests succeeded"
                if counts.failed:
                    text += f", {counts.failed} failed"
        else:
            names = ", ".join(
                f"{b.label} ({'failed validation' if b.failed_validation else b.status.value})" for b in batches
            )
            text = f"{len(batches)} batches finished: {names}"
        ok = all(b.status.value == "completed" and not b.request_counts.failed for b in batches)
        self._show_notice(text, "success" if ok else "warning")
        callback = self.on_complete
        if callback is None:
            return
        for batch in batches:
            try:
                callback(batch)
            except Exception as exc:  # noqa: BLE001 - the user's callback must not stop the poller
                log.exception("batch_widgets: on_complete callback failed")
                self._show_error(f"on_complete({batch.id}) raised {type(exc).__name__}: {exc}")

    def _poll_wants(self) -> Optional[float]:
        mine = None
        rows = getattr(self, "_rows", None) or {}
        store = self._store
        running_job = any(r.get("kind") == "job" and r["status"] == "in_progress" for r in rows.values())
        if store is not None and (
            not store.loaded or running_job or any((b := store.get(i)) is not None and b.is_active for i in rows)
        ):
            mine = self.poll_interval
        return min_interval(mine, super()._poll_wants())

    # -- actions -----------------------------------------------------------------------------------------------
    def _on_cancel(self, msg: dict, buffers: list) -> None:
        """A job's id among the ids cancels every batch of that job still running."""
        ids = msg.get("ids")
        members = getattr(self, "_job_members", {})
        if isinstance(ids, list) and any(i in members for i in ids if isinstance(i, str)):
            expanded: list[str] = []
            for i in ids:
                if isinstance(i, str) and i in members:
                    expanded += [b.id for b in members[i].values() if b.is_active and b.status.value != "cancelling"]
                else:
                    expanded.append(i)
            if not expanded:
                self._show_notice("Nothing of that job is running any more", "info")
                return
            msg = {**msg, "ids": expanded}
        super()._on_cancel(msg, buffers)

    def _on_dismiss(self, msg: dict, _buffers: list) -> None:
        """{"action": "dismiss", "ids": [...]} hides finished batches; {"ids": "finished"} hides all of them."""
        ids = msg.get("ids")
        with self._rows_lock:
            rows = self._rows
            if ids == "finished":
                ids = [i for i, row in rows.items() if row.get("ended") is not None]
            if not isinstance(ids, list):
                return
            gone = [i for i in ids if isinstance(i, str) and i in rows and rows[i].get("ended") is not None]
            if gone:
                self._dismissed.update(gone)
                self._rows_apply({}, gone)


class BatchList(ActiveListMixin, BatchWidgetBase):
    """Live list of running batches (and recently finished ones until dismissed).

    ``on_complete(batch)`` is called (from the polling thread) when a listed batch finishes.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        on_complete: Optional[Callable[[Batch], Any]] = None,
        poll_interval: float = LIST_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(_view="list", **kwargs)
        self._list_setup(on_complete=on_complete, poll_interval=poll_interval)
        store = self._connect_store(client)
        store.ensure_loaded()
        self._list_load()

    def refresh(self) -> None:
        """Re-read the list now (the poller does this on its own while something is running)."""
        assert self._store is not None
        self._store.refresh()

    @property
    def batches(self) -> list[Batch]:
        """The batches on show, newest first."""
        assert self._store is not None
        return [b for b in self._store.batches() if b.id in self._rows]
