"""One row-sync protocol for every panel that sends rows (the Active list, the History panel).

Two synced traits per panel:

- the **snapshot** trait holds a :class:`RowTable`, the kernel's current rows. It is serialized lazily, by its
  ``to_json``, whenever a front end needs the whole state (a widget displayed, a page reloaded, a notebook's
  widget state saved), so it is always current: ``{"version": v, **encode(every row)}``. Its value object never
  changes, so keeping it current sends nothing; it is sent on purpose only when many rows change at once.
- the **patch** trait carries a change: ``{"version": v, **encode(rows)}``, plus ``"drop": [keys]`` for removed
  rows. A front end keeps only a trait's latest value until its view code has started (anywidget loads the ESM
  after the model exists), so patches that come meanwhile collapse into the last one. For
  ``CUMULATIVE_SECONDS`` after the snapshot was last serialized (a front end being created from it) the patch
  is therefore cumulative, every row changed since that snapshot, so its latest value alone brings the
  snapshot up to date; after that every front end follows each patch, and a patch carries its own change
  only. Past ``fold_rows`` rows the whole snapshot is sent instead. Versions only grow (one counter per process).

The browser (js/lib/rows.js ``syncRows``, started when the model is created) applies each patch whose version is
newer than the rows it holds. A view drawn later (a tab opened later, a second view) reads those rows; a page
loaded later starts from the current snapshot. An unchanged tick sends nothing; while one batch moves, its row
is what travels. ``encode`` is the one place that decides how rows travel (JSON columns today; binary buffers
work too).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import traitlets as t

from .base import PanelMixinBase

__all__ = ["RowTable", "snapshot_trait"]

Encode = Callable[[list[Any]], dict[str, Any]]
_versions = itertools.count(1)  # process-wide, so a version never repeats across tables or reloads
#: How long after the snapshot is serialized the patch stays cumulative: a front-end model created from it starts
#: following patches once its ESM has loaded, well within this.
CUMULATIVE_SECONDS = 30.0


class RowTable(Mapping[str, Any]):
    """Key -> item (a row dict, a Batch), versioned; a read-only mapping for the panel's code."""

    def __init__(
        self, encode: Encode, *, fold_rows: Optional[int] = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._encode = encode
        self._rows: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.version = next(_versions)
        #: Past this many rows in the patch, the whole snapshot is sent instead (None: never).
        self.fold_rows = fold_rows
        self.clock = clock
        # What the cumulative patch carries: rows changed and keys dropped since the snapshot was serialized.
        self._since: dict[str, Any] = {}
        self._dropped_since: set[str] = set()
        self._cumulative_until = clock() + CUMULATIVE_SECONDS

    # -- Mapping
    def __getitem__(self, key: str) -> Any:
        return self._rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def snapshot(self) -> dict[str, Any]:
        """The whole table as the browser reads it: ``{"version", **encode(rows)}``."""
        with self._lock:
            self.sent_whole()
            return {"version": self.version, **self._encode(list(self._rows.values()))}

    def empty_patch(self) -> dict[str, Any]:
        """A patch with no rows, already part of the current snapshot."""
        with self._lock:
            return {"version": self.version, **self._encode([])}

    def replace(self, items: Mapping[str, Any]) -> None:
        """Every row anew (a first load); the caller sends the snapshot (:meth:`RowSyncMixin`'s ``_sync_all``)."""
        with self._lock:
            self._rows = dict(items)
            self.version = next(_versions)
            self.sent_whole()

    def sent_whole(self) -> None:
        """The snapshot is being serialized (a front end starts from it): the cumulative patch starts afresh."""
        with self._lock:
            self._since.clear()
            self._dropped_since.clear()
            self._cumulative_until = self.clock() + CUMULATIVE_SECONDS

    def change(self, changed: Mapping[str, Any], dropped: Iterable[str] = ()) -> Optional[dict[str, Any]]:
        """Apply a change; return the patch to send (cumulative while a front end may be starting), None when
        nothing changed, or ``{}`` when the patch would pass ``fold_rows`` rows (then send the snapshot instead)."""
        with self._lock:
            changed = {k: v for k, v in changed.items() if k not in self._rows or self._rows[k] != v}
            dropped = [k for k in dropped if k in self._rows and k not in changed]
            if not changed and not dropped:
                return None
            self._rows.update(changed)
            for key in dropped:
                del self._rows[key]
            self.version = next(_versions)
            if self.clock() < self._cumulative_until:  # a front end may still be starting: carry every change
                for key in dropped:
                    self._since.pop(key, None)
                self._since.update(changed)
                self._dropped_since.difference_update(changed)
                self._dropped_since.update(dropped)
                rows, drop = list(self._since.values()), sorted(self._dropped_since)
            else:
                self._since.clear()
                self._dropped_since.clear()
                rows, drop = list(changed.values()), dropped
            if self.fold_rows is not None and len(rows) > self.fold_rows:
                return {}
            patch = {"version": self.version, **self._encode(rows)}
            return {**patch, "drop": drop} if drop else patch


def _snapshot_json(table: Optional[RowTable], _widget: Any) -> dict[str, Any]:
    return table.snapshot() if table is not None else {}


def snapshot_trait() -> Any:
    """A synced trait holding a :class:`RowTable`, serialized (lazily, always current) as its snapshot."""
    return t.Instance(RowTable, allow_none=True).tag(sync=True, to_json=_snapshot_json)


class RowSyncMixin(PanelMixinBase):
    """Sends a panel's RowTable changes: ``_sync_change(snapshot_name, patch_name, changed, dropped)``."""

    def _sync_change(
        self,
        table_trait: str,
        patch_trait: str,
        changed: Mapping[str, Any],
        dropped: Iterable[str] = (),
        *,
        whole: bool = False,
    ) -> bool:
        """Apply a change to the table in ``table_trait`` and send it (``whole``: as the snapshot, e.g. after a
        first load); True if something changed."""
        table: RowTable = getattr(self, table_trait)
        with table.lock:
            patch = table.change(changed, dropped)
            if patch is None:
                return False
            if patch and not whole:
                setattr(self, patch_trait, patch)
            else:
                self._sync_all(table_trait, patch_trait)
        return True

    def _sync_all(self, table_trait: str, patch_trait: str) -> None:
        """Send the whole table (after a load, or a change too big for a patch) and an empty patch on it."""
        table: RowTable = getattr(self, table_trait)
        with table.lock, self.hold_sync():
            self.send_state(table_trait)  # serializes the snapshot: the cumulative patch starts afresh
            setattr(self, patch_trait, table.empty_patch())
