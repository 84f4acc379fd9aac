"""The one estimate of a request's input tokens, shared by the local server and the client side.

OpenAI counts a batch's *enqueued* input tokens per model against an organisation limit before running it.
Nobody outside OpenAI can count exactly without the model's tokenizer, so batch_widgets uses one cheap rule
everywhere: **one token per 4 characters of the request body as compact JSON** (``separators=(",", ":")``,
non-ASCII kept as characters), at least 1 per request. English prose runs ~4 characters a token, and the JSON
keys roughly stand in for the chat template's own tokens, so the figure lands near the real count for typical
chat requests.

- The local server's ``--enqueued-token-limit`` sums this over a batch's lines, and its simulated executor
  reports exactly this as each answer's input tokens, so a local dry run and the limit agree.
- Client code (the jobs queue) uses the same functions to keep submissions under a limit.

Imports nothing of ours, so every layer may use it.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Union

__all__ = ["CHARS_PER_TOKEN", "estimate_input_tokens", "estimate_lines_tokens"]

#: Characters of compact-JSON body per estimated token.
CHARS_PER_TOKEN = 4


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Estimated input tokens of one request body (the ``body`` of a batch line)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    return max(1, len(text) // CHARS_PER_TOKEN)


def estimate_lines_tokens(lines: Iterable[Union[bytes, str]]) -> int:
    """Sum of ``estimate_input_tokens`` over JSONL batch lines; blank or unparseable lines count nothing."""
    total = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        body = obj.get("body") if isinstance(obj, dict) else None
        if isinstance(body, dict):
            total += estimate_input_tokens(body)
    return total
