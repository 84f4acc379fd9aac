"""Several connections in one view: ``BatchDashboard(clients={"OpenAI": c1, "Claude": c2, "Local": c3})``.

A :class:`MultiStore` shows the stores of several connections as one store, with the interface the panels use.
Each connection keeps its own store and its own poller (and backoff); a failing connection reports its own
banner line and the others go on. Every batch it hands out carries the label of its connection in
``batch.model_extra["connection"]`` (a copy: the connection's own store is untouched), which the rows, the
history frame and the filters show as the "connection" column. A batch id belongs to the connection that listed
it (ids are the providers' own and do not collide across providers; the first label wins if two connections see
the same account).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable, Mapping, Optional

from .errors import NotFoundError
from .models import Batch
from .store import BatchStore, StoreEvent, get_store

__all__ = ["MultiStore", "connection_of", "labelled"]

log = logging.getLogger("batch_widgets")


def labelled(batch: Batch, label: str) -> Batch:
    """A copy of ``batch`` that names its connection (the original, shared by other views, is not changed)."""
    if (batch.model_extra or {}).get("connection") == label:
        return batch
    return batch.model_copy(update={"connection": label})


def connection_of(batch: Batch) -> Optional[str]:
    return (batch.model_extra or {}).get("connection")


class _MultiSubscription:
    def __init__(self, store: "MultiStore", subs: dict[str, Any]) -> None:
        self._store, self.subs = store, subs
        self.active = True

    def unsubscribe(self) -> None:
        self.active = False
        for sub in self.subs.values():
            sub.unsubscribe()


class MultiStore:
    """The stores of several labelled connections, read and acted on as one."""

    def __init__(self, clients: Mapping[str, Any]) -> None:
        if not clients:
            raise ValueError("clients= needs at least one connection, e.g. {'OpenAI': BatchClient()}")
        for label in clients:
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"connection labels must be non-empty strings, got {label!r}")
        self.clients: dict[str, Any] = dict(clients)  # each connection's actions use the client given for it
        self.stores: dict[str, BatchStore] = {label: get_store(client) for label, client in clients.items()}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self.client = next(iter(self.clients.values()))  # the Create panel submits through the first connection
        self.max_backoff = max(s.max_backoff for s in self.stores.values())

    @property
    def labels(self) -> list[str]:
        return list(self.stores)

    # -- where a batch lives
    def owner(self, batch_id: str) -> Optional[str]:
        for label, store in self.stores.items():
            if store.get(batch_id) is not None:
                return label
        return None

    def store_of(self, batch_id: str) -> Optional[BatchStore]:
        label = self.owner(batch_id)
        return self.stores[label] if label else None

    def client_of(self, batch_id: str) -> Any:
        label = self.owner(batch_id)
        return self.clients[label] if label is not None else self.client

    # -- reading
    def get(self, batch_id: str) -> Optional[Batch]:
        for label, store in self.stores.items():
            batch = store.get(batch_id)
            if batch is not None:
                return labelled(batch, label)
        return None

    def _all(self, read: Callable[[BatchStore], list[Batch]]) -> list[Batch]:
        seen: set[str] = set()
        out = []
        for label, store in self.stores.items():
            for batch in read(store):
                if batch.id not in seen:
                    seen.add(batch.id)
                    out.append(labelled(batch, label))
        out.sort(key=lambda b: (b.created_at, b.id), reverse=True)  # newest first, as one store lists them
        return out

    def batches(self) -> list[Batch]:
        return self._all(lambda s: s.batches())

    def active(self) -> list[Batch]:
        return self._all(lambda s: s.active())

    def seen_at(self, batch_id: str) -> Optional[float]:
        store = self.store_of(batch_id)
        return store.seen_at(batch_id) if store is not None else None

    @property
    def loaded(self) -> bool:
        """Every connection has answered once, or failed (a failing one must not hold the others back)."""
        return all(s.loaded or s.failures for s in self.stores.values())

    @property
    def failures(self) -> int:
        return max(s.failures for s in self.stores.values())

    # -- subscribers: one subscription per connection, each event relabelled
    def subscribe(
        self, callback: Callable[[StoreEvent], None], *, wants: Optional[Callable[[], Optional[float]]] = None
    ) -> _MultiSubscription:
        subs = {}
        for label, store in self.stores.items():
            subs[label] = store.subscribe(self._relay(label, callback), wants=wants)
        return _MultiSubscription(self, subs)

    def _relay(self, label: str, callback: Callable[[StoreEvent], None]) -> Callable[[StoreEvent], None]:
        def relay(event: StoreEvent) -> None:
            fatal = self.stores[label].fatal
            with self._lock:
                if event.error:
                    self._errors[label] = event.error
                elif fatal:  # this connection stopped polling (refused key, wrong URL); the others go on
                    self._errors[label] = f"{fatal['title']}. {fatal['fix']}"
                else:
                    self._errors.pop(label, None)
                error = self.banner()
            callback(
                StoreEvent(
                    changed=tuple(labelled(b, label) for b in event.changed),
                    finished=tuple(labelled(b, label) for b in event.finished),
                    error=error,
                )
            )

        return relay

    @property
    def errors(self) -> dict[str, str]:
        """{label: error} of the connections whose last refresh failed."""
        with self._lock:
            return dict(self._errors)

    def banner(self) -> Optional[str]:
        """One line per failing connection, named; None while every connection is fine."""
        lines = [f"{label}: {text}" for label, text in self._errors.items()]
        return "\n".join(lines) or None

    def watch(self, sub: _MultiSubscription, batch_ids: Iterable[str]) -> None:
        ids = list(batch_ids)
        for label, store in self.stores.items():
            # Known ids go to their own connection; unknown ones to every connection (the others answer 404).
            mine = [i for i in ids if self.owner(i) in (label, None)]
            store.watch(sub.subs[label], mine)

    # -- actions
    def put(self, batch: Batch) -> bool:
        label = connection_of(batch) or self.owner(batch.id) or self.labels[0]
        return self.stores[label].put(batch)

    def _each(self, act: Callable[[BatchStore], list[Batch]]) -> list[Batch]:
        """Run ``act`` on every connection; one failing connection does not stop the others (its error is
        raised afterwards, named)."""
        changed: list[Batch] = []
        failed = []
        for label, store in self.stores.items():
            try:
                changed += [labelled(b, label) for b in act(store)]
            except Exception as exc:  # noqa: BLE001 - reported below, after the others ran
                failed.append(f"{label}: {exc}")
        if failed:
            raise RuntimeError("; ".join(failed))
        return changed

    def refresh(self, *, max_pages: Optional[int] = 1) -> list[Batch]:
        return self._each(lambda s: s.refresh(max_pages=max_pages))

    def load_all(self) -> list[Batch]:
        return self._each(lambda s: s.load_all())

    def ensure_loaded(self) -> None:
        for store in self.stores.values():
            store.ensure_loaded()

    def retrieve(self, batch_id: str, *, client: Any = None) -> Batch:
        """One batch now, read by its own connection's client (``client`` is for a one-store view)."""
        label = self.owner(batch_id)
        if label is not None:
            return labelled(self.stores[label].retrieve(batch_id, client=self.clients[label]), label)
        for label, store in self.stores.items():
            try:
                return labelled(store.retrieve(batch_id, client=self.clients[label]), label)
            except NotFoundError:
                continue
        raise NotFoundError(f"no connection ({', '.join(self.labels)}) has batch {batch_id!r}", status=404)

    def cancel(self, batch_ids: Iterable[str], *, client: Any = None) -> dict[str, Optional[str]]:
        """Cancel each batch with its own connection's client (``client`` is for a one-store view)."""
        results: dict[str, Optional[str]] = {}
        groups: dict[str, list[str]] = {}
        for batch_id in batch_ids:
            label = self.owner(batch_id)
            if label is None:
                results[batch_id] = "not found on any connection"
            else:
                groups.setdefault(label, []).append(batch_id)
        for label, ids in groups.items():
            results.update(self.stores[label].cancel(ids, client=self.clients[label]))
        return results

    def wake(self) -> None:
        for store in self.stores.values():
            store.wake()

    @property
    def stopped(self) -> list[str]:
        """Labels of the connections that stopped polling on a fatal error (their banner offers Retry)."""
        return [label for label, store in self.stores.items() if store.fatal is not None]

    @property
    def fatal(self) -> Optional[dict]:
        """None: each connection's fatal error is one of its named banners (``errors``)."""
        return None

    def reconnect(self) -> None:
        """Retry the connections that stopped on a fatal error."""
        for store in self.stores.values():
            if store.fatal is not None:
                store.reconnect()
