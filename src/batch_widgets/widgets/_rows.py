"""Batches as the compact, JSON-only dicts the views render (one definition, used by every panel).

A row is a pure function of the batch and the moment the store saw it change, so an unchanged batch gives an
equal row and a poll tick that changed nothing sends nothing. Rates and ETAs are measured at that moment; the
browser counts them down from ``seen`` without kernel traffic.
"""

from __future__ import annotations

from typing import Any, Optional

from ..facts import visible_metadata
from ..models import Batch, BatchStatus


def throughput(batch: Batch, at: float) -> Optional[float]:
    """Requests finished per second since the batch started running (None before there is a rate)."""
    start = batch.in_progress_at
    end = batch.finalizing_at or batch.ended_at or at
    done = batch.request_counts.done
    if start is None or done <= 0 or end <= start:
        return None
    return done / (end - start)


def eta_seconds(batch: Batch, at: float) -> Optional[float]:
    """Seconds left at ``at`` if the current rate holds (None when unknown or not running)."""
    if batch.status is not BatchStatus.IN_PROGRESS:
        return None
    rate = throughput(batch, at)
    counts = batch.request_counts
    if not rate or counts.total <= 0:
        return None
    return max(0.0, (counts.total - counts.done) / rate)


def batch_row(batch: Batch, seen: Optional[float]) -> dict[str, Any]:
    at = float(seen or batch.created_at)
    counts = batch.request_counts
    rate = throughput(batch, at)
    eta = eta_seconds(batch, at)
    row = {
        "id": batch.id,
        "status": batch.status.value,
        "total": counts.total,
        "completed": counts.completed,
        "failed": counts.failed,
        "created": batch.created_at,
        "in_progress": batch.in_progress_at,
        "finalizing": batch.finalizing_at,
        "cancelling": batch.cancelling_at,
        "ended": batch.ended_at,
        "expires": batch.expires_at,
        "endpoint": batch.endpoint or "",
        "model": batch.model or "",
        "description": batch.description or "",
        "tags": batch.tags,
        "throughput": None if rate is None else float(f"{rate:.4g}"),
        "eta": None if eta is None else round(eta, 1),
        "seen": round(at, 3),
    }
    connection = (batch.model_extra or {}).get("connection")
    if connection:  # only in a view over several connections (clients={...})
        row["connection"] = str(connection)
    return row


def job_row(job_id: str, batches: list[Batch], seen: Optional[float]) -> dict[str, Any]:
    """One Active-list row for a whole job: progress over all of its requests, its parts and round, an ETA from
    the job's own rate, and its batches (``batches``) for the row to expand to."""
    from ..jobs import _part_of, _round_of, job_view

    state = job_view(job_id, batches)
    status = state.display_status()
    counts = state.counts()
    at = float(seen or max(b.created_at for b in batches))
    starts = [b.in_progress_at for b in batches if b.in_progress_at]
    start = min(starts) if starts else None
    active = status == "in_progress"
    ended = None if active else max((b.ended_at or b.created_at for b in batches), default=None)
    done = counts.done
    rate = done / (at - start) if start and done and at > start else None
    eta = (counts.total - done) / rate if rate and active else None
    first = min(batches, key=lambda b: b.created_at)
    members = sorted(batches, key=lambda b: (_part_of(b)[0], _round_of(b), b.created_at))
    return {
        "id": job_id,
        "kind": "job",
        "status": status,
        "total": counts.total,
        "completed": counts.completed,
        "failed": counts.failed,
        "created": first.created_at,
        "in_progress": start,
        "finalizing": None,
        "cancelling": max((b.cancelling_at for b in batches if b.cancelling_at), default=None),
        "ended": ended,
        "expires": max((b.expires_at for b in batches if b.expires_at), default=None),
        "endpoint": first.endpoint or "",
        "model": first.model or "",
        "description": first.description or "",
        "tags": first.tags,
        "throughput": None if rate is None else float(f"{rate:.4g}"),
        "eta": None if eta is None else round(eta, 1),
        "seen": round(at, 3),
        "parts": state.parts,
        "round": max((_round_of(b) for b in batches), default=0),
        "batches": [
            {
                "id": b.id,
                "part": _part_of(b)[0],
                "round": _round_of(b),
                "status": b.status.value,
                "total": b.request_counts.total,
                "completed": b.request_counts.completed,
                "failed": b.request_counts.failed,
            }
            for b in members
        ],
    }


def _job_of(batch: Batch) -> Optional[dict[str, Any]]:
    """{"id", "part", "parts", "round"} of the job this batch belongs to (None for a batch of its own)."""
    from ..jobs import job_id_of, job_position

    job_id = job_id_of(batch)
    if not job_id:
        return None
    part, parts, round_ = job_position(batch)
    return {"id": job_id, "part": part, "parts": parts, "round": round_}


def validation_summary(batch: Batch) -> str:
    """The first of a refused input's errors, for a one-line notice ("line 2: not valid JSON; 3 more")."""
    errors = batch.errors.data if batch.errors else []
    if not errors:
        return "no request ran (the provider gave no reason)"
    first = errors[0]
    where = f"line {first.line}: " if first.line is not None else ""
    more = f"; {len(errors) - 1} more in its details" if len(errors) > 1 else ""
    return f"{where}{first.message or first.code or 'refused'}{more}"


def cost_detail(batch: Batch) -> dict[str, Any]:
    """{"usd", "source", "tokens"}: ``pricing.batch_cost`` (the one cost every view shows) plus the tokens behind
    it (None when the batch reports none yet: see ``pricing.batch_usage``)."""
    from ..pricing import batch_cost, batch_usage

    usd, source = batch_cost(batch)
    usage = batch.usage if batch_usage(batch) is not None else None
    tokens = None
    if usage is not None:
        tokens = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cached": usage.cached_tokens,
            "reasoning": usage.output_tokens_details.reasoning_tokens if usage.output_tokens_details else 0,
            "total": usage.total_tokens or usage.input_tokens + usage.output_tokens,
        }
    return {"usd": usd, "source": source, "tokens": tokens}


_KNOWN = set(Batch.model_fields)


def batch_detail(batch: Batch, seen: Optional[float]) -> dict[str, Any]:
    """Everything a details view shows: the row plus every field, errors, files, timeline and cost."""
    errors = [
        {"code": e.code or "", "message": e.message or "", "line": e.line, "param": e.param or ""}
        for e in (batch.errors.data if batch.errors else [])
    ]
    start = batch.in_progress_at
    end = batch.ended_at
    extra = {k: v for k, v in (batch.model_extra or {}).items() if k not in _KNOWN}
    return {
        **batch_row(batch, seen),
        "completion_window": batch.completion_window,
        "input_file_id": batch.input_file_id or "",
        "output_file_id": batch.output_file_id or "",
        "error_file_id": batch.error_file_id or "",
        "timeline": {
            "created": batch.created_at,
            "in_progress": batch.in_progress_at,
            "finalizing": batch.finalizing_at,
            "completed": batch.completed_at,
            "failed": batch.failed_at,
            "expired": batch.expired_at,
            "cancelling": batch.cancelling_at,
            "cancelled": batch.cancelled_at,
            "expires": batch.expires_at,
        },
        # Running time from start to end; None while running (the view ticks it from "in_progress").
        "processing_seconds": (end - start) if (start is not None and end is not None) else None,
        "metadata": visible_metadata(batch.metadata),
        "job": _job_of(batch),
        "errors": errors,
        "failed_validation": batch.failed_validation,
        "cost": cost_detail(batch),
        # Provider-specific fields we do not model, shown as text.
        "extra": {str(k): _as_text(v) for k, v in extra.items()},
    }


def _as_text(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)[:500]
    except (TypeError, ValueError):
        return str(value)[:500]
