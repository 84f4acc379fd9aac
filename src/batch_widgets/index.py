"""BatchIndex: a local copy of a provider's batch list, kept current with as few requests as possible.

The Batch API lists newest first and has no "changed since" query. A refresh therefore pages from the newest
batch until it meets a batch it already knows, and re-reads the batches it knows to be active. Unchanged
batches cost no work downstream: ``refresh()`` returns only the batches whose content changed.

Used by ``batch_history()`` (analytics) and by the widgets' ``BatchStore`` (live view): one definition of
"what changed". Pages are followed with the transport's ``CursorPager``, the same cursor as ``iter_batches``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterable, Optional

from .errors import NotFoundError
from .models import Batch
from .transport import CursorPager

if TYPE_CHECKING:
    from .transport import BatchTransport

#: Known-active batches not met while paging are re-read one by one up to this many; past it, paging goes on.
MAX_SINGLE_RETRIEVES = 5
PAGE_SIZE = 100


class BatchIndex:
    """Thread-safe ``{id: Batch}`` ordered newest first, with incremental refresh."""

    def __init__(self, batches: Iterable[Batch] = ()) -> None:
        self._lock = threading.RLock()
        self._by_id: dict[str, Batch] = {}
        self.requests_made = 0  # HTTP requests spent by refreshes (benchmarks and tests read it)
        self.complete = False  # True once every page has been read at least once
        for batch in batches:
            self._by_id[batch.id] = batch

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, batch_id: object) -> bool:
        return batch_id in self._by_id

    def get(self, batch_id: str) -> Optional[Batch]:
        return self._by_id.get(batch_id)

    def batches(self) -> list[Batch]:
        """A snapshot, newest first."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda b: (b.created_at, b.id), reverse=True)

    def active(self) -> list[Batch]:
        with self._lock:
            return [b for b in self._by_id.values() if b.is_active]

    def put(self, batch: Batch) -> bool:
        """Store one batch (from a create, cancel or retrieve); True if it is new or changed."""
        with self._lock:
            old = self._by_id.get(batch.id)
            if old is not None and old == batch:
                return False
            self._by_id[batch.id] = batch
            return True

    def refresh(self, client: "BatchTransport", *, max_pages: Optional[int] = None) -> list[Batch]:
        """Bring the index up to date; return the batches that are new or changed (newest first).

        The first refresh reads every page (or ``max_pages``). Later ones read new pages until a known id,
        plus the known-active batches.
        """
        with self._lock:
            known_before = set(self._by_id)
            unseen_active = {b.id for b in self._by_id.values() if b.is_active}
        changed: list[Batch] = []
        first_time = not self.complete
        pager = CursorPager(PAGE_SIZE, what="the batch index refresh")
        while not pager.done:
            page = client.list_batches(limit=PAGE_SIZE, after=pager.after)
            self.requests_made += 1
            met_known = False
            for batch in pager.take(page):
                met_known |= batch.id in known_before
                unseen_active.discard(batch.id)
                if self.put(batch):
                    changed.append(batch)
            # The pager stops on the last page and on a bad one (empty, a cursor that does not advance).
            if pager.done:
                self.complete = True
            elif max_pages is not None and pager.pages >= max_pages:
                break
            elif not first_time and met_known and len(unseen_active) <= MAX_SINGLE_RETRIEVES:
                break
        for batch_id in sorted(unseen_active):
            try:
                batch = client.retrieve_batch(batch_id)
            except NotFoundError:
                continue
            finally:
                self.requests_made += 1
            if self.put(batch):
                changed.append(batch)
        changed.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return changed
