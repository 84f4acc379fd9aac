"""One row-sync protocol for every panel that sends rows (the Active list, the History panel).

Two synced traits per panel:

- the **snapshot** trait holds a :class:`RowTable`, the kernel's current rows. It is serialized lazily, by its
  ``to_json``, whenever a front end needs the whole state (a widget displayed, a page reloaded, a notebook's
  widget state saved), so it is always current: ``{"version": v, **encode(every row)}``. Its value object never
  changes, so keeping it current sends nothing; it is sent on purpose only when many rows change at once.
- the **patch** trait carries one change: ``{"version": v, **encode(rows)}``, plus ``"drop": [keys]`` when it
  removes rows. Versions only grow (one counter per process).

The browser (js/lib/rows.js ``syncRows``, started when the model is created) applies each patch whose version is
newer than the rows it holds. A view drawn later (a tab opened later, a second view) reads those rows; a page
loaded later starts from the current snapshot. An unchanged tick sends nothing; a batch that moved sends its
row only. ``encode`` is the one place that decides how rows travel (JSON columns today; binary buffers work too).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import traitlets as t

from .base import PanelMixinBase

__all__ = ["RowTable", "snapshot_trait"]

Encode = Callable[[list[Any]], dict[str, Any]]
_versions = itertools.count(1)  # process-wide, so a version never repeats across tables or reloads


class RowTable(Mapping[str, Any]):
    """Key -> item (a row dict, a Batch), versioned; a read-only mapping for the panel's code."""

    def __init__(self, encode: Encode, *, fold_rows: Optional[int] = None) -> None:
        self._encode = encode
        self._rows: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.version = next(_versions)
        #: Past this many rows in one change, the whole snapshot is sent instead of a patch (None: never).
        self.fold_rows = fold_rows

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

    def change(self, changed: Mapping[str, Any], dropped: Iterable[str] = ()) -> Optional[dict[str, Any]]:
        """Apply a change; return the patch that carries it, None when nothing changed, or ``{}`` when the change
        is bigger than ``fold_rows`` (then send the snapshot instead)."""
        with self._lock:
            changed = {k: v for k, v in changed.items() if k not in self._rows or self._rows[k] != v}
            dropped = [k for k in dropped if k in self._rows and k not in changed]
            if not changed and not dropped:
                return None
            self._rows.update(changed)
            for key in dropped:
                del self._rows[key]
            self.version = next(_versions)
            if self.fold_rows is not None and len(changed) > self.fold_rows:
                return {}
            patch = {"version": self.version, **self._encode(list(changed.values()))}
            return {**patch, "drop": dropped} if dropped else patch


def _snapshot_json(table: Optional[RowTable], _widget: Any) -> dict[str, Any]:
    return table.snapshot() if table is not None else {}


def snapshot_trait() -> Any:
    """A synced trait holding a :class:`RowTable`, serialized (lazily, always current) as its snapshot."""
    return t.Instance(RowTable, allow_none=True).tag(sync=True, to_json=_snapshot_json)


class RowSyncMixin(PanelMixinBase):
    """Sends a panel's RowTable changes: ``_sync_change(snapshot_name, patch_name, changed, dropped)``."""

    def _sync_change(
        self, table_trait: str, patch_trait: str, changed: Mapping[str, Any], dropped: Iterable[str] = ()
    ) -> bool:
        """Apply a change to the table in ``table_trait`` and send it; True if something changed."""
        table: RowTable = getattr(self, table_trait)
        with table.lock:
            patch = table.change(changed, dropped)
            if patch is None:
                return False
            if patch:
                setattr(self, patch_trait, patch)
            else:
                self._sync_all(table_trait, patch_trait)
        return True

    def _sync_all(self, table_trait: str, patch_trait: str) -> None:
        """Send the whole table (after a load, or a change too big for a patch) and an empty patch on it."""
        table: RowTable = getattr(self, table_trait)
        with table.lock, self.hold_sync():
            self.send_state(table_trait)
            setattr(self, patch_trait, table.empty_patch())
