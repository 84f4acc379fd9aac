"""The Details panel: one batch, every field, live while it runs, with its actions (cancel, downloads, retry)."""

from __future__ import annotations

from typing import Any, Optional

import traitlets as t

from ..errors import NotFoundError
from ..facts import MAX_FILE_BYTES
from ..models import Batch
from ..store import DETAILS_INTERVAL, StoreEvent
from ._rows import batch_detail
from .base import BatchWidgetBase, PanelMixinBase, min_interval, positive_seconds

#: Files larger than this are not pushed through the kernel websocket; the view says how to save them. The cap
#: is the largest batch input (so any input downloads), chunks or not.
MAX_DOWNLOAD_BYTES = MAX_FILE_BYTES
_FILE_FIELDS = {"output": "output_file_id", "error": "error_file_id", "input": "input_file_id"}


class DetailsMixin(PanelMixinBase):
    """Traits and handlers of the Details panel; composed by ``BatchDetails`` and ``BatchDashboard``."""

    #: Which batch is shown ("" = none). The dashboard's view sets it to navigate.
    _detail_id = t.Unicode("").tag(sync=True)
    #: batch_detail() of that batch; {} while loading or when it does not exist.
    _detail = t.Dict().tag(sync=True)
    #: "" | "loading" | "missing"
    _detail_state = t.Unicode("").tag(sync=True)
    #: Seconds between polls while the shown batch is active.
    details_interval = t.Float(DETAILS_INTERVAL)
    #: The first rows of ``results_frame`` after "Results as DataFrame":
    #: {"batch_id", "rows": total, "columns": [...], "head": [[text, ...], ...]}; {} when none.
    _results_preview = t.Dict().tag(sync=True)
    #: Kinds ("output", "error", "input") of the shown batch's files the provider has deleted (expired):
    #: the view says "expired" instead of offering a download that cannot work.
    _files_gone = t.List(t.Unicode()).tag(sync=True)

    def _details_setup(self, *, details_interval: float = DETAILS_INTERVAL) -> None:
        self.details_interval = details_interval
        #: Set by the "results as DataFrame" button.
        self.results_frame: Any = None

    @t.validate("details_interval")
    def _valid_details_interval(self, proposal: Any) -> float:
        return positive_seconds("details_interval", proposal["value"])

    # -- which batch -----------------------------------------------------------------------------------------
    @t.observe("_detail_id")
    def _detail_id_changed(self, change: Any) -> None:
        batch_id = change["new"]
        store = self._store
        if store is None:
            return
        if self._subscription is not None:  # None once the widget is closed
            store.watch(self._subscription, [batch_id] if batch_id else [])
        if self._results_preview.get("batch_id") != batch_id:
            self._results_preview = {}
        self._files_gone = []
        if not batch_id:
            self._detail, self._detail_state = {}, ""
            return
        batch = store.get(batch_id)
        if batch is None:
            self._detail_state = "loading"
            if getattr(self, "_detail_load_inline", False):
                self._detail_load(batch_id)
            else:  # one request, in a worker: an observer runs on the shell thread and must not block it
                self._in_worker("load", self._detail_load, batch_id)
            return
        self._detail_show(batch)
        store.wake()

    def _detail_load(self, batch_id: str) -> None:
        store = self._store
        assert store is not None
        try:
            batch = store.retrieve(batch_id, client=self._client)
        except NotFoundError:
            self._set(_detail={}, _detail_state="missing")
            return
        except Exception as exc:  # noqa: BLE001 - shown, and the poller retries the watched id
            # A store-type banner: the poller's next good refresh (which loads the watched id) clears it.
            self._set(_banner=f"Could not load batch {batch_id}: {exc}", _banner_from_store=True)
            store.wake()
            return
        self._write(self._detail_loaded, batch)
        store.wake()

    def _detail_loaded(self, batch: Batch) -> None:
        if batch.id == self._detail_id:  # the user may have moved on meanwhile
            self._detail_show(batch)

    def _detail_show(self, batch: Batch) -> None:
        detail = batch_detail(batch, self._store.seen_at(batch.id) if self._store else None)
        with self.hold_sync():
            if detail != self._detail:
                self._detail = detail
            self._detail_state = ""

    def _detail_batch(self) -> Batch:
        batch = self._store.get(self._detail_id) if (self._store and self._detail_id) else None
        if batch is None:
            raise ValueError("no batch is shown")
        return batch

    def _store_changed(self, event: StoreEvent) -> None:
        super()._store_changed(event)
        for batch in event.changed:
            if batch.id == self._detail_id:
                self._detail_show(batch)

    def _poll_wants(self) -> Optional[float]:
        mine = None
        store = self._store
        batch = store.get(self._detail_id) if (store is not None and self._detail_id) else None
        if (batch is not None and batch.is_active) or (batch is None and self._detail_state == "loading"):
            mine = self.details_interval  # also while a load that failed waits for its retry
        return min_interval(mine, super()._poll_wants())

    # -- Python API ----------------------------------------------------------------------------------------
    def results(self, **kwargs: Any) -> Any:
        """The shown batch's results (``BatchResults``: output + error file joined to the inputs)."""
        batch = self._detail_batch()
        return self._client_for(batch.id).results(batch, **kwargs)

    # -- actions ---------------------------------------------------------------------------------------------
    def _on_download(self, msg: dict, _buffers: list) -> None:
        """{"action": "download", "kind": "output" | "error" | "input"} -> one message with the file's bytes.
        Runs in a worker (WORKER_ACTIONS): up to 200 MB must not hold the shell thread."""
        kind = msg.get("kind")
        if kind not in _FILE_FIELDS:
            raise ValueError(f"unknown file kind {kind!r}")
        batch = self._detail_batch()
        file_id = getattr(batch, _FILE_FIELDS[kind])
        if not file_id:
            raise ValueError(f"batch {batch.id} has no {kind} file")
        size = None
        try:
            size = self._client_for(batch.id).retrieve_file(file_id).bytes
        except NotFoundError:
            return self._file_gone(batch, kind)
        except Exception:  # noqa: BLE001 - the size is only a guard; the download itself reports errors
            pass
        if size is not None and size > MAX_DOWNLOAD_BYTES:
            self._show_error(
                f"The {kind} file is {size / 2**20:.0f} MiB, too big for a browser download through the kernel. "
                f"Save it with client.download_file({file_id!r}, 'path.jsonl')."
            )
            return
        try:
            data = self._client_for(batch.id).file_content(file_id)
        except NotFoundError:
            return self._file_gone(batch, kind)
        self._write(
            self.send, {"type": "download", "filename": f"{batch.id}_{kind}.jsonl", "mime": "application/jsonl"}, [data]
        )

    def _file_gone(self, batch: Batch, kind: str) -> None:
        if batch.id == self._detail_id and kind not in self._files_gone:
            self._set(_files_gone=[*self._files_gone, kind])
        self._show_notice(
            f"The {kind} file of {batch.label} has expired: the provider deleted it (output_expires_after, or its "
            "retention period ended), so it can no longer be downloaded.",
            "warning",
        )

    def _on_retry_failed(self, _msg: dict, _buffers: list) -> None:
        """Resubmit the shown batch's failed requests as a new batch, then show that batch."""
        batch = self._detail_batch()
        new = self._client_for(batch.id).retry_failed(batch)  # ValueError if none failed
        if self._store is not None:
            self._store.put(new)
        self._show_notice(f"Retry batch {new.id} created from the failures of {batch.label}.", "success")
        self._set(_detail_id=new.id)

    def _on_results_frame(self, _msg: dict, _buffers: list) -> None:
        """Load the shown batch's results into ``.results_frame`` (a pandas DataFrame)."""
        batch = self._detail_batch()
        frame = self.results().to_dataframe()
        self.results_frame = frame
        # A worker thread: traits go through _set (one thread writes widget state); the name was looked up by
        # _dispatch_action on the shell thread.
        self._set(_results_preview=results_preview(batch.id, frame))
        name = self._py_name
        self._show_notice(f"{len(frame):,} result rows of {batch.label} are in {name}.results_frame.", "success")


#: Columns the preview shows, when the frame has them (the answer or the error, not every field).
PREVIEW_COLUMNS = ("custom_id", "status", "text", "error_message")
PREVIEW_ROWS = 5
PREVIEW_CHARS = 120


def results_preview(batch_id: str, frame: Any) -> dict[str, Any]:
    """The first rows of a results frame as short text cells (the view renders them as text)."""
    columns = [c for c in PREVIEW_COLUMNS if c in frame.columns]
    head = frame[columns].head(PREVIEW_ROWS)
    cells = [["" if _missing(v) else str(v)[:PREVIEW_CHARS] for v in row] for row in head.itertuples(index=False)]
    return {"batch_id": batch_id, "rows": int(len(frame)), "columns": columns, "head": cells}


def _missing(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN, NA, None
    except (TypeError, ValueError):  # pd.NA compares to NA
        return True


class BatchDetails(DetailsMixin, BatchWidgetBase):
    """Everything about one batch, refreshed every ``details_interval`` seconds while it runs."""

    _default_name = "details"

    def __init__(
        self,
        batch_id: str,
        client: Any = None,
        *,
        details_interval: float = DETAILS_INTERVAL,
        **kwargs: Any,
    ) -> None:
        if isinstance(batch_id, Batch):
            batch_id = batch_id.id
        if not isinstance(batch_id, str) or not batch_id:
            raise ValueError(f"BatchDetails(batch_id=...) needs a batch id string, got {batch_id!r}")
        super().__init__(_view="details", **kwargs)
        self._details_setup(details_interval=details_interval)
        self._connect_store(client)
        self._detail_load_inline = True  # a cell may wait for one request (a message handler may not)
        try:
            self._detail_id = batch_id
        finally:
            self._detail_load_inline = False

    @property
    def batch(self) -> Optional[Batch]:
        return self._store.get(self._detail_id) if self._store else None

    def refresh(self) -> Batch:
        """Re-read this batch now."""
        assert self._store is not None
        return self._store.retrieve(self._detail_id)
