"""Webhooks as OpenAI sends them: Standard-Webhooks signatures, signed by the local server, checked here.

OpenAI POSTs ``{"id": "evt_…", "object": "event", "type": "batch.completed", "created_at": …, "data": {"id":
"batch_…"}}`` with three headers: ``webhook-id`` (the same on every retry: use it to drop duplicates),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, space-separated when several keys sign). The key is the base64 part of the
``whsec_…`` secret. ``verify_webhook`` accepts exactly what the official SDK's ``client.webhooks.unwrap``
accepts, for receivers that do not use the SDK.

Imports nothing of ours but ``errors`` and ``facts``, so the server may use it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional, Union

from .errors import BatchWidgetsError
from .facts import TERMINAL_STATUSES

__all__ = ["BATCH_EVENTS", "WebhookVerificationError", "sign_webhook", "verify_webhook", "webhook_key"]

#: Terminal batch status -> the event OpenAI sends for it.
BATCH_EVENTS = {status: f"batch.{status}" for status in TERMINAL_STATUSES}
#: How old (or how far in the future) a delivery may be, in seconds: the SDK's default.
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(BatchWidgetsError, ValueError):
    """The payload was not signed with this secret, or its timestamp is outside the tolerance."""


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (any other string is used as UTF-8 bytes, as the SDK does)."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret 'whsec_…' must continue with base64") from None
    return secret.encode()


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    digest = hmac.new(webhook_key(secret), f"{webhook_id}.{timestamp}.{text}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    payload: Union[bytes, str],
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> dict[str, Any]:
    """Check a webhook delivery's signature and age; return the parsed event.

    ``payload`` is the raw request body (exactly as received), ``headers`` the request headers (any case).
    Raises ``WebhookVerificationError`` naming what is wrong.
    """
    lower = {str(k).lower(): v for k, v in headers.items()}
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not lower.get(h)]
    if missing:
        raise WebhookVerificationError(f"missing webhook header(s): {', '.join(missing)}")
    try:
        timestamp = int(lower["webhook-timestamp"])
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if current - timestamp > tolerance:
        raise WebhookVerificationError(f"the webhook is older than {tolerance} s (a replay?)")
    if timestamp > current + tolerance:
        raise WebhookVerificationError(f"the webhook timestamp is more than {tolerance} s in the future")
    expected = sign_webhook(secret, lower["webhook-id"], timestamp, payload)[3:]
    given = [part[3:] if part.startswith("v1,") else part for part in lower["webhook-signature"].split()]
    if not any(hmac.compare_digest(expected, sig) for sig in given):
        raise WebhookVerificationError("the webhook signature does not match this secret")
    try:
        event = json.loads(payload)
    except ValueError:
        raise WebhookVerificationError("the webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the webhook body is not a JSON object")
    return event
