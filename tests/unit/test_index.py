"""BatchIndex: incremental refresh spends few requests and reports only what changed."""

from batch_widgets.errors import NotFoundError
from batch_widgets.index import BatchIndex
from batch_widgets.models import Batch, BatchPage


def make_batch(i: int, status: str = "completed", completed: int = 10) -> Batch:
    return Batch(
        id=f"batch_{i:06d}",
        input_file_id="file-x",
        endpoint="/v1/chat/completions",
        status=status,
        created_at=1_700_000_000 + i,
        request_counts={"total": 10, "completed": completed, "failed": 0},
    )


class ListingProvider:
    """An in-memory provider with the Batch API's paging rules (newest first, `after` cursor)."""

    def __init__(self, batches):
        self.by_id = {b.id: b for b in batches}
        self.calls = []

    def ordered(self):
        return sorted(self.by_id.values(), key=lambda b: (b.created_at, b.id), reverse=True)

    def list_batches(self, limit=20, after=None):
        self.calls.append(("list", after))
        rows = self.ordered()
        start = 0 if after is None else [b.id for b in rows].index(after) + 1
        data = rows[start : start + limit]
        return BatchPage(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=start + limit < len(rows),
        )

    def retrieve_batch(self, batch_id):
        self.calls.append(("get", batch_id))
        if batch_id not in self.by_id:
            raise NotFoundError("no such batch", status=404)
        return self.by_id[batch_id]


def test_first_refresh_reads_every_page_then_nothing_changed_costs_one_request():
    provider = ListingProvider(make_batch(i) for i in range(10_000))
    index = BatchIndex()
    changed = index.refresh(provider)
    assert len(changed) == len(index) == 10_000
    assert len(provider.calls) == 100 and index.complete
    provider.calls.clear()
    assert index.refresh(provider) == []
    assert len(provider.calls) == 1


def test_new_batches_and_progress_of_active_ones_are_reported():
    provider = ListingProvider([make_batch(i) for i in range(300)] + [make_batch(5, "in_progress", 1)])
    index = BatchIndex()
    index.refresh(provider)
    provider.by_id["batch_000005"] = make_batch(5, "in_progress", 7)  # an old, still-active batch moves on
    provider.by_id["batch_000900"] = make_batch(900, "validating", 0)  # and a new one appears
    provider.calls.clear()
    changed = index.refresh(provider)
    assert [b.id for b in changed] == ["batch_000900", "batch_000005"]
    assert index.get("batch_000005").request_counts.completed == 7
    # one page (meets known ids), then the old active batch alone
    assert provider.calls == [("list", None), ("get", "batch_000005")]


def test_many_old_active_batches_are_read_by_paging_not_one_by_one():
    batches = [make_batch(i, "in_progress", 1) if i < 50 else make_batch(i) for i in range(1000)]
    provider = ListingProvider(batches)
    index = BatchIndex()
    index.refresh(provider)
    provider.calls.clear()
    index.refresh(provider)
    assert all(kind == "list" for kind, _ in provider.calls)
    assert len(provider.calls) == 10


def test_vanished_active_batch_is_skipped():
    provider = ListingProvider([make_batch(i) for i in range(150)] + [make_batch(3, "in_progress", 1)])
    index = BatchIndex()
    index.refresh(provider)
    del provider.by_id["batch_000003"]
    assert index.refresh(provider) == []


class StuckCursor(ListingProvider):
    def list_batches(self, limit=20, after=None):
        page = super().list_batches(limit=limit, after=None)  # ignores `after`
        return BatchPage(data=page.data, last_id=page.last_id, has_more=True)


class EmptyButMore(ListingProvider):
    def list_batches(self, limit=20, after=None):
        self.calls.append(("list", after))
        return BatchPage(data=[], has_more=True)


def test_paging_guards_end_refresh():
    stuck = StuckCursor(make_batch(i) for i in range(250))
    index = BatchIndex()
    assert len(index.refresh(stuck)) == 100
    assert len(stuck.calls) == 2  # the second page repeats the first: stop

    empty = EmptyButMore([])
    assert BatchIndex().refresh(empty) == [] and len(empty.calls) == 1


def test_max_pages_limits_the_first_read():
    provider = ListingProvider(make_batch(i) for i in range(1000))
    index = BatchIndex()
    index.refresh(provider, max_pages=2)
    assert len(index) == 200 and not index.complete


def test_put_reports_changes_only():
    index = BatchIndex()
    assert index.put(make_batch(1, "in_progress", 1))
    assert not index.put(make_batch(1, "in_progress", 1))
    assert index.put(make_batch(1, "in_progress", 2))
    assert [b.id for b in index.active()] == ["batch_000001"]
