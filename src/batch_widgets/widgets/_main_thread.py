"""One thread writes widget state.

ipywidgets' ``hold_sync`` is a per-widget flag without a lock, so two threads writing traits at once can merge or
drop updates. Every trait write of our widgets therefore goes through :func:`write`:

- **In an ipykernel** (JupyterLab, Notebook 7, Voilà, VS Code): the write runs on the kernel's main thread. A call
  from the main thread runs at once (after the writes workers handed over before it, so order holds); a call from
  a worker thread (the store's poller, the history loader, the create worker, an action's worker) is queued and
  handed to the kernel's event loop with ``kernel.io_loop.add_callback`` (thread-safe), which runs it between
  shell messages. While a cell runs, queued writes wait for it — except that any write the cell itself makes
  (each poll of ``client.wait()`` reaches the store through the client's event hook) first runs the queue, so
  a dashboard above a waiting cell stays current.
- **Fallback, where there is no ipykernel loop** (plain Python, pytest, marimo and other hosts): writes run on the
  calling thread under one process-wide lock, so two ``hold_sync`` blocks never interleave either; the host sends
  the changes as it does for any widget.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import threading
from typing import Any, Callable, Iterator, Optional

log = logging.getLogger("batch_widgets")

Post = Callable[[Callable[[], None]], Any]


class MainThreadWriter:
    """Runs writes on ``main`` in the order asked for; ``post(fn)`` must run ``fn`` soon on ``main`` and be callable
    from any thread. Without ``post`` (no event loop) writes run on the caller's thread under one lock."""

    def __init__(self, post: Optional[Post] = None, main: Optional[threading.Thread] = None) -> None:
        self.post = post
        self.main = main or threading.main_thread()
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        self._queue_lock = threading.Lock()
        self._scheduled = False
        self._depth = 0  # > 0 while a write runs on the main thread
        self._fallback_lock = threading.RLock()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.post is None:
            with self._fallback_lock:
                fn(*args)
            return
        if threading.current_thread() is self.main:
            if not self._depth:
                self.drain()  # first what the workers handed over: a newer write must not be overtaken
            self._run(fn, args)
            return
        with self._queue_lock:
            self._queue.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        self.post(self.drain)

    def drain(self) -> None:
        """Run every queued write (on the main thread)."""
        while True:
            with self._queue_lock:
                if not self._queue:
                    self._scheduled = False
                    return
                fn, args = self._queue.popleft()
            try:
                self._run(fn, args)
            except Exception:  # a worker has gone on; nobody else would see this
                log.exception("batch_widgets: a widget update failed")

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._depth += 1
        try:
            fn(*args)
        finally:
            self._depth -= 1

    @property
    def pending(self) -> int:
        return len(self._queue)


def _kernel_post() -> Optional[Post]:
    """The running ipykernel's ``io_loop.add_callback``, or None outside one (never imports ipykernel itself)."""
    kernelbase = sys.modules.get("ipykernel.kernelbase")
    if kernelbase is None or not kernelbase.Kernel.initialized():
        return None
    loop = getattr(kernelbase.Kernel.instance(), "io_loop", None)
    return getattr(loop, "add_callback", None)


_writer: Optional[MainThreadWriter] = None
_writer_lock = threading.Lock()


def writer() -> MainThreadWriter:
    """The process's writer: on the kernel's loop inside an ipykernel, else the locked fallback."""
    global _writer
    with _writer_lock:
        if _writer is None or (_writer.post is None and _kernel_post() is not None):
            _writer = MainThreadWriter(_kernel_post())
        return _writer


def write(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` (a widget-state write) on the one thread allowed to write widget state."""
    writer().call(fn, *args)


@contextlib.contextmanager
def using(custom: MainThreadWriter) -> Iterator[MainThreadWriter]:
    """Use another writer for a while (tests drive their own event loop)."""
    global _writer
    with _writer_lock:
        saved, _writer = _writer, custom
    try:
        yield custom
    finally:
        with _writer_lock:
            _writer = saved
