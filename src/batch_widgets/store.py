"""BatchStore: one live cache of batches per connection, shared by every widget on the page.

Widgets never talk HTTP: they subscribe to a store, read its batches and ask it to act (refresh, cancel,
retrieve). One daemon thread per store polls while some subscriber wants it (it has an active batch on show)
and stops when nothing shown is active or every subscriber has gone. A failed refresh is reported to the
subscribers (they show a banner) and retried with exponential backoff; the next success clears it.

A store follows the clients it is given: each one gets the store's ``put`` as a "batch" event hook, so every
batch that client creates, cancels or reads (each ``wait`` poll, ``results``) reaches the live views at once.
Widget actions use the widget's own client; the poller uses the first client of the connection.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from .errors import ConflictError, NotFoundError
from .index import BatchIndex
from .models import Batch
from .transport import AsyncBatchTransport

if TYPE_CHECKING:
    from .transport import BatchTransport

__all__ = ["BatchStore", "StoreEvent", "Subscription", "get_store", "clear_stores"]

log = logging.getLogger("batch_widgets")

LIST_INTERVAL = 5.0
DETAILS_INTERVAL = 3.0
MAX_BACKOFF = 60.0
#: Pages a live refresh reads from the newest batch; active batches further back are re-read one by one.
LIVE_PAGES = 1


@dataclass(frozen=True)
class StoreEvent:
    """What a refresh or an action changed. ``error`` is set when a refresh failed (and will be retried)."""

    changed: tuple[Batch, ...] = ()
    finished: tuple[Batch, ...] = ()  # were active when last seen, are terminal now
    error: Optional[str] = None
    #: Polling stopped on an error no retry can fix: {"title", "fix", "detail"} (see ``BatchStore.fatal``).
    fatal: Optional[dict] = None


class Subscription:
    """A subscriber's handle: ``wants()`` returns the poll interval it needs now (None = no polling)."""

    def __init__(
        self,
        store: "BatchStore",
        callback: Callable[[StoreEvent], None],
        wants: Optional[Callable[[], Optional[float]]],
    ) -> None:
        self._store = store
        self.callback = callback
        self.wants = wants or (lambda: None)
        self.active = True

    def unsubscribe(self) -> None:
        self._store._unsubscribe(self)


class BatchStore:
    """Cache + actions + the one poller for one connection (client).

    ``wait(timeout)`` is how the poller sleeps; it returns True when woken early. Tests pass their own to run
    ticks without real time passing. ``clock`` gives Unix seconds for ``seen_at``.
    """

    def __init__(
        self,
        client: "BatchTransport",
        *,
        index: Optional[BatchIndex] = None,
        clock: Callable[[], float] = time.time,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self.client = client
        self.index = index if index is not None else BatchIndex()
        self.clock = clock
        self.max_backoff = max_backoff
        self._subs: list[Subscription] = []
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()  # one refresh at a time (poll tick vs. a refresh button)
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._seen_at: dict[str, float] = {}
        self._watched: dict[int, set[str]] = {}  # subscription id -> batch ids it needs even if off the first page
        self.failures = 0  # consecutive failed refreshes
        self.last_error: Optional[str] = None
        #: Set when a refresh failed for good (a refused key, a wrong base URL): polling stops until reconnect().
        self.fatal: Optional[dict] = None
        self.ticks = 0  # poll ticks run (tests and benchmarks read it)
        self._loaded = False
        self._clients: "weakref.WeakSet[Any]" = weakref.WeakSet()  # the clients whose "batch" hook is put
        self.attach(client)

    def attach(self, client: "BatchTransport") -> None:
        """Hear every batch this client creates, cancels or reads (its "batch" event hook calls ``put``)."""
        hooks = client.event_hooks["batch"]
        if self.put not in hooks:
            hooks.append(self.put)
        self._clients.add(client)

    def _detach_all(self) -> None:
        for client in list(self._clients):
            hooks = client.event_hooks["batch"]
            while self.put in hooks:
                hooks.remove(self.put)
        self._clients = weakref.WeakSet()

    # -- reading -------------------------------------------------------------------------------------------
    def get(self, batch_id: str) -> Optional[Batch]:
        return self.index.get(batch_id)

    def batches(self) -> list[Batch]:
        return self.index.batches()

    def active(self) -> list[Batch]:
        return self.index.active()

    def seen_at(self, batch_id: str) -> Optional[float]:
        """When this store last saw the batch change (Unix seconds)."""
        return self._seen_at.get(batch_id)

    @property
    def loaded(self) -> bool:
        return self._loaded

    # -- subscribers ---------------------------------------------------------------------------------------
    def subscribe(
        self,
        callback: Callable[[StoreEvent], None],
        *,
        wants: Optional[Callable[[], Optional[float]]] = None,
    ) -> Subscription:
        """Call ``callback(event)`` on every change; ``wants()`` -> seconds between polls, or None for none."""
        sub = Subscription(self, callback, wants)
        with self._lock:
            self._subs.append(sub)
        self.wake()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            sub.active = False
            if sub in self._subs:
                self._subs.remove(sub)
            self._watched.pop(id(sub), None)
        self.wake()

    def watch(self, sub: Subscription, batch_ids: Iterable[str]) -> None:
        """Keep these batches fresh for ``sub`` even when they are not on the newest page."""
        with self._lock:
            self._watched[id(sub)] = set(batch_ids)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def _notify(self, event: StoreEvent) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.callback(event)
            except Exception:  # one broken widget must not stop the others or the poller
                log.exception("batch_widgets: store subscriber failed")

    # -- changes -------------------------------------------------------------------------------------------
    def _record(self, before: dict[str, bool], changed: list[Batch]) -> StoreEvent:
        now = self.clock()
        finished = []
        for batch in changed:
            self._seen_at[batch.id] = now
            if before.get(batch.id) and batch.is_terminal:
                finished.append(batch)
        return StoreEvent(changed=tuple(changed), finished=tuple(finished))

    def _active_map(self) -> dict[str, bool]:
        return {b.id: True for b in self.index.active()}

    def put(self, batch: Batch) -> bool:
        """Store a batch the caller got elsewhere (a create, a retry); notifies and starts polling if needed."""
        before = self._active_map()
        changed = self.index.put(batch)
        if changed:
            self._notify(self._record(before, [batch]))
        self.wake()
        return changed

    # -- actions -------------------------------------------------------------------------------------------
    def refresh(self, *, max_pages: Optional[int] = LIVE_PAGES) -> list[Batch]:
        """Bring the cache up to date; notify and return the batches that changed. Raises on failure."""
        with self._refresh_lock:
            before = self._active_map()
            changed = self.index.refresh(self.client, max_pages=max_pages)
            with self._lock:
                watched = set().union(*self._watched.values()) if self._watched else set()
            # Watched batches the list pages did not bring in (an old batch opened in a details view).
            for batch_id in sorted(i for i in watched if i not in self.index):
                try:
                    fresh = self.client.retrieve_batch(batch_id)
                except NotFoundError:
                    continue
                if self.index.put(fresh):
                    changed.append(fresh)
            self._loaded = True
            recovered = self.failures > 0 or self.fatal is not None
            self.failures = 0
            self.last_error = None
            self.fatal = None
        if changed or recovered:
            self._notify(self._record(before, changed))
        self.wake()
        return changed

    def ensure_loaded(self) -> None:
        """First load for a new widget: refresh once unless done already; a failure becomes a banner + retry."""
        if not self._loaded:
            self.poll_once()

    def load_all(self) -> list[Batch]:
        """Read every page once (history views need the whole list; live views only the newest page)."""
        return self.refresh(max_pages=None)

    def retrieve(self, batch_id: str, *, client: Optional["BatchTransport"] = None) -> Batch:
        """Fetch one batch now (a details view opening, a refresh button), with ``client`` or the store's."""
        before = self._active_map()
        batch = (client or self.client).retrieve_batch(batch_id)
        if self.index.put(batch):
            self._notify(self._record(before, [batch]))
        self.wake()
        return batch

    def cancel(
        self, batch_ids: Iterable[str], *, client: Optional["BatchTransport"] = None
    ) -> dict[str, Optional[str]]:
        """Ask to cancel each batch (with ``client`` or the store's); ``{id: None if accepted else a reason}``.

        A 409 means the batch already finished: not an error for the user, we re-read it instead.
        """
        client = client or self.client
        results: dict[str, Optional[str]] = {}
        before = self._active_map()
        changed: list[Batch] = []
        for batch_id in batch_ids:
            try:
                batch = client.cancel_batch(batch_id)
                results[batch_id] = None
            except ConflictError:
                try:
                    batch = client.retrieve_batch(batch_id)
                except Exception as exc:  # noqa: BLE001 - reported per batch
                    results[batch_id] = _short(exc)
                    continue
                results[batch_id] = None if batch.is_active else f"already {batch.status.value}"
            except Exception as exc:  # noqa: BLE001 - reported per batch, the others still go ahead
                results[batch_id] = _short(exc)
                continue
            if self.index.put(batch):
                changed.append(batch)
        if changed:
            self._notify(self._record(before, changed))
        self.wake()
        return results

    # -- polling -------------------------------------------------------------------------------------------
    def poll_interval(self) -> Optional[float]:
        """Seconds until the next poll, or None when nobody needs one. Failures back off 2x up to max_backoff."""
        with self._lock:
            subs = list(self._subs)
        wanted = []
        for sub in subs:
            try:
                interval = sub.wants()
            except Exception:  # noqa: BLE001 - one subscriber's failure must not stop the poll
                log.exception("batch_widgets: subscriber wants() failed")
                continue
            if interval is not None:
                wanted.append(max(0.05, float(interval)))
        if not subs or self.fatal is not None:  # a fatal error waits for reconnect(), not for a timer
            return None
        if self.failures:
            base = min(wanted) if wanted else LIST_INTERVAL
            return min(self.max_backoff, base * 2**self.failures)
        return min(wanted) if wanted else None

    def poll_once(self) -> StoreEvent:
        """One poller tick: refresh, or report the failure to subscribers."""
        self.ticks += 1
        try:
            changed = self.refresh()
            return StoreEvent(changed=tuple(changed))
        except Exception as exc:  # noqa: BLE001 - any failure becomes a banner and a retry
            self.failures += 1
            if getattr(exc, "fatal", False):  # a refused key or a wrong URL: retrying cannot help, stop and say so
                self.fatal = fatal_info(exc)
                self.last_error = None
                event = StoreEvent(fatal=self.fatal)
            else:
                delay = self.poll_interval()
                self.last_error = f"Refresh failed: {_short(exc)}" + (f" (retrying in {delay:.0f} s)" if delay else "")
                event = StoreEvent(error=self.last_error)
            # INFO, not WARNING: a warning from this thread would print under whichever cell runs now; the
            # subscribers' banner is where the user reads it.
            log.info("batch_widgets: refresh failed: %s", _short(exc))
            self._notify(event)
            return event

    def reconnect(self) -> StoreEvent:
        """Try again after a fatal error (the user fixed the key or URL, or the "Retry" button): one refresh now;
        polling resumes if it works, the same banner stays if not."""
        event = self.poll_once()  # a success clears ``fatal`` and tells the subscribers (their banner goes)
        self.wake()
        return event

    def wake(self) -> None:
        """Re-evaluate polling now: start the thread if someone needs it (or nudge a sleeping one)."""
        with self._lock:
            if self._thread is None:
                if self.poll_interval() is None:
                    return
                self._thread = threading.Thread(target=self._run, name="batch-widgets-poller", daemon=True)
                self._thread.start()
            else:
                self._wake.set()

    @property
    def polling(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            with self._lock:
                interval = self.poll_interval()
                if interval is None:
                    self._thread = None
                    return
                self._wake.clear()
            # Due one interval after the last poll: a wake re-reads the interval but does not restart the clock,
            # so frequent wakes (widgets opening, actions) cannot postpone polling forever.
            remaining = last + interval - time.monotonic()
            if remaining > 0 and self._wake.wait(remaining):
                continue
            with self._lock:
                if self.poll_interval() is None:
                    self._thread = None
                    return
            self.poll_once()
            last = time.monotonic()

    def stop(self, timeout: float = 2.0) -> None:
        """Drop every subscriber and wait for the poller to end (tests, kernel shutdown)."""
        with self._lock:
            for sub in self._subs:
                sub.active = False
            self._subs.clear()
            self._watched.clear()
            thread = self._thread
        self._detach_all()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def fatal_info(exc: BaseException) -> dict:
    """What a fatal error's banner says: {"title": the cause, "fix": what to do, "detail": the API's words}."""
    from .errors import AuthenticationError, PermissionDeniedError

    status = getattr(exc, "status", None)
    if isinstance(exc, AuthenticationError):
        title = "The API key was refused"
    elif isinstance(exc, PermissionDeniedError):
        title = "This API key may not use the Batch API here"
    else:
        title = "No Batch API at this base URL"
    hint = getattr(exc, "hint", None) or "check the connection settings"
    detail = ": ".join(
        str(p)
        for p in (f"HTTP {status}" if status else None, getattr(exc, "code", None), getattr(exc, "message", None))
        if p
    )
    return {
        "title": f"{title} (HTTP {status})" if status else title,
        "fix": f"To fix: {hint}; then press Retry (updates are paused until then).",
        "detail": _clip(detail or _short(exc)),
    }


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# -- one store per connection ------------------------------------------------------------------------------
_stores: dict[tuple[Any, ...], BatchStore] = {}
_stores_lock = threading.Lock()


def get_store(client: Optional["BatchTransport"] = None) -> BatchStore:
    """The store for this client's connection (``client.connection_key``: two clients for one account share it
    and its poller), created on first use; the client is attached to it. ``None`` -> a default ``BatchClient()``.
    """
    created = None
    if client is None:
        from .client import BatchClient

        client = created = BatchClient()
    elif isinstance(client, AsyncBatchTransport):
        raise TypeError("a live store polls from a thread with a sync client (BatchClient), not an AsyncBatchClient")
    key = client.connection_key
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = BatchStore(client)
            created = None  # the new client now belongs to the store
    if created is not None:
        created.close()
    else:
        store.attach(client)
    return store


def clear_stores() -> None:
    """Stop and forget every store (tests; a notebook that changes credentials)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.stop()
