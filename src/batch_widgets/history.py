"""batch_history(): every batch of an account as a typed DataFrame, with filters, stats, exports and charts.

The first call reads every page once; ``refresh()`` then asks only for what may have changed (new pages until
a known id, plus the batches still active) through :class:`~batch_widgets.index.BatchIndex`.

    h = batch_history()
    h.filter(status=["failed", "expired"], since="2026-11-01", tags="eval").to_dataframe()
    h.stats()["success_rate"], h.processing_time_chart()
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Union, cast

import pandas as pd

from . import analytics
from .index import BatchIndex
from .models import BatchStatus

if TYPE_CHECKING:
    import altair as alt

    from .client import BatchClient
    from .models import Batch
    from .pricing import Pricing
    from .results import BatchResults

__all__ = ["BatchHistory", "batch_history"]

_FILTER_KEYS = ("status", "search", "endpoint", "model", "since", "until", "tags", "connection")


def batch_history(
    client: Optional["BatchClient"] = None,
    *,
    clients: Optional[Mapping[str, Any]] = None,
    since: Any = None,
    pricing: Optional["Pricing"] = None,
) -> "BatchHistory":
    """Fetch the batch list (every page, once) and return it as a :class:`BatchHistory`.

    ``client`` defaults to ``BatchClient()`` (the configured provider, else the embedded local server);
    ``clients={"OpenAI": c1, "Claude": c2}`` merges several connections into one history whose frame has a
    ``connection`` column (a snapshot: call ``batch_history`` again to update it);
    ``since`` keeps batches created at or after it (Unix seconds, ISO text, date or datetime).
    """
    if clients is not None:
        from .connections import labelled

        if client is not None:
            raise ValueError("pass client= or clients=, not both")
        merged = []
        for label, each in clients.items():
            part = BatchHistory(each, pricing=pricing)
            part.refresh()
            merged += [labelled(b, label) for b in part.index.batches()]
        history = BatchHistory.from_batches(merged, pricing=pricing)
        return history.filter(since=since) if since is not None else history
    history = BatchHistory(client, pricing=pricing)
    history.refresh()
    return history.filter(since=since) if since is not None else history


def _charts() -> Any:
    """The chart builders; Altair and vl-convert come with the ``charts`` extra."""
    try:
        from . import charts
    except ImportError as exc:
        raise ImportError(
            f"history charts need Altair and vl-convert ({exc.name} is not installed): "
            "pip install 'batch_widgets[charts]'"
        ) from exc
    return charts


class BatchHistory:
    """A snapshot of batches as one typed row each; ``filter`` returns a new history, ``refresh`` updates.

    Made by :func:`batch_history`, or from batches already in hand: ``BatchHistory(batches)`` /
    :meth:`from_batches` (such a history has no client and cannot refresh).
    """

    @classmethod
    def from_batches(cls, batches: Iterable["Batch"], *, pricing: Optional["Pricing"] = None) -> "BatchHistory":
        return cls(index=BatchIndex(batches), pricing=pricing)

    def __init__(
        self,
        client: Union["BatchClient", Iterable["Batch"], None] = None,
        *,
        index: Optional[BatchIndex] = None,
        pricing: Optional["Pricing"] = None,
        filters: Optional[Mapping[str, Any]] = None,
        _shared: Optional[dict] = None,
    ) -> None:
        if client is not None and not hasattr(client, "list_batches"):  # batches already in hand
            index, client = BatchIndex(client), None
        if client is None and index is None:
            from .client import BatchClient

            client = BatchClient()
        # The duck-typed check above left a client or None (mypy cannot narrow on hasattr).
        self.client = cast(Optional["BatchClient"], client)
        self.index = index if index is not None else BatchIndex()
        self.pricing = pricing
        self.filters = {k: v for k, v in (filters or {}).items() if v is not None}
        unknown = set(self.filters) - set(_FILTER_KEYS)
        if unknown:
            raise TypeError(f"unknown filter(s) {sorted(unknown)}; use {', '.join(_FILTER_KEYS)}")
        if "status" in self.filters:  # a bad status is named at the filter() call, not on first use
            statuses = self.filters["status"]
            for status in [statuses] if isinstance(statuses, str) else statuses:
                BatchStatus.parse(status)
        # State shared by a history and the filtered views made from it: the full frame and result usages.
        self._shared = _shared if _shared is not None else {"frame": None, "version": -1, "result_usage": {}}
        self._frame: Optional[pd.DataFrame] = None
        self._version = -1

    # -- data ----------------------------------------------------------------------------------------------
    def refresh(self) -> "BatchHistory":
        """Bring the batch list up to date (few requests once loaded); returns ``self``."""
        if self.client is None:
            raise ValueError("this history has no client to refresh from")
        changed = self.index.refresh(self.client)
        old = self._shared["frame"]
        if old is None or not changed:
            return self
        # Rebuild only the changed rows: a refresh usually touches a handful of a long history's batches.
        fresh = analytics.batches_frame(changed, pricing=self.pricing, result_usage=self._shared["result_usage"])
        kept = old[~old["id"].isin(fresh["id"]).to_numpy(dtype=bool)]
        frame = pd.concat([fresh, kept], ignore_index=True) if len(kept) else fresh
        frame = frame.sort_values(["created_at", "id"], ascending=False, kind="stable", ignore_index=True)
        self._shared["frame"] = frame
        self._shared["version"] += 1
        return self

    def _invalidate(self) -> None:
        self._shared["frame"] = None
        self._shared["version"] += 1

    def _full_frame(self) -> pd.DataFrame:
        if self._shared["frame"] is None:
            self._shared["frame"] = analytics.batches_frame(
                self.index.batches(), pricing=self.pricing, result_usage=self._shared["result_usage"]
            )
        return self._shared["frame"]

    def _view(self) -> pd.DataFrame:
        full = self._full_frame()
        if self._frame is None or self._version != self._shared["version"]:
            self._frame = analytics.filter_frame(full, **self.filters) if self.filters else full
            self._version = self._shared["version"]
        return self._frame

    def add_results(self, results: "BatchResults") -> "BatchHistory":
        """Use downloaded results' token counts for the cost of their batch (when it carries no usage)."""
        if results.batch is None:
            raise ValueError("these results are not tied to a batch (use client.results(batch_id))")
        self._shared["result_usage"][results.batch.id] = results.usage()
        self._invalidate()
        return self

    def to_dataframe(self) -> pd.DataFrame:
        """One typed row per batch, newest first (a copy: change it freely)."""
        return self._view().reset_index(drop=True).copy()

    def filter(
        self,
        status: Union[str, Sequence[str], None] = None,
        search: Optional[str] = None,
        endpoint: Union[str, Sequence[str], None] = None,
        model: Union[str, Sequence[str], None] = None,
        since: Any = None,
        until: Any = None,
        tags: Union[str, Sequence[str], None] = None,
        connection: Union[str, Sequence[str], None] = None,
    ) -> "BatchHistory":
        """A new history narrowed further: conditions add to this one's (a condition given again replaces
        the old one); refreshing it re-applies them. A list of statuses, endpoints or models matches any of
        them; ``tags`` matches batches carrying every tag given."""
        new = {
            "status": status,
            "search": search,
            "endpoint": endpoint,
            "model": model,
            "since": since,
            "until": until,
            "tags": tags,
            "connection": connection,
        }
        merged = {**self.filters, **{k: v for k, v in new.items() if v is not None}}
        view = BatchHistory(self.client, index=self.index, pricing=self.pricing, filters=merged, _shared=self._shared)
        overlap = set(self.filters) & {k for k, v in new.items() if v is not None}
        if self._frame is not None and self._version == self._shared["version"] and not overlap:
            # Narrow this view rather than the full frame: same answer, less work.
            view._frame = analytics.filter_frame(self._frame, **{k: v for k, v in new.items() if v is not None})
            view._version = self._version
        return view

    def stats(self) -> dict[str, Any]:
        """Counts per status, success/failure rates, processing time, throughput and cost: the formulas are
        :func:`~batch_widgets.analytics.summary_stats`'s (the History panel shows the same numbers)."""
        return analytics.summary_stats(self._view())

    # -- exports -------------------------------------------------------------------------------------------
    def to_csv(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> Optional[str]:
        """CSV (tags comma-joined, metadata as JSON, formula-like text defused, LF line ends); returns the text
        when no path is given. The History panel's "Export CSV" writes the same bytes for the same filter."""
        frame = analytics.frame_for_export(self.to_dataframe(), csv=True)
        if path is None:
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, lineterminator="\n")
            return buffer.getvalue()
        frame.to_csv(path, index=False, lineterminator="\n")
        return None

    def to_parquet(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Parquet keeps the types (UTC datetimes, tag lists); metadata is stored as JSON text."""
        frame = self.to_dataframe()
        frame["metadata"] = analytics.frame_for_export(frame[["tags", "metadata"]])["metadata"]
        # Plain lists: pandas cannot read back the Arrow list dtype it writes into the file's metadata.
        frame["tags"] = pd.Series([list(t) for t in frame["tags"]], dtype=object, index=frame.index)
        frame.to_parquet(path, index=False)

    # -- charts --------------------------------------------------------------------------------------------
    def success_failure_chart(self, **kwargs: Any) -> "alt.Chart":
        return _charts().success_failure_chart(self._view(), **kwargs)

    def status_chart(self, **kwargs: Any) -> "alt.Chart":
        return _charts().status_chart(self._view(), **kwargs)

    def processing_time_chart(self, **kwargs: Any) -> "alt.Chart":
        return _charts().processing_time_chart(self._view(), **kwargs)

    def cost_chart(self, by: str = "day", **kwargs: Any) -> "alt.Chart":
        return _charts().cost_chart(self._view(), by=by, **kwargs)

    def throughput_chart(self, **kwargs: Any) -> "alt.Chart":
        return _charts().throughput_chart(self._view(), **kwargs)

    # -- misc ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._view())

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.filters.items())
        return f"<BatchHistory {len(self)} batches{' where ' + shown if shown else ''}>"
