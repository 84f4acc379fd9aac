"""One thread writes widget state: worker threads hand their updates to the main thread's event loop (as in a
kernel), or, with no loop, write one at a time; either way no update is lost and no two hold_sync blocks overlap."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import types

import pytest
from live_helpers import FakeBatchAPI, install_store, make_client, running

from batch_widgets import store as store_module
from batch_widgets.models import Batch
from batch_widgets.widgets import _main_thread
from batch_widgets.widgets.active_list import BatchList

WORKERS = 4
PER_WORKER = 2_000
ON_MAIN = 2_000  # 4 x 2,000 + 2,000 = 10,000 updates


@pytest.fixture(autouse=True)
def _fresh_stores():
    store_module.clear_stores()
    yield
    store_module.clear_stores()


class HoldSyncGuard:
    """Wraps a widget's hold_sync: records every block entered while another thread is inside one, and the
    threads that wrote the rows."""

    def __init__(self, widget):
        self.lock = threading.Lock()
        self.owner, self.depth = None, 0
        self.overlaps, self.writers = 0, set()
        original = widget.hold_sync

        @contextlib.contextmanager
        def hold_sync():
            me = threading.current_thread()
            with self.lock:
                if self.depth and self.owner is not me:
                    self.overlaps += 1
                self.owner, self.depth = me, self.depth + 1
            try:
                time.sleep(0)  # let another thread in, if the code allows it
                with original():
                    yield
            finally:
                with self.lock:
                    self.depth -= 1

        widget.hold_sync = hold_sync
        widget.observe(lambda _change: self.writers.add(threading.current_thread().name), "_rows_patch")


def _versions(raw: dict, count: int) -> list[Batch]:
    """``count`` successive states of one running batch (one more request done each time)."""
    return [
        Batch.model_validate({**raw, "request_counts": {"total": 100_000, "completed": k, "failed": 0}})
        for k in range(1, count + 1)
    ]


def _setup(n_batches: int):
    api = FakeBatchAPI()
    raws = [running(api, request_counts={"total": 100_000, "completed": 0, "failed": 0}) for _ in range(n_batches)]
    client = make_client(api)
    store = install_store(client)
    widget = BatchList(client)
    patches: list[dict] = []
    widget.observe(lambda change: patches.append(change["new"]), "_rows_patch")
    return raws, store, widget, patches, HoldSyncGuard(widget)


def _check(raws, widget, patches, guard, counts):
    assert guard.overlaps == 0
    assert len(patches) == sum(counts)  # one patch per update: none merged away, none lost
    for raw, count in zip(raws, counts, strict=True):
        assert widget._rows[raw["id"]]["completed"] == count  # every batch ends at its newest state
    assert [p["version"] for p in patches] == sorted(p["version"] for p in patches)


def test_ten_thousand_updates_from_workers_and_the_main_thread_go_through_the_main_loop():
    raws, store, widget, patches, guard = _setup(WORKERS + 1)
    loop = asyncio.new_event_loop()
    writer = _main_thread.MainThreadWriter(post=loop.call_soon_threadsafe, main=threading.current_thread())
    work = [_versions(raw, PER_WORKER) for raw in raws[:WORKERS]]

    async def main_thread_side():
        threads = [
            threading.Thread(target=lambda v=v: [store.put(b) for b in v], name=f"worker-{i}")
            for i, v in enumerate(work)
        ]
        for th in threads:
            th.start()
        for batch in _versions(raws[WORKERS], ON_MAIN):  # the main thread writes too (a cell calling wait())
            store.put(batch)
            await asyncio.sleep(0)
        while any(th.is_alive() for th in threads) or writer.pending:
            await asyncio.sleep(0.001)

    with _main_thread.using(writer):
        loop.run_until_complete(main_thread_side())
    loop.close()
    assert guard.writers == {threading.current_thread().name}  # every trait write on the main thread
    _check(raws, widget, patches, guard, [PER_WORKER] * WORKERS + [ON_MAIN])


def test_without_an_event_loop_writes_run_one_at_a_time():
    """The fallback (plain Python, marimo, other hosts): writes run on the caller's thread, never two at once."""
    raws, store, widget, patches, guard = _setup(WORKERS + 1)
    work = [_versions(raw, PER_WORKER // 4) for raw in raws]
    with _main_thread.using(_main_thread.MainThreadWriter(post=None)):
        threads = [threading.Thread(target=lambda v=v: [store.put(b) for b in v]) for v in work[:WORKERS]]
        for th in threads:
            th.start()
        for batch in work[WORKERS]:
            store.put(batch)
        for th in threads:
            th.join()
    _check(raws, widget, patches, guard, [PER_WORKER // 4] * (WORKERS + 1))


def test_a_write_from_the_main_thread_first_runs_what_workers_handed_over():
    """Order holds: a worker's older update queued for the loop never lands after the main thread's newer one."""
    posted = []
    writer = _main_thread.MainThreadWriter(post=posted.append, main=threading.current_thread())
    seen = []
    worker = threading.Thread(target=writer.call, args=(seen.append, "old"))
    worker.start()
    worker.join()
    assert seen == [] and len(posted) == 1 and writer.pending == 1  # handed to the loop, not run on the worker
    writer.call(seen.append, "new")
    assert seen == ["old", "new"]
    posted[0]()  # the loop's turn comes later: nothing is run twice
    assert seen == ["old", "new"] and writer.pending == 0


def test_inside_a_kernel_the_writer_posts_to_the_kernels_io_loop(monkeypatch):
    calls = []
    loop = types.SimpleNamespace(add_callback=calls.append)

    class Kernel:
        @staticmethod
        def initialized():
            return True

        @staticmethod
        def instance():
            return types.SimpleNamespace(io_loop=loop)

    monkeypatch.setitem(__import__("sys").modules, "ipykernel.kernelbase", types.SimpleNamespace(Kernel=Kernel))
    monkeypatch.setattr(_main_thread, "_writer", None)
    writer = _main_thread.writer()
    assert writer.post == loop.add_callback and writer.main is threading.main_thread()
    monkeypatch.delitem(__import__("sys").modules, "ipykernel.kernelbase")
    monkeypatch.setattr(_main_thread, "_writer", None)
    assert _main_thread.writer().post is None  # plain Python: the locked fallback
