"""The Anthropic dialect: Message Batches (``/v1/messages/batches``) in our one vocabulary.

How it maps:
- A MessageBatch becomes a :class:`~batch_widgets.models.Batch`: ``in_progress`` -> ``in_progress``, ``canceling``
  -> ``cancelling``; ``ended`` -> ``cancelled`` if cancellation was initiated, ``expired`` if every request that
  ended did so by expiring, else ``completed``. Counts: ``total`` is their sum, ``completed`` = succeeded,
  ``failed`` = errored (canceled and expired requests are "never ran", as in our error files). RFC 3339 times
  become Unix seconds. ``output_file_id`` is the batch's ``results_url``; ``input_file_id`` is ``""``.
- Results lines ``{custom_id, result: {type, message | error}}`` become our output lines (``response`` with a
  status code and the Message as ``body``; canceled/expired become the ``batch_cancelled``/``batch_expired``
  error codes), so the results frame, retry and cost work unchanged.
- There is no file upload: ``submit`` sends the requests inline, each input line converted to ``params``
  (chat-completions bodies are translated; anything that cannot be is rejected with its line number).
- There is no metadata. Rule: description, tags and other metadata are **not kept** (a warning says so); such
  batches show no description or tags. Nothing is stored on the side, so every machine sees the same batch.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable, Optional, Sequence
from urllib.parse import quote, urlsplit

import httpx

from ..dialects import (
    ANTHROPIC_ENDPOINT,
    ANTHROPIC_ERROR_TYPES,
    ANTHROPIC_MAX_BYTES,
    ANTHROPIC_MAX_REQUESTS,
    CUSTOM_ID_PATTERN,
)
from ..errors import APIError, InvalidRequestsError, LineProblem, UnsupportedByProviderError
from ..facts import HIDDEN_KEYS, NOT_EXECUTED_CODES
from ..models import Batch, BatchPage

__all__ = ["AnthropicDialect", "batch_from_anthropic", "output_line", "params_from_line", "requests_from_lines"]

log = logging.getLogger("batch_widgets")

PATH = "/v1/messages/batches"
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)
_STATUS_OF_ERROR = {v: k for k, v in reversed(list(ANTHROPIC_ERROR_TYPES.items()))}  # first status per type
_NO_FILES = (
    "Anthropic Message Batches have no file upload: the requests travel inline. Use client.submit(...), "
    "which converts the input lines to Anthropic params."
)


# -- batches -----------------------------------------------------------------------------------------------------
def batch_from_anthropic(data: dict) -> Batch:
    counts = data.get("request_counts") or {}
    n = {k: int(counts.get(k) or 0) for k in ("processing", "succeeded", "errored", "canceled", "expired")}
    state = data.get("processing_status")
    if state == "ended":
        if data.get("cancel_initiated_at"):
            status = "cancelled"
        elif n["expired"] and not (n["succeeded"] or n["errored"]):
            status = "expired"
        else:
            status = "completed"
    elif state == "canceling":
        status = "cancelling"
    else:
        status = "in_progress"
    ended = data.get("ended_at")
    doc: dict[str, Any] = {
        "id": data["id"],
        "object": "batch",
        "endpoint": ANTHROPIC_ENDPOINT,
        "input_file_id": "",
        "completion_window": "24h",
        "status": status,
        "created_at": data["created_at"],
        "in_progress_at": data["created_at"],
        "expires_at": data.get("expires_at"),
        "cancelling_at": data.get("cancel_initiated_at"),
        "output_file_id": data.get("results_url"),
        "request_counts": {"total": sum(n.values()), "completed": n["succeeded"], "failed": n["errored"]},
        "metadata": None,
        "usage": None,
        "provider": "anthropic",
    }
    if status in ("completed", "cancelled", "expired") and ended:
        doc[f"{status}_at"] = ended
        if status == "completed":
            doc["finalizing_at"] = ended
    return Batch.model_validate(doc)


def _page(response: httpx.Response) -> BatchPage:
    data = response.json()
    batches = [batch_from_anthropic(d) for d in data.get("data") or []]
    return BatchPage(
        data=batches, has_more=bool(data.get("has_more")), first_id=data.get("first_id"), last_id=data.get("last_id")
    )


def _batch(response: httpx.Response) -> Batch:
    try:
        return batch_from_anthropic(response.json())
    except (ValueError, KeyError, TypeError) as exc:
        raise APIError(
            f"{response.request.url.path}: not a valid Anthropic MessageBatch: {str(exc)[:200]}",
            status=response.status_code,
        ) from exc


# -- results -----------------------------------------------------------------------------------------------------
def output_line(line: dict) -> dict:
    """One Anthropic results line as one of our output/error lines."""
    result = line.get("result") or {}
    kind = result.get("type")
    out: dict[str, Any] = {"id": None, "custom_id": line.get("custom_id"), "response": None, "error": None}
    if kind == "succeeded":
        out["response"] = {"status_code": 200, "request_id": None, "body": result.get("message")}
    elif kind == "errored":
        body = result.get("error") or {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else {}
        out["response"] = {
            "status_code": _STATUS_OF_ERROR.get(str((inner or {}).get("type")), 500),
            "request_id": body.get("request_id"),
            "body": body,
        }
    elif kind in ("canceled", "expired"):
        code = NOT_EXECUTED_CODES["cancelled" if kind == "canceled" else "expired"]
        out["error"] = {"code": code, "message": f"The request was {kind} before it ran."}
    else:
        out["error"] = {"code": "unknown_result", "message": f"unknown result type {kind!r}"}
    return out


def convert_results(raw: bytes) -> bytes:
    """Anthropic results JSONL -> our output-line JSONL."""
    out = []
    for text in raw.splitlines():
        if text.strip():
            out.append(json.dumps(output_line(json.loads(text)), separators=(",", ":")))
    return ("\n".join(out) + "\n").encode() if out else b""


def convert_results_file(path: Any) -> Any:
    """Rewrite a downloaded results file in place, line by line (never the whole file in memory)."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out, open(path, "rb") as src:
        for raw in src:
            if raw.strip():
                out.write(json.dumps(output_line(json.loads(raw)), separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    return path


# -- input lines -> params ---------------------------------------------------------------------------------------
_DROP_IF_DEFAULT = {"n": 1, "stream": False, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0}


def params_from_line(obj: Any, line: int) -> tuple[Optional[dict], list[LineProblem]]:
    """Anthropic ``{custom_id, params}`` for one of our input lines, or the problems that prevent it."""
    if not isinstance(obj, dict):
        return None, [LineProblem(line, "invalid_line", "each line must be a JSON object")]
    problems = []
    cid = obj.get("custom_id")
    if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
        problems.append(
            LineProblem(line, "invalid_custom_id", "Anthropic needs 1-64 letters, digits, '_' or '-'", "custom_id")
        )
    body, url = obj.get("body"), obj.get("url")
    if not isinstance(body, dict):
        return None, problems + [LineProblem(line, "missing_body", "must be a JSON object", "body")]
    params: Optional[dict]
    if url == ANTHROPIC_ENDPOINT:
        params = dict(body)
    elif url == "/v1/chat/completions":
        params, more = _from_chat(body, line)
        problems += more
    else:
        return None, problems + [
            LineProblem(
                line,
                "unsupported_endpoint",
                f"Anthropic batches answer {ANTHROPIC_ENDPOINT} (or chat-completions "
                f"bodies, translated), not {str(url)[:60]!r}",
                "url",
            )
        ]
    if params is not None and not isinstance(params.get("max_tokens"), int):
        problems.append(
            LineProblem(
                line,
                "missing_max_tokens",
                "Anthropic requires max_tokens (an integer); add max_tokens or max_completion_tokens to the body",
                "body.max_tokens",
            )
        )
    if problems:
        return None, problems
    return {"custom_id": cid, "params": params}, []


def _from_chat(body: dict, line: int) -> tuple[Optional[dict], list[LineProblem]]:
    problems: list[LineProblem] = []
    params: dict[str, Any] = {}
    system: list[str] = []
    messages = []
    for i, msg in enumerate(body.get("messages") or []):
        role = msg.get("role") if isinstance(msg, dict) else None
        content = msg.get("content") if isinstance(msg, dict) else None
        where = f"body.messages.{i}"
        if role in ("system", "developer"):
            text = _text_of(content)
            if text is None:
                problems.append(LineProblem(line, "unconvertible", "a system message must be text", where))
            else:
                system.append(text)
        elif role in ("user", "assistant"):
            converted = _content(content)
            if converted is None:
                problems.append(
                    LineProblem(
                        line,
                        "unconvertible",
                        "only text content converts to Anthropic (images, audio and tool calls do not)",
                        where,
                    )
                )
            else:
                messages.append({"role": role, "content": converted})
        else:
            problems.append(
                LineProblem(line, "unconvertible", f"role {role!r} has no Anthropic equivalent here", where)
            )
    if not messages and not problems:
        problems.append(LineProblem(line, "unconvertible", "needs at least one user message", "body.messages"))
    for key, value in body.items():
        if key in ("messages",):
            continue
        if key == "max_completion_tokens" or key == "max_tokens":
            params["max_tokens"] = value
        elif key == "stop":
            params["stop_sequences"] = [value] if isinstance(value, str) else value
        elif key in ("model", "temperature", "top_p", "metadata"):
            params[key] = value
        elif key in _DROP_IF_DEFAULT and value == _DROP_IF_DEFAULT[key]:
            continue
        else:
            problems.append(
                LineProblem(line, "unconvertible", f"{key!r} has no Anthropic Messages equivalent", f"body.{key}")
            )
    if system:
        params["system"] = "\n\n".join(system)
    params["messages"] = messages
    return (None if problems else params), problems


def _text_of(content: Any) -> Optional[str]:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return None


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return [{"type": "text", "text": str(p.get("text", ""))} for p in content]
    return None


def requests_from_lines(lines: Sequence[bytes], source: Optional[str] = None) -> list[dict]:
    """Every input line as Anthropic ``{custom_id, params}``; InvalidRequestsError lists, by line number,
    whatever cannot be converted (nothing is sent then)."""
    if len(lines) > ANTHROPIC_MAX_REQUESTS:
        raise InvalidRequestsError(
            [
                LineProblem(
                    None,
                    "too_many_tasks",
                    f"an Anthropic batch holds at most {ANTHROPIC_MAX_REQUESTS:,} requests, got {len(lines):,}",
                )
            ],
            source,
        )
    out, problems, seen = [], [], set()
    for n, raw in enumerate(lines, start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            problems.append(LineProblem(n, "invalid_json_line", "not valid JSON"))
            continue
        request, found = params_from_line(obj, n)
        problems += found
        if request is not None:
            if request["custom_id"] in seen:
                problems.append(LineProblem(n, "duplicate_custom_id", "already used on an earlier line", "custom_id"))
            seen.add(request["custom_id"])
            out.append(request)
    if problems:
        raise InvalidRequestsError(problems, source)
    size = len(json.dumps({"requests": out}, separators=(",", ":")).encode())
    if size > ANTHROPIC_MAX_BYTES:
        raise InvalidRequestsError(
            [
                LineProblem(
                    None,
                    "file_too_large",
                    f"the batch is {size:,} bytes; Anthropic takes at most {ANTHROPIC_MAX_BYTES:,}",
                )
            ],
            source,
        )
    return out


# -- the dialect: request descriptions for the transport ---------------------------------------------------------
class AnthropicDialect:
    """Describes each API call as keyword arguments of the transport's call description."""

    name = "anthropic"
    supports_files = False
    supports_metadata = False

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def list_batches(self, limit: int, after: Optional[str]) -> dict:
        return {"method": "GET", "path": PATH, "parse": _page, "params": {"limit": limit, "after_id": after}}

    def retrieve_batch(self, batch_id: str) -> dict:
        return {"method": "GET", "path": f"{PATH}/{quote(batch_id, safe='')}", "parse": _batch}

    def cancel_batch(self, batch_id: str) -> dict:
        return {"method": "POST", "path": f"{PATH}/{quote(batch_id, safe='')}/cancel", "parse": _batch}

    def delete_batch(self, batch_id: str) -> dict:
        return {"method": "DELETE", "path": f"{PATH}/{quote(batch_id, safe='')}", "parse": lambda r: r.json()}

    def create_inline(self, requests: list[dict], metadata: Optional[dict]) -> dict:
        kept = {k: v for k, v in (metadata or {}).items() if k not in HIDDEN_KEYS}
        if kept:
            log.warning("Anthropic Message Batches have no metadata: %s not kept", ", ".join(sorted(kept)))
        # No metadata means no request tag: a create that may have reached the server is never resent.
        return {
            "method": "POST",
            "path": PATH,
            "parse": _batch,
            "json": {"requests": requests},
            "retry_ambiguous": False,
        }

    def create_batch(self, *args: Any, **kwargs: Any) -> dict:
        raise UnsupportedByProviderError(_NO_FILES)

    def upload_file(self, *args: Any, **kwargs: Any) -> dict:
        raise UnsupportedByProviderError(_NO_FILES)

    def retrieve_file(self, *args: Any, **kwargs: Any) -> dict:
        raise UnsupportedByProviderError(_NO_FILES)

    def delete_file(self, *args: Any, **kwargs: Any) -> dict:
        raise UnsupportedByProviderError(_NO_FILES)

    def list_files(self, *args: Any, **kwargs: Any) -> dict:
        raise UnsupportedByProviderError(_NO_FILES)

    def file_content(self, file_id: str, download: Any = None) -> dict:
        """``file_id`` is a batch's ``results_url``; its lines come back converted to our output lines."""
        base, url = urlsplit(self.base_url), urlsplit(file_id)
        if not url.scheme or (url.scheme, url.netloc) != (base.scheme, base.netloc):
            # The API key goes with this request: only to the provider's own host.
            raise UnsupportedByProviderError(
                f"Anthropic results come from a batch's results_url on {base.netloc}; {file_id[:80]!r} is not one"
            )
        post: Callable[[Any], Any] = convert_results_file if download is not None else convert_results
        return {
            "method": "GET",
            "path": file_id,
            "parse": lambda r: r.content,
            "download": download,
            "headers": {"Accept": "application/binary"},
            "postprocess": post,
        }

    def lookup_tagged(self, tag: str) -> Optional[dict]:
        return None  # no metadata, so no tag to look for
