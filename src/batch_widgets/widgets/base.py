"""Shared wiring for every panel: one JS bundle, a `_view` trait that picks the panel, and action messages.

The browser asks the kernel to act by sending ``{"action": NAME, ...}``; the message is routed to the method
``_on_<NAME>(self, msg, buffers)``. Handlers return at once and report back through traits (a custom message
sent before a view renders is lost), except file downloads which are sent as one message with a buffer.
"""

from __future__ import annotations

import logging
import itertools
import pathlib
from typing import TYPE_CHECKING, Any, Optional

import anywidget
import traitlets as t

if TYPE_CHECKING:
    from ..store import BatchStore, StoreEvent, Subscription

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
log = logging.getLogger("batch_widgets")


def positive_seconds(name: str, value: Any) -> float:
    """A poll interval as a float; a clear error for zero, negative or NaN values."""
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {seconds}")
    return seconds


class BatchWidgetBase(anywidget.AnyWidget):
    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    #: Which panel the JS entry renders: "list", "details", "create", "history" or "dashboard".
    _view = t.Unicode("").tag(sync=True)
    #: A short message shown as a banner (refresh failures and the like); "" hides it.
    _banner = t.Unicode("").tag(sync=True)
    #: With several connections (clients={...}): {label: error} for each connection whose refresh fails now;
    #: the view shows one banner per connection, and a connection's banner goes when it recovers.
    _conn_banners = t.Dict().tag(sync=True)
    #: A passing notice {"seq": n, "text": ..., "tone": "info" | "success" | "warning"}; the view shows it once.
    _notice = t.Dict().tag(sync=True)
    #: What the user's notebook calls this widget (``dashboard``), for the code the view suggests.
    _py_name = t.Unicode("widget").tag(sync=True)
    #: The name used until the widget is found in the notebook's namespace.
    _default_name = "widget"

    # Set by _connect_store(); panels composed into one widget share them.
    _store: Optional["BatchStore"] = None
    _client: Any = None
    _subscription: Optional["Subscription"] = None
    _banner_from_store = False
    _notice_seq = itertools.count(1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._py_name = self._default_name
        self.on_msg(self._dispatch_action)

    def _find_py_name(self) -> str:
        """The notebook variable holding this widget (so hints name ``dash.results_frame``, not a guess)."""
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        names = [k for k, v in getattr(shell, "user_ns", {}).items() if v is self and not k.startswith("_")]
        name = min(names, key=len) if names else self._py_name
        if name != self._py_name:
            self._py_name = name
        return name

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._find_py_name()  # ``dash = BatchDashboard(); dash``: the name exists by the time it is shown
        return super()._repr_mimebundle_(**kwargs)

    # -- the store (one per connection, shared by every panel) ---------------------------------------------
    def _connect_store(self, client: Any = None, clients: Any = None) -> "BatchStore":
        """Subscribe this widget to its connection's store (or, with ``clients={label: client}``, to several
        connections shown as one); ``_store_changed`` then sees every change."""
        from ..store import get_store

        if clients is not None:
            from ..connections import MultiStore

            if client is not None:
                raise ValueError("pass client= or clients=, not both")
            store: Any = MultiStore(clients)
        else:
            store = get_store(client)
        self._store, self._client = store, store.client
        self._subscription = store.subscribe(self._store_event, wants=self._poll_wants)
        return store

    def _client_for(self, batch_id: str) -> Any:
        """The client of the connection a batch belongs to (a dashboard may watch several)."""
        client_of = getattr(self._store, "client_of", None)
        return client_of(batch_id) if client_of is not None else self._client

    def _store_event(self, event: "StoreEvent") -> None:
        with self.hold_sync():
            errors = getattr(self._store, "errors", None)
            if errors is not None:  # several connections: each failing one has its own banner
                if dict(errors) != self._conn_banners:
                    self._conn_banners = dict(errors)
                self._store_changed(event)
                return
            if event.error:
                self._banner, self._banner_from_store = event.error, True
            elif self._banner_from_store:  # the store recovered: its banner goes, an action's banner stays
                self._banner, self._banner_from_store = "", False
            self._store_changed(event)

    def _store_changed(self, event: "StoreEvent") -> None:
        """Hook for panels: called on every store change (from the poller thread). Extend with super()."""

    def _poll_wants(self) -> Optional[float]:
        """Hook for panels: seconds between polls this widget needs now, None for none. Combine with super()."""
        return None

    def _show_error(self, text: str) -> None:
        self._banner, self._banner_from_store = text, False

    def _show_notice(self, text: str, tone: str = "info") -> None:
        self._notice = {"seq": next(self._notice_seq), "text": text, "tone": tone}

    def _on_dismiss_banner(self, _msg: dict, _buffers: list) -> None:
        self._banner, self._banner_from_store = "", False

    # -- actions every panel shares ------------------------------------------------------------------------
    def _on_refresh(self, msg: dict, _buffers: list) -> None:
        """{"action": "refresh", "id"?: batch id}: re-read the list (and that batch)."""
        if self._store is None:
            return
        self._store.refresh()
        if isinstance(msg.get("id"), str) and msg["id"]:
            self._store.retrieve(msg["id"])

    def _on_cancel(self, msg: dict, _buffers: list) -> None:
        """{"action": "cancel", "ids": [batch ids]}: cancel each; one notice, one banner for those that failed."""
        ids = msg.get("ids")
        if self._store is None or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return
        results = self._store.cancel(ids)
        failed = {i: why for i, why in results.items() if why}
        accepted = len(results) - len(failed)
        if accepted:
            one = self._store.get(ids[0]) if len(ids) == 1 else None
            self._show_notice(
                f"Cancelling {one.label if one else ids[0]}" if len(ids) == 1 else f"Cancelling {accepted} batches",
                "info",
            )
        if failed:
            self._show_error("Could not cancel " + "; ".join(f"{i}: {why}" for i, why in failed.items()))

    def close(self) -> None:
        """Close the widget and stop listening to the store (its poller ends when no widget needs it)."""
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None
        super().close()

    def _dispatch_action(self, _widget: Any, msg: Any, buffers: list[bytes]) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("action"), str):
            return
        self._find_py_name()
        handler = getattr(self, f"_on_{msg['action']}", None)
        if handler is None:
            log.warning("batch_widgets: unknown widget action %r", msg["action"])
            return
        try:
            handler(msg, buffers)
        except Exception as exc:  # an error in a comm handler never reaches the notebook: show it instead
            log.exception("batch_widgets: action %r failed", msg["action"])
            self._show_error(f"{msg['action']} failed: {exc}")

    def __repr__(self) -> str:  # stable, and never shows trait values (they could hold anything)
        return f"<{type(self).__name__}>"
