"""When to retry a request and how long to wait, following the official SDK's rules.

Retried: connection errors, timeouts, HTTP 408, 429 and 5xx. Never 409 (a cancel that lost the race with the
batch finishing will not succeed by asking again) nor any other 4xx. A server's ``x-should-retry`` header
overrides the status rule. The wait honours ``retry-after-ms`` then ``retry-after`` (seconds or an HTTP date)
when it lies in (0, 60] s; otherwise exponential backoff from 0.5 s doubling up to 8 s, times a jitter in
[0.75, 1] so that many clients do not retry in lockstep.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Callable, Mapping, Optional

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


def should_retry_status(status: int, headers: Mapping[str, str]) -> bool:
    if status == 409:
        return False
    override = (headers.get("x-should-retry") or "").strip().lower()
    if override in ("true", "false"):
        return override == "true"
    return status in (408, 429) or status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[float]:
    """The server's requested wait in seconds, or None if it sent none we can read."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - (time.time() if now is None else now)


def retry_delay(
    retries_taken: int,
    headers: Optional[Mapping[str, str]] = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``retries_taken + 1``."""
    requested = retry_after_seconds(headers) if headers is not None else None
    if requested is not None and 0 < requested <= MAX_RETRY_AFTER:
        return requested
    backoff = min(INITIAL_DELAY * 2.0**retries_taken, MAX_DELAY)
    return backoff * (1.0 - 0.25 * rand())
