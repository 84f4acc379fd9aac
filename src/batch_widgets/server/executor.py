"""Executors answer the requests of a batch: ``simulated`` (offline, deterministic) or ``upstream`` (any
OpenAI-compatible server, e.g. a local vLLM or Ollama, that has no Batch API of its own).

An executor's ``run(endpoint, items)`` takes ``[(custom_id, body), ...]`` and returns ``(status_code, body)``
outcomes in the same order; when the server is closing it may return fewer, or ``None`` for a request it did
not run (the next start runs those). The runner calls it chunk by chunk, saving results in between.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

import httpx

from ..dialects import ANTHROPIC_ENDPOINT, ANTHROPIC_ERROR_TYPES
from ..tokens import estimate_input_tokens

__all__ = ["Executor", "SimulatedExecutor", "UpstreamExecutor", "make_executor", "usage_of", "Outcome"]

Outcome = tuple[int, Any]  # (HTTP status code, JSON body)
SIMULATED_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings",
                       "/v1/moderations", ANTHROPIC_ENDPOINT)


class Executor:
    name = "base"

    def supports(self, endpoint: str) -> bool:
        return True

    def chunk_size(self) -> int:
        """How many requests to run between two saves (aim: a save every ~0.25 s, so counts rise live)."""
        return 1000

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], *, retry: int = 0) -> list[Optional[Outcome]]:
        """``retry`` > 0 when the batch resubmits earlier requests (its round), for simulators."""
        raise NotImplementedError

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
        return (int(usage.get("input_tokens") or 0), int(details_in.get("cached_tokens") or 0),
                int(usage.get("output_tokens") or 0), int(details_out.get("reasoning_tokens") or 0))
    details_in = usage.get("prompt_tokens_details") or {}
    details_out = usage.get("completion_tokens_details") or {}
    return (int(usage.get("prompt_tokens") or 0), int(details_in.get("cached_tokens") or 0),
            int(usage.get("completion_tokens") or 0), int(details_out.get("reasoning_tokens") or 0))


# -- simulated -------------------------------------------------------------------------------------------------
_WORDS = (
    "the model reads each request and answers with a short clear reply about data batches results tokens "
    "latency quality summary notebook widget table chart cost review signal trend value insight example "
    "careful simple useful robust quick final draft note point answer question context detail step plan"
).split()

_FAILURES = (
    (400, "invalid_request_error", "context_length_exceeded", "messages",
     "This model's maximum context length is 128000 tokens. However, your messages resulted in {n} tokens. "
     "Please reduce the length of the messages."),
    (500, "server_error", None, None,
     "The server had an error while processing your request. Sorry about that!"),
    (429, "rate_limit_error", "rate_limit_exceeded", None,
     "Rate limit reached for requests. Please try again later."),
    (400, "invalid_request_error", "invalid_value", "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {n} instead."),
)


_TRANSIENT = (429, 500)  # failures a retry may not meet again (the 400s stay: a bad request stays bad)


class SimulatedExecutor(Executor):
    """Deterministic, realistic answers with token usage. ``rate`` caps requests/s (0 = as fast as possible),
    ``latency`` is the seconds each request takes, ``failure_rate`` the fraction answered with a 4xx/5xx error."""

    name = "simulated"

    def __init__(self, rate: float = 0.0, latency: float = 0.0, failure_rate: float = 0.0, seed: int = 0) -> None:
        if rate < 0 or latency < 0 or not 0 <= failure_rate <= 1:
            raise ValueError("rate and latency must be >= 0 and failure_rate within [0, 1]")
        self.rate, self.latency, self.failure_rate, self.seed = rate, latency, failure_rate, seed
        self._stop = threading.Event()

    def supports(self, endpoint: str) -> bool:
        return endpoint in SIMULATED_ENDPOINTS

    def chunk_size(self) -> int:
        per_request = max(self.latency, 1.0 / self.rate if self.rate else 0.0)
        return 1000 if per_request <= 0 else max(1, int(0.25 / per_request))

    def close(self) -> None:
        self._stop.set()

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], *, retry: int = 0) -> list[Outcome]:
        per_request = max(self.latency, 1.0 / self.rate if self.rate else 0.0)
        due = time.monotonic()
        out = []
        for custom_id, body in items:
            if per_request:
                due += per_request
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break  # closing: the caller saves what ran and leaves the rest for the next start
            out.append(self.answer(endpoint, custom_id, body, retry=retry))
        return out

    def answer(self, endpoint: str, custom_id: str, body: dict, *, retry: int = 0) -> Outcome:
        model = str(body.get("model", ""))
        digest = hashlib.blake2b(f"{self.seed}|{model}|{custom_id}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        prompt_tokens = estimate_input_tokens(body)
        token = digest.hex()
        failure = _FAILURES[rng.randrange(len(_FAILURES))] if rng.random() < self.failure_rate else None
        if failure and retry and failure[0] in _TRANSIENT:
            # A server error or rate limit is bad luck, not the request's fault: a resubmission draws again.
            again = hashlib.blake2b(f"{self.seed}|{model}|{custom_id}|{retry}".encode(), digest_size=8).digest()
            if random.Random(int.from_bytes(again, "big")).random() >= self.failure_rate:
                failure = None
        if failure:
            status, etype, code, param, message = failure
            message = message.format(n=prompt_tokens + 128000 if code == "context_length_exceeded" else 2.5)
            if endpoint == ANTHROPIC_ENDPOINT:  # Anthropic's error body
                return status, {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPES[status], "message": message}}
            return status, {"error": {"message": message, "type": etype, "param": param, "code": code}}
        now = int(time.time())
        if endpoint == "/v1/embeddings":
            return 200, _embeddings(body, model, rng, prompt_tokens)
        if endpoint == "/v1/moderations":
            return 200, _moderation(body, model, rng, token)
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 48))).capitalize() + "."
        completion_tokens = max(1, round(len(text.split()) * 1.3))
        cached = (prompt_tokens // 128) * 64 if prompt_tokens >= 1024 else 0
        if endpoint == ANTHROPIC_ENDPOINT:
            return 200, _message(body, model, text, token, prompt_tokens, completion_tokens, cached)
        if endpoint == "/v1/responses":
            return 200, {
                "id": f"resp_{token}", "object": "response", "created_at": now, "status": "completed",
                "model": model, "output": [{
                    "type": "message", "id": f"msg_{token}", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
                "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto", "tools": [], "top_p": 1.0,
                "usage": {"input_tokens": prompt_tokens,
                          "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
                          "output_tokens": completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": prompt_tokens + completion_tokens}}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
        if endpoint == "/v1/completions":
            return 200, {"id": f"cmpl-{token}", "object": "text_completion", "created": now, "model": model,
                         "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                         "usage": usage}
        return 200, {
            "id": f"chatcmpl-{token}", "object": "chat.completion", "created": now, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None,
                                                 "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "service_tier": "default", "system_fingerprint": f"fp_{token[:10]}"}


def _message(body: dict, model: str, text: str, token: str, input_tokens: int, output_tokens: int,
             cached: int) -> dict:
    """A Messages API response: content blocks, stop_reason, usage; the text is cut at ``max_tokens``."""
    limit = body.get("max_tokens")
    stop = "end_turn"
    if isinstance(limit, int) and 0 < limit < output_tokens:
        words = text.split()[: max(1, int(limit / 1.3))]
        text, output_tokens, stop = " ".join(words), limit, "max_tokens"
    return {"id": f"msg_{token}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens - cached, "output_tokens": output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached, "service_tier": "batch"}}


def _inputs(body: dict) -> list:
    value = body.get("input")
    return value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]


def _embeddings(body: dict, model: str, rng: random.Random, prompt_tokens: int) -> dict:
    # A small vector by default keeps demo files light; ``dimensions`` in the body is honoured (up to 3072).
    dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) else 64
    dims = max(1, min(dims, 3072))
    data = []
    for i, _ in enumerate(_inputs(body)):
        vec = [rng.gauss(0.0, 1.0) for _ in range(dims)]
        norm = sum(v * v for v in vec) ** 0.5 or 1.0
        data.append({"object": "embedding", "index": i, "embedding": [round(v / norm, 6) for v in vec]})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
               "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
               "violence/graphic")


def _moderation(body: dict, model: str, rng: random.Random, token: str) -> dict:
    results = []
    for _ in _inputs(body):
        scores = {c: round(rng.random() ** 6, 6) for c in _CATEGORIES}
        flags = {c: s > 0.8 for c, s in scores.items()}
        results.append({"flagged": any(flags.values()), "categories": flags, "category_scores": scores,
                        "category_applied_input_types": {c: ["text"] for c in _CATEGORIES}})
    return {"id": f"modr-{token}", "model": model or "omni-moderation-latest", "results": results}


# -- upstream --------------------------------------------------------------------------------------------------
class UpstreamExecutor(Executor):
    """Forward each request to ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) with at most ``concurrency``
    in flight; connection errors, 408, 429 and 5xx are retried with exponential backoff (Retry-After honoured)."""

    name = "upstream"

    def __init__(self, base_url: str, *, api_key: Optional[str] = None, concurrency: int = 8,
                 max_retries: int = 3, timeout: float = 600.0, backoff: float = 0.5,
                 transport: Optional[httpx.BaseTransport] = None) -> None:
        if not base_url:
            raise ValueError("the upstream executor needs upstream_url (an OpenAI-compatible base URL)")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.max_retries, self.backoff = max_retries, backoff
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport,
                                    limits=httpx.Limits(max_connections=self.concurrency))
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

    def run(self, endpoint: str, items: Sequence[tuple[str, dict]], *, retry: int = 0) -> list[Optional[Outcome]]:
        url = self.url_for(endpoint)
        return list(self._pool.map(lambda item: self._post(url, item[1]), items))

    def _post(self, url: str, body: dict) -> Optional[Outcome]:
        attempt = 0
        while not self._stop.is_set():
            try:
                response = self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                if attempt >= self.max_retries:
                    return 502, {"error": {"message": f"upstream request failed: {type(exc).__name__}",
                                           "type": "server_error", "param": None, "code": "upstream_error"}}
                delay = self.backoff * 2 ** attempt
            else:
                retry = response.status_code in (408, 429) or response.status_code >= 500
                if not retry or attempt >= self.max_retries:
                    return response.status_code, _json_body(response)
                delay = _retry_after(response) or self.backoff * 2 ** attempt
            attempt += 1
            self._stop.wait(min(delay, 30.0))
        return None  # closing: not run, so the next start runs it


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"error": {"message": response.text[:500], "type": "server_error", "param": None,
                          "code": "invalid_upstream_response"}}


def _retry_after(response: httpx.Response) -> Optional[float]:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def make_executor(kind: str, *, rate: float = 0.0, latency: float = 0.0, failure_rate: float = 0.0,
                  upstream_url: Optional[str] = None, upstream_api_key: Optional[str] = None,
                  concurrency: int = 8) -> Executor:
    if kind == "simulated":
        return SimulatedExecutor(rate=rate, latency=latency, failure_rate=failure_rate)
    if kind == "upstream":
        return UpstreamExecutor(upstream_url or "", api_key=upstream_api_key, concurrency=concurrency)
    raise ValueError(f"unknown executor {kind!r} (use 'simulated' or 'upstream')")
