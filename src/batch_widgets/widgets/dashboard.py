"""BatchDashboard: the Active, Create and History & Analytics panels in one widget, sharing one store.

Each panel is a mixin (traits + ``_on_<action>`` handlers); the dashboard adds tabs and navigation (a row
opens its details, back returns). The view switches tabs and opens details by setting ``_tab`` and
``_detail_id``; Python can do the same with :meth:`show` and :meth:`open_batch`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import traitlets as t

from ..models import Batch
from ..store import DETAILS_INTERVAL, LIST_INTERVAL
from .active_list import ActiveListMixin
from .base import BatchWidgetBase
from .create import CreateMixin
from .details import DetailsMixin
from .history_view import HistoryMixin

TABS = ("active", "create", "history")


class BatchDashboard(HistoryMixin, CreateMixin, DetailsMixin, ActiveListMixin, BatchWidgetBase):
    """Live batch dashboard: Active (with details), Create, History & Analytics.

    ``clients={"OpenAI": c1, "Claude": c2}`` shows several connections at once: the Active list and History gain
    a connection column and filter, each connection keeps its own poller, and a failing connection shows its own
    banner line while the others go on. The Create tab submits through the first connection.
    """

    #: "active" | "create" | "history"
    _tab = t.Unicode("active").tag(sync=True)
    _default_name = "dashboard"

    def __init__(
        self,
        client: Any = None,
        *,
        clients: Optional[dict[str, Any]] = None,
        on_complete: Optional[Callable[[Batch], Any]] = None,
        poll_interval: float = LIST_INTERVAL,
        details_interval: float = DETAILS_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(_view="dashboard", **kwargs)
        self._list_setup(on_complete=on_complete, poll_interval=poll_interval)
        self._details_setup(details_interval=details_interval)
        store = self._connect_store(client, clients)
        self._create_setup()
        store.ensure_loaded()  # the newest page: the Active tab is ready when the cell returns
        self._list_load()
        # The rest of the history loads in a worker thread; during an outage it waits for the store to recover
        # (one banner, cleared by the recovery, instead of a second one that would stay).
        self._history_pending = not store.loaded
        self._history_setup(load=store.loaded)

    @t.validate("_tab")
    def _valid_tab(self, proposal: Any) -> str:
        tab = proposal["value"]
        if tab not in TABS:
            raise t.TraitError(f"unknown tab {tab!r}; expected one of {', '.join(TABS)}")
        return tab

    @t.observe("_create_batch_id")
    def _created(self, change: Any) -> None:
        # A batch made in the Create tab: show it in the Active tab's details view, and say so above it (the
        # Create tab's own "created" line is hidden by the switch).
        if change["new"]:
            self.open_batch(change["new"])
            batch = self._store.get(change["new"]) if self._store is not None else None
            self._show_notice(
                f"Batch {batch.label if batch else change['new']} created; its details are open below.", "success"
            )

    def _store_changed(self, event: Any) -> None:
        super()._store_changed(event)
        if getattr(self, "_history_pending", False) and self._store is not None and self._store.loaded:
            self._history_pending = False
            self._history_load()

    def _history_open(self, batch_id: str) -> None:
        super()._history_open(batch_id)
        self.open_batch(batch_id)

    def show(self, tab: str) -> None:
        """Switch to a tab: "active", "create" or "history"."""
        self._tab = tab

    def open_batch(self, batch_id: str) -> None:
        """Open one batch's details (in the Active tab)."""
        with self.hold_sync():
            self._tab = "active"
            self._detail_id = batch_id

    def refresh(self) -> None:
        """Re-read the batch list now (the poller does this on its own while something runs)."""
        assert self._store is not None
        self._store.refresh()
        if self._detail_id:
            self._store.retrieve(self._detail_id)

    def back(self) -> None:
        """Close the details view."""
        self._detail_id = ""
