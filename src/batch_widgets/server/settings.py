"""Settings of the local batch server: one dataclass shared by ``LocalBatchServer``, the CLI and the app."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..validation import MAX_FILE_BYTES

__all__ = ["ServerSettings", "parse_window", "check_bind", "INSECURE_FLAG"]

#: The CLI flag (and, with underscores, the ``LocalBatchServer`` argument) that allows serving other machines
#: without an API key. Named so that nobody passes it by accident.
INSECURE_FLAG = "--insecure-allow-no-api-key"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: Optional[str], insecure: bool = False) -> None:
    """Refuse to serve other machines without an API key: anyone on the network could run batches (and, in
    upstream mode, spend the upstream key). ValueError with what to do, unless ``insecure`` says so explicitly."""
    if api_key or insecure or is_loopback(host):
        return
    raise ValueError(
        f"refusing to bind {host} without an API key: anyone who can reach this machine could use the server "
        "(and, in upstream mode, spend the upstream key). Set --api-key (or $BATCH_WIDGETS_LOCAL_API_KEY), "
        f"bind 127.0.0.1, or pass {INSECURE_FLAG} if you really mean an open server."
    )


_WINDOW_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(window: str) -> int:
    """Seconds in a completion window such as ``"24h"``, ``"7d"``, ``"90m"``; ValueError if malformed."""
    match = _WINDOW_RE.match(str(window))
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"completion_window must look like '24h' (a positive number + s/m/h/d), got {window!r}")
    return int(match.group(1)) * _UNIT[match.group(2)]


@dataclass
class ServerSettings:
    data_dir: Path
    api_key: Optional[str] = field(default=None, repr=False)  # secrets never in a repr (or a log line)
    executor: str = "simulated"  # or "upstream"
    upstream_url: Optional[str] = None
    upstream_api_key: Optional[str] = field(default=None, repr=False)
    concurrency: int = 8  # upstream requests in flight
    rate: float = 0.0  # simulated requests per second, 0 = as fast as possible
    latency: float = 0.0  # simulated seconds per request
    failure_rate: float = 0.0  # simulated fraction of requests answered with a transient 429/500
    seed: Optional[int] = None  # makes the simulated failures reproducible; None = they differ per run
    window_seconds: Optional[int] = None  # overrides every completion_window (tests use a few seconds)
    max_upload_bytes: int = MAX_FILE_BYTES
    poll_interval: float = 0.5  # how often the runner looks for batches created by other processes
    # Per model, the most estimated input tokens (batch_widgets.tokens) of batches not yet terminal; a batch that
    # would pass it fails with token_limit_exceeded, as OpenAI's enqueued-token limit does. None = no limit.
    enqueued_token_limit: Optional[int] = None
    webhook_url: Optional[str] = None  # where batch.* events are POSTed (Standard Webhooks, as OpenAI sends them)
    webhook_secret: Optional[str] = field(default=None, repr=False)  # "whsec_" + base64 key that signs them
