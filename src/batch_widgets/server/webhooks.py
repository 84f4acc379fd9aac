"""Delivery of OpenAI's ``batch.*`` webhook events from the local server.

The event is queued in SQLite in the same transaction that makes the batch terminal (``Storage.update_batch``),
so it is never lost and never queued twice. One sender thread (in the process that runs batches) POSTs due
events with Standard-Webhooks headers; anything but a 2xx answer is retried with exponential backoff (1 s,
2 s, 4 s … at most an hour apart, for up to 3 days, as OpenAI does). An event sent but not yet marked delivered
when the process stops is sent again on the next start, with the same ``webhook-id``: at least once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Optional

import httpx

from ..webhooks import sign_webhook, webhook_key
from .storage import Storage

__all__ = ["WebhookSender", "USER_AGENT"]

log = logging.getLogger("batch_widgets.server")

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
FIRST_RETRY = 1.0
MAX_RETRY_GAP = 3600.0
GIVE_UP_AFTER = 3 * 86400.0


class WebhookSender:
    def __init__(
        self,
        storage: Storage,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        first_retry: float = FIRST_RETRY,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        webhook_key(secret)  # a malformed secret fails at start, not at the first delivery
        self.storage, self.url, self._secret = storage, url, secret
        self.first_retry = first_retry
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bw-webhooks", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    for event in self.storage.due_events(time.time()):
                        if self._stop.is_set():
                            break
                        self._deliver(*event)
                    due = self.storage.next_event_due()
                except Exception:  # keep delivering; one bad pass must not end webhooks for good
                    log.exception("webhook delivery pass failed")
                    due = None
                wait = 1.0 if due is None else min(max(due - time.time(), 0.0), 1.0)
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            self.storage.release()

    def _deliver(self, event_id: str, webhook_id: str, body: str, attempts: int) -> None:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(self._secret, webhook_id, timestamp, body),
        }
        try:
            response = self._client.post(self.url, content=body.encode(), headers=headers)
            ok, why = response.is_success, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, why = False, type(exc).__name__
        if ok:
            self.storage.event_delivered(event_id)
            return
        created = _created_at(body)
        if created is not None and time.time() - created > GIVE_UP_AFTER:
            log.warning("webhook %s: giving up after %d attempts (%s)", event_id, attempts + 1, why)
            self.storage.event_delivered(event_id)  # no more attempts (the batch itself is still readable)
            return
        delay = min(self.first_retry * 2.0**attempts, MAX_RETRY_GAP)
        log.info("webhook %s not delivered (%s); attempt %d in %.0f s", event_id, why, attempts + 2, delay)
        self.storage.event_failed(event_id, time.time() + delay)


def _created_at(body: str) -> Optional[int]:
    try:
        return int(json.loads(body)["created_at"])
    except (ValueError, KeyError, TypeError):
        return None
