"""Shared wiring for every panel: one JS bundle, a `_view` trait that picks the panel, and action messages.

The browser asks the kernel to act by sending ``{"action": NAME, ...}``; the message is routed to the method
``_on_<NAME>(self, msg, buffers)``. Handlers return at once and report back through traits (a custom message
sent before a view renders is lost), except file downloads which are sent as one message with a buffer.
Handlers that talk HTTP (``WORKER_ACTIONS``) run in a worker thread, so the shell thread never blocks on one.

Trait writes from any thread go through ``_write`` (see ``_main_thread``): one thread writes widget state.
"""

from __future__ import annotations

import itertools
import logging
import pathlib
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

import anywidget
import traitlets as t

from ..client import BatchClient
from ..transport import AsyncBatchTransport
from ._main_thread import write

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


def min_interval(*values: Optional[float]) -> Optional[float]:
    """The shortest of the poll intervals that are set (None when none is)."""
    present = [v for v in values if v is not None]
    return min(present) if present else None


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
    #: Labels of those connections that stopped on a fatal error: their banner has a Retry button.
    _conn_stopped: t.List[str] = t.List().tag(sync=True)
    #: A passing notice {"seq": n, "text": ..., "tone": "info" | "success" | "warning"}; the view shows it once.
    _notice = t.Dict().tag(sync=True)
    #: Polling stopped on an error no retry can fix: {"title", "fix", "detail"}; the view shows one banner with
    #: a Retry button (action "reconnect"). {} while connected.
    _fatal = t.Dict().tag(sync=True)
    #: Where this widget is connected: {"provider", "host", "local"} (no key, no path, no query: nothing secret).
    _connection = t.Dict().tag(sync=True)
    #: What the user's notebook calls this widget (``dashboard``), for the code the view suggests.
    _py_name = t.Unicode("widget").tag(sync=True)
    #: The name used until the widget is found in the notebook's namespace.
    _default_name = "widget"

    #: Actions whose handler talks HTTP: run in a worker thread (an exception becomes a banner).
    WORKER_ACTIONS = frozenset({"refresh", "cancel", "download", "retry_failed", "results_frame", "reconnect"})

    # Set by _connect_store(); panels composed into one widget share them.
    _store: Optional["BatchStore"] = None
    _client: Optional[BatchClient] = None
    _subscription: Optional["Subscription"] = None
    _banner_from_store = False
    _notice_seq = itertools.count(1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._py_name = self._default_name
        self._workers: set[threading.Thread] = set()
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
    def _connect_store(self, client: Optional[BatchClient] = None, clients: Any = None) -> "BatchStore":
        """Subscribe this widget to its connection's store (or, with ``clients={label: client}``, to several
        connections shown as one); ``_store_changed`` then sees every change. The widget's own actions use the
        client it was given (its timeout, retries, transport); a store polls with its connection's first one."""
        from ..store import get_store

        for given in [client] if clients is None else list(dict(clients).values()):
            if isinstance(given, AsyncBatchTransport):
                raise TypeError(
                    f"{type(self).__name__} needs a sync client (BatchClient), not an {type(given).__name__}"
                )
            if given is not None and not isinstance(given, BatchClient):
                raise TypeError(f"{type(self).__name__} takes a BatchClient, got {type(given).__name__}")
        if clients is not None:
            from ..connections import MultiStore

            if client is not None:
                raise ValueError("pass client= or clients=, not both")
            store: Any = MultiStore(clients)
        else:
            store = get_store(client)
        self._store, self._client = store, client if client is not None else store.client
        self._connection = connection_info(store.client, getattr(store, "labels", None))
        self._subscription = store.subscribe(self._store_event, wants=self._poll_wants)
        return store

    def _client_for(self, batch_id: str) -> BatchClient:
        """The client of the connection a batch belongs to (a dashboard may watch several)."""
        if self._client is None:
            raise RuntimeError("this panel has no client: it was not connected to a store")
        client_of = getattr(self._store, "client_of", None)
        return client_of(batch_id) if client_of is not None else self._client

    # -- one thread writes widget state ----------------------------------------------------------------------
    def _write(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a trait write on the kernel's main thread (or under the fallback lock; see ``_main_thread``)."""
        write(fn, *args)

    def _set(self, **traits: Any) -> None:
        """Set these traits together, from any thread."""
        self._write(self._set_now, traits)

    def _set_now(self, traits: dict[str, Any]) -> None:
        with self.hold_sync():
            for name, value in traits.items():
                setattr(self, name, value)

    def _in_worker(self, name: str, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        """Run blocking work (HTTP) off the shell thread; an exception is shown as a banner."""

        def run() -> None:
            try:
                fn(*args)
            except Exception as exc:  # a worker has nowhere else to report
                log.exception("batch_widgets: %s failed", name)
                self._show_error(f"{name} failed: {exc}")
            finally:
                self._workers.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"batch_widgets-{name}", daemon=True)
        self._workers.add(thread)
        thread.start()
        return thread

    def wait_idle(self, timeout: Optional[float] = None) -> None:
        """Block until the actions running in workers have finished (scripts and tests)."""
        for thread in list(self._workers):
            thread.join(timeout)

    def _store_event(self, event: "StoreEvent") -> None:
        self._write(self._store_event_now, event)

    def _store_event_now(self, event: "StoreEvent") -> None:
        with self.hold_sync():
            fatal = dict(getattr(self._store, "fatal", None) or {})
            if fatal != self._fatal:
                self._fatal = fatal
            errors = getattr(self._store, "errors", None)
            if errors is not None:  # several connections: each failing one has its own banner
                if dict(errors) != self._conn_banners:
                    self._conn_banners = dict(errors)
                stopped = list(getattr(self._store, "stopped", []))
                if stopped != self._conn_stopped:
                    self._conn_stopped = stopped
                self._store_changed(event)
                return
            if event.error:
                self._banner, self._banner_from_store = event.error, True
            elif self._banner_from_store:  # the store recovered: its banner goes, an action's banner stays
                self._banner, self._banner_from_store = "", False
            self._store_changed(event)

    def _store_changed(self, event: "StoreEvent") -> None:
        """Hook for panels: called on every store change (on the writing thread). Extend with super()."""

    def _poll_wants(self) -> Optional[float]:
        """Hook for panels: seconds between polls this widget needs now, None for none. Combine with super()."""
        return None

    def _show_error(self, text: str) -> None:
        self._set(_banner=text, _banner_from_store=False)

    def _show_notice(self, text: str, tone: str = "info") -> None:
        self._set(_notice={"seq": next(self._notice_seq), "text": text, "tone": tone})

    def _on_reconnect(self, _msg: dict, _buffers: list) -> None:
        """{"action": "reconnect"}: the Retry button of a fatal-error banner; one refresh, polling resumes if it
        works (the banner goes), the same banner stays if not."""
        if self._store is not None:
            self._store.reconnect()  # a success reaches every panel as a store change (lists load then)

    def _on_dismiss_banner(self, _msg: dict, _buffers: list) -> None:
        self._banner, self._banner_from_store = "", False

    # -- actions every panel shares ------------------------------------------------------------------------
    def _on_refresh(self, msg: dict, _buffers: list) -> None:
        """{"action": "refresh", "id"?: batch id}: re-read the list (and that batch)."""
        if self._store is None:
            return
        self._store.refresh()
        if isinstance(msg.get("id"), str) and msg["id"]:
            self._store.retrieve(msg["id"], client=self._client)

    def _on_cancel(self, msg: dict, _buffers: list) -> None:
        """{"action": "cancel", "ids": [batch ids]}: cancel each; one notice, one banner for those that failed."""
        ids = msg.get("ids")
        if self._store is None or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return
        results = self._store.cancel(ids, client=self._client)
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
        if msg["action"] in self.WORKER_ACTIONS:
            self._in_worker(msg["action"], handler, msg, buffers)
            return
        try:
            handler(msg, buffers)
        except Exception as exc:  # an error in a comm handler never reaches the notebook: show it instead
            log.exception("batch_widgets: action %r failed", msg["action"])
            self._show_error(f"{msg['action']} failed: {exc}")

    def __repr__(self) -> str:  # stable, and never shows trait values (they could hold anything)
        return f"<{type(self).__name__}>"


if TYPE_CHECKING:
    # A panel mixin only ever runs inside a BatchWidgetBase, so it is type-checked as one (its ``_store``,
    # ``_set``, ``hold_sync``... and ``super()`` hooks); at run time it stays a plain HasTraits, the MRO unchanged.
    PanelMixinBase = BatchWidgetBase
else:
    PanelMixinBase = t.HasTraits

#: How the header names a provider (ClientConfig.provider), and Azure.
_PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "mistral": "Mistral", "azure": "Azure OpenAI"}


def connection_info(client: Any, labels: Optional[list] = None) -> dict:
    """{"provider", "host", "local"} for the header: who answers, at which host (never a key, path or query)."""
    from urllib.parse import urlsplit

    if labels and len(labels) > 1:  # several connections in one view: their labels
        return {"provider": f"{len(labels)} connections", "host": ", ".join(labels), "local": False}
    config = getattr(getattr(client, "_core", None), "config", None)
    parts = urlsplit(str(getattr(client, "base_url", "") or ""))
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    host += f":{parts.port}" if parts.port else ""
    if getattr(client, "is_local", False):
        return {"provider": "Local simulated server", "host": host, "local": True}
    kind = "azure" if getattr(config, "is_azure", False) else getattr(config, "provider", "openai")
    name = _PROVIDER_NAMES.get(kind, kind)
    if kind == "openai" and parts.hostname != "api.openai.com":
        name = "OpenAI-compatible"
    return {"provider": name, "host": host, "local": False}
