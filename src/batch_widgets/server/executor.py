"""Executors answer the requests of a batch: ``simulated`` (offline, deterministic) or ``upstream`` (any
OpenAI-compatible server, e.g. a local vLLM or Ollama, that has no Batch API of its own).

An executor's ``run(endpoint, items)`` takes ``[(custom_id, body), ...]`` and returns ``(status_code, body)``
outcomes in the same order; when the server is closing it may return fewer, or ``None`` for a request it did
not run (the next start runs those). The runner calls it chunk by chunk, saving results in between.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence
from urllib.parse import quote

import httpx

from .. import _retry
from ..dialects import ANTHROPIC_ENDPOINT, ANTHROPIC_ERROR_TYPES
from ..tokens import estimate_input_tokens

__all__ = [
    "Executor",
    "SimulatedExecutor",
    "UpstreamExecutor",
    "make_executor",
    "usage_of",
    "Outcome",
    "check_body",
    "SIMULATED_MODELS",
    "SIMULATED_ENDPOINTS",
]

Outcome = tuple[int, Any]  # (HTTP status code, JSON body)
SIMULATED_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    ANTHROPIC_ENDPOINT,
)


class Executor:
    name = "base"

    def supports(self, endpoint: str) -> bool:
        return True

    def chunk_size(self) -> int:
        """How many requests to run between two saves (aim: a save every ~0.25 s, so counts rise live)."""
        return 1000

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], salt: str = "") -> list[Optional[Outcome]]:
        """``salt`` names the attempt (the runner passes the batch), for executors that draw per attempt."""
        raise NotImplementedError

    def models(self) -> Outcome:
        """The answer to ``GET /v1/models``: (status, body) in OpenAI's list shape."""
        return 200, {"object": "list", "data": []}

    def model(self, model_id: str) -> Outcome:
        """The answer to ``GET /v1/models/{model_id}``."""
        return 404, _model_not_found(model_id)

    def close(self) -> None:
        pass


def usage_of(body: Any) -> tuple[int, int, int, int]:
    """(input, cached input, output, reasoning) tokens of one response body, for any endpoint's usage shape."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0, 0, 0
    if "cache_read_input_tokens" in usage:  # Anthropic: input_tokens excludes cache reads and writes
        cached = int(usage.get("cache_read_input_tokens") or 0)
        total_in = int(usage.get("input_tokens") or 0) + cached + int(usage.get("cache_creation_input_tokens") or 0)
        return total_in, cached, int(usage.get("output_tokens") or 0), 0
    if "input_tokens" in usage:  # responses API
        details_in = usage.get("input_tokens_details") or {}
        details_out = usage.get("output_tokens_details") or {}
        return (
            int(usage.get("input_tokens") or 0),
            int(details_in.get("cached_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            int(details_out.get("reasoning_tokens") or 0),
        )
    details_in = usage.get("prompt_tokens_details") or {}
    details_out = usage.get("completion_tokens_details") or {}
    return (
        int(usage.get("prompt_tokens") or 0),
        int(details_in.get("cached_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(details_out.get("reasoning_tokens") or 0),
    )


# -- simulated -------------------------------------------------------------------------------------------------
_WORDS = (
    "the model reads each request and answers with a short clear reply about data batches results tokens "
    "latency quality summary notebook widget table chart cost review signal trend value insight example "
    "careful simple useful robust quick final draft note point answer question context detail step plan"
).split()

# Transient failures: what a retry can get past.
_FAILURES = (
    (500, "server_error", None, "The server had an error while processing your request. Sorry about that!"),
    (429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
)


#: The models the simulated executor lists at /v1/models (it answers any model name, as a stand-in must).
SIMULATED_MODELS: tuple[str, ...] = (
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "omni-moderation-latest",
    "gpt-image-1",
)
_MODELS_CREATED = 1_700_000_000  # a fixed, plausible creation time for the simulated catalogue


def model_object(model_id: str, owned_by: str = "system") -> dict:
    return {"id": model_id, "object": "model", "created": _MODELS_CREATED, "owned_by": owned_by}


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models think before answering: their output includes reasoning tokens."""
    return model.startswith(("o1", "o3", "o4", "gpt-5"))


class SimulatedExecutor(Executor):
    """Realistic answers with token usage. ``rate`` caps requests/s (0 = as fast as possible), ``latency`` is
    the seconds each request takes, ``failure_rate`` the fraction answered with a transient 429/500.

    Each request body is checked as its endpoint would (a bad one gets OpenAI's 400). An answer's text depends
    only on ``seed``, model and ``custom_id``; transient failures are drawn per attempt (the runner passes a
    ``salt`` naming the attempt), so retrying a failed request can succeed. With a ``seed`` a run is
    reproducible; without one, failures differ from run to run."""

    name = "simulated"

    def __init__(
        self, rate: float = 0.0, latency: float = 0.0, failure_rate: float = 0.0, seed: Optional[int] = None
    ) -> None:
        if rate < 0 or latency < 0 or not 0 <= failure_rate <= 1:
            raise ValueError("rate and latency must be >= 0 and failure_rate within [0, 1]")
        self.rate, self.latency, self.failure_rate, self.seed = rate, latency, failure_rate, seed
        self._failure_seed = str(seed) if seed is not None else secrets.token_hex(8)
        self._stop = threading.Event()

    def supports(self, endpoint: str) -> bool:
        return endpoint in SIMULATED_ENDPOINTS

    def models(self) -> Outcome:
        return 200, {"object": "list", "data": [model_object(m) for m in SIMULATED_MODELS]}

    def model(self, model_id: str) -> Outcome:
        if model_id in SIMULATED_MODELS:
            return 200, model_object(model_id)
        return 404, _model_not_found(model_id)

    def chunk_size(self) -> int:
        per_request = max(self.latency, 1.0 / self.rate if self.rate else 0.0)
        return 1000 if per_request <= 0 else max(1, int(0.25 / per_request))

    def close(self) -> None:
        self._stop.set()

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], salt: str = "") -> list[Optional[Outcome]]:
        per_request = max(self.latency, 1.0 / self.rate if self.rate else 0.0)
        due = time.monotonic()
        out: list[Optional[Outcome]] = []
        for custom_id, body in items:
            if per_request:
                due += per_request
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break  # closing: the caller saves what ran and leaves the rest for the next start
            out.append(self.answer(endpoint, custom_id, body, salt))
        return out

    def answer(self, endpoint: str, custom_id: str, body: dict, salt: str = "") -> Outcome:
        problem = check_body(endpoint, body)
        if problem is not None:
            return 400, problem
        model = str(body.get("model", ""))
        if self.failure_rate:
            draw = hashlib.blake2b(f"{self._failure_seed}|{salt}|{model}|{custom_id}".encode(), digest_size=8)
            roll = random.Random(int.from_bytes(draw.digest(), "big"))
            if roll.random() < self.failure_rate:
                status, etype, code, message = _FAILURES[roll.randrange(len(_FAILURES))]
                if endpoint == ANTHROPIC_ENDPOINT:  # Anthropic's error body
                    return status, {
                        "type": "error",
                        "error": {"type": ANTHROPIC_ERROR_TYPES[status], "message": message},
                    }
                return status, {"error": {"message": message, "type": etype, "param": None, "code": code}}
        digest = hashlib.blake2b(f"{self.seed or 0}|{model}|{custom_id}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        prompt_tokens = estimate_input_tokens(body)
        token = digest.hex()
        now = int(time.time())
        if endpoint == "/v1/embeddings":
            return 200, _embeddings(body, model, rng, prompt_tokens)
        if endpoint == "/v1/moderations":
            return 200, _moderation(body, model, rng, token)
        if endpoint in ("/v1/images/generations", "/v1/images/edits"):
            return 200, _images(body, now, prompt_tokens)
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 48))]
        reasoning = rng.randint(16, 320) if is_reasoning_model(model) else 0
        visible = max(1, round(len(words) * 1.3))
        cap = None if endpoint == ANTHROPIC_ENDPOINT else _output_cap(endpoint, body)  # _message caps its own
        truncated = cap is not None and reasoning + visible > cap
        if cap is not None and truncated:  # reasoning is spent first; the visible text gets what is left of the cap
            reasoning = min(reasoning, cap)
            visible = cap - reasoning
            words = words[: int(visible / 1.3)]
        text = " ".join(words).capitalize() + ("" if truncated or not words else ".")
        completion_tokens = reasoning + visible
        cached = (prompt_tokens // 128) * 64 if prompt_tokens >= 1024 else 0
        if endpoint == ANTHROPIC_ENDPOINT:
            return 200, _message(body, model, text, token, prompt_tokens, completion_tokens, cached)
        finish = "length" if truncated else "stop"
        if endpoint == "/v1/responses":
            output = [
                {
                    "type": "message",
                    "id": f"msg_{token}",
                    "status": "incomplete" if truncated else "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ]
            if reasoning:
                output.insert(0, {"type": "reasoning", "id": f"rs_{token}", "summary": []})
            return 200, {
                "id": f"resp_{token}",
                "object": "response",
                "created_at": now,
                "status": "incomplete" if truncated else "completed",
                "model": model,
                "output": output,
                "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
                "instructions": None,
                "metadata": {},
                "max_output_tokens": cap,
                "parallel_tool_calls": True,
                "temperature": 1.0,
                "tool_choice": "auto",
                "tools": [],
                "top_p": 1.0,
                "usage": {
                    "input_tokens": prompt_tokens,
                    "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
                    "output_tokens": completion_tokens,
                    "output_tokens_details": {"reasoning_tokens": reasoning},
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        if endpoint == "/v1/completions":
            return 200, {
                "id": f"cmpl-{token}",
                "object": "text_completion",
                "created": now,
                "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
            }
        return 200, {
            "id": f"chatcmpl-{token}",
            "object": "chat.completion",
            "created": now,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": f"fp_{token[:10]}",
        }


def _message(body: dict, model: str, text: str, token: str, input_tokens: int, output_tokens: int, cached: int) -> dict:
    """A Messages API response: content blocks, stop_reason, usage; the text is cut at ``max_tokens``."""
    limit = body.get("max_tokens")
    stop = "end_turn"
    if isinstance(limit, int) and 0 < limit < output_tokens:
        words = text.split()[: max(1, int(limit / 1.3))]
        text, output_tokens, stop = " ".join(words), limit, "max_tokens"
    return {
        "id": f"msg_{token}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens - cached,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "service_tier": "batch",
        },
    }


def _output_cap(endpoint: str, body: dict) -> Optional[int]:
    """The output-token cap a request sets, by its endpoint's parameter names."""
    names = ("max_output_tokens",) if endpoint == "/v1/responses" else ("max_completion_tokens", "max_tokens")
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


# -- request body checks -----------------------------------------------------------------------------------
CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
#: The field each endpoint cannot do without.
REQUIRED_FIELD = {
    "/v1/completions": "prompt",
    "/v1/embeddings": "input",
    "/v1/responses": "input",
    "/v1/moderations": "input",
    "/v1/images/generations": "prompt",
    "/v1/images/edits": "prompt",
}


def _invalid(message: str, param: Optional[str], code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _missing(param: str) -> dict:
    return _invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def check_body(endpoint: str, body: Any) -> Optional[dict]:
    """OpenAI's 400 error body for a request its endpoint would refuse, else None (cheap: runs per request)."""
    if not isinstance(body, dict):
        return _invalid("The request body must be a JSON object.", None, "invalid_type")
    if endpoint == "/v1/chat/completions":
        return _check_messages(body.get("messages", _MISSING))
    field = REQUIRED_FIELD.get(endpoint)
    if field is not None and body.get(field) in (None, "", []):
        return _missing(field)
    return None


_MISSING = object()


def _check_messages(messages: Any) -> Optional[dict]:
    if messages is _MISSING or messages is None:
        return _missing("messages")
    if not isinstance(messages, list):
        return _invalid(
            f"Invalid type for 'messages': expected an array, but got {_json_kind(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        return _invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            return _invalid(
                f"Invalid type for '{where}': expected an object, but got {_json_kind(message)} instead.",
                where,
                "invalid_type",
            )
        role = message.get("role")
        if role is None:
            return _missing(f"{where}.role")
        if role not in CHAT_ROLES:
            supported = ", ".join(f"'{r}'" for r in CHAT_ROLES[:-1]) + f", and '{CHAT_ROLES[-1]}'"
            return _invalid(
                f"Invalid value: {str(role)[:40]!r}. Supported values are: {supported}.",
                f"{where}.role",
                "invalid_value",
            )
        # An assistant turn may carry tool calls instead of content; every other turn needs content.
        if "content" not in message and not (
            role == "assistant" and (message.get("tool_calls") or message.get("function_call"))
        ):
            return _missing(f"{where}.content")
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    kinds: dict[type, str] = {str: "a string", dict: "an object", list: "an array"}
    return kinds.get(type(value), "null")


def _model_not_found(model_id: str) -> dict:
    return _invalid(
        f"The model '{model_id[:80]}' does not exist or you do not have access to it.", None, "model_not_found"
    )


def _tiny_png(size: int = 8) -> str:
    """A valid ``size`` x ``size`` RGB PNG (a soft gradient), base64-encoded: what an image answer carries."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(size) for v in (32 * x % 256, 32 * y % 256, 160)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


TINY_PNG_B64 = _tiny_png()


def _images(body: dict, now: int, prompt_tokens: int) -> dict:
    n = body.get("n")
    n = n if isinstance(n, int) and 1 <= n <= 10 else 1
    output_tokens = 272 * n  # a small square image at low quality
    return {
        "created": now,
        "data": [{"b64_json": TINY_PNG_B64} for _ in range(n)],
        "usage": {
            "input_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
        },
    }


def _inputs(body: dict) -> list:
    value = body.get("input")
    return value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]


def _embeddings(body: dict, model: str, rng: random.Random, prompt_tokens: int) -> dict:
    # A small vector by default keeps demo files light; ``dimensions`` in the body is honoured (up to 3072).
    dims = body.get("dimensions")
    dims = max(1, min(dims if isinstance(dims, int) else 64, 3072))
    data = []
    for i, _ in enumerate(_inputs(body)):
        vec = [rng.gauss(0.0, 1.0) for _ in range(dims)]
        norm = sum(v * v for v in vec) ** 0.5 or 1.0
        data.append({"object": "embedding", "index": i, "embedding": [round(v / norm, 6) for v in vec]})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def _moderation(body: dict, model: str, rng: random.Random, token: str) -> dict:
    results = []
    for _ in _inputs(body):
        scores = {c: round(rng.random() ** 6, 6) for c in _CATEGORIES}
        flags = {c: s > 0.8 for c, s in scores.items()}
        results.append(
            {
                "flagged": any(flags.values()),
                "categories": flags,
                "category_scores": scores,
                "category_applied_input_types": {c: ["text"] for c in _CATEGORIES},
            }
        )
    return {"id": f"modr-{token}", "model": model or "omni-moderation-latest", "results": results}


# -- upstream --------------------------------------------------------------------------------------------------
class UpstreamExecutor(Executor):
    """Forward each request to ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) with at most ``concurrency``
    in flight. Retries follow the one policy of ``batch_widgets._retry`` (connection errors, 408, 429, 5xx,
    ``x-should-retry``; ``retry-after-ms`` / ``Retry-After`` in seconds or as an HTTP date; jittered backoff)."""

    name = "upstream"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        concurrency: int = 8,
        max_retries: int = 3,
        timeout: float = 600.0,
        backoff: float = 1.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        if not base_url:
            raise ValueError("the upstream executor needs upstream_url (an OpenAI-compatible base URL)")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max_retries
        self.backoff = backoff  # scales _retry's backoff (tests make it tiny); a server's Retry-After is kept
        self._client = httpx.Client(
            headers=headers, timeout=timeout, transport=transport, limits=httpx.Limits(max_connections=self.concurrency)
        )
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="bw-upstream")
        self._stop = threading.Event()

    def chunk_size(self) -> int:
        return self.concurrency * 2

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        self._client.close()

    def url_for(self, endpoint: str) -> str:
        # Batch lines say "/v1/chat/completions"; the base URL already ends in "/v1" by OpenAI's convention.
        path = endpoint[3:] if endpoint.startswith("/v1/") and self.base_url.endswith("/v1") else endpoint
        return self.base_url + path

    def models(self) -> Outcome:
        return self._get(self.url_for("/v1/models"))

    def model(self, model_id: str) -> Outcome:
        return self._get(self.url_for("/v1/models/") + quote(model_id, safe=""))

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], salt: str = "") -> list[Optional[Outcome]]:
        url = self.url_for(endpoint)
        return list(self._pool.map(lambda item: self._send("POST", url, item[1]), items))

    def _get(self, url: str) -> Outcome:
        outcome = self._send("GET", url, None)
        return outcome if outcome is not None else (503, _upstream_error("the server is closing"))

    def _send(self, method: str, url: str, body: Optional[dict]) -> Optional[Outcome]:
        attempt = 0
        while not self._stop.is_set():
            try:
                response = self._client.request(method, url, json=body)
            except httpx.HTTPError as exc:
                if attempt >= self.max_retries:
                    return 502, _upstream_error(f"upstream request failed: {type(exc).__name__}")
                delay = _retry.retry_delay(attempt) * self.backoff
            else:
                if attempt >= self.max_retries or not _retry.should_retry_status(
                    response.status_code, response.headers
                ):
                    return response.status_code, _json_body(response)
                requested = _retry.retry_after_seconds(response.headers)
                delay = _retry.retry_delay(attempt, response.headers)
                if requested is None or not 0 < requested <= _retry.MAX_RETRY_AFTER:
                    delay *= self.backoff
            attempt += 1
            self._stop.wait(delay)
        return None  # closing: not run, so the next start runs it


def _upstream_error(message: str) -> dict:
    return {"error": {"message": message, "type": "server_error", "param": None, "code": "upstream_error"}}


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {
            "error": {
                "message": response.text[:500],
                "type": "server_error",
                "param": None,
                "code": "invalid_upstream_response",
            }
        }


def make_executor(
    kind: str,
    *,
    rate: float = 0.0,
    latency: float = 0.0,
    failure_rate: float = 0.0,
    upstream_url: Optional[str] = None,
    upstream_api_key: Optional[str] = None,
    concurrency: int = 8,
    seed: Optional[int] = None,
) -> Executor:
    if kind == "simulated":
        return SimulatedExecutor(rate=rate, latency=latency, failure_rate=failure_rate, seed=seed)
    if kind == "upstream":
        return UpstreamExecutor(upstream_url or "", api_key=upstream_api_key, concurrency=concurrency)
    raise ValueError(f"unknown executor {kind!r} (use 'simulated' or 'upstream')")
