"""Demo data for the example notebooks, the README and the browser tests.

Everything here is deterministic (seeded), so a notebook that prints a request or a count prints the same thing
on every run. Nothing here is needed to use the library itself.
"""

from __future__ import annotations

import random
import time
from typing import Any, Iterable, Optional

from .facts import DEFAULT_COMPLETION_WINDOW, DESCRIPTION_KEY, MAX_REQUESTS, TAGS_KEY

# (task, system prompt, user-prompt template, items) — a small mix of the jobs people actually batch.
_TASKS: list[tuple[str, str, str, list[str]]] = [
    (
        "classify",
        "You label customer support tickets. Answer with one word: billing, bug, account or other.",
        "Ticket: {item}",
        [
            "I was charged twice for my subscription this month.",
            "The export button does nothing when I click it.",
            "How do I change the e-mail address on my account?",
            "Your app crashes when I rotate my phone.",
            "Can I get an invoice with my company's VAT number?",
            "I forgot my password and the reset link has expired.",
            "Is there a student discount?",
            "Charts are blank after the last update.",
        ],
    ),
    (
        "summarize",
        "Summarise the text in one sentence of at most 20 words.",
        "Text: {item}",
        [
            "The quarterly report shows revenue up 12% on strong demand in Europe, while costs rose 4%.",
            "The council approved a new cycle lane along the river, to be built over the next two summers.",
            "Researchers found that short daily walks improved sleep quality in adults over sixty.",
            "The library will extend its opening hours during the exam period and add forty study desks.",
            "A late frost damaged part of the apple harvest, but growers expect prices to stay stable.",
        ],
    ),
    (
        "translate",
        "Translate the user's sentence into French. Reply with the translation only.",
        "{item}",
        [
            "Where is the nearest train station?",
            "The meeting has been moved to Thursday morning.",
            "Please keep your receipt for returns.",
            "We will deliver the parcel between nine and noon.",
            "Thank you for your patience.",
        ],
    ),
    (
        "extract",
        "Extract the product name and the quantity as JSON with keys product and quantity.",
        "Order note: {item}",
        [
            "Please send 3 boxes of A4 paper to the front desk.",
            "We need twelve blue markers before Friday.",
            "Add 2 standing desks to the office order.",
            "One replacement charger for the projector, please.",
        ],
    ),
]


def demo_requests(
    n: int = 200,
    model: str = "gpt-4o-mini",
    *,
    seed: int = 0,
    prefix: str = "req",
    max_tokens: int = 64,
) -> list[dict[str, Any]]:
    """``n`` realistic /v1/chat/completions batch request lines (dicts), the same ones for the same arguments.

    Each has a unique ``custom_id`` like ``req-00007-classify``, the chosen ``model``, a system and a user message.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        task, system, template, items = _TASKS[rng.randrange(len(_TASKS))]
        lines.append(
            {
                "custom_id": f"{prefix}-{i:05d}-{task}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": model,
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": template.format(item=rng.choice(items))},
                    ],
                    "max_tokens": max_tokens,
                },
            }
        )
    return lines


def demo_dataframe(n: int = 20, *, seed: int = 0):
    """A small DataFrame of support tickets (``ticket_id``, ``text``, ``priority``) to build requests from."""
    import pandas as pd

    rng = random.Random(seed)
    items = _TASKS[0][3]
    return pd.DataFrame(
        {
            "ticket_id": [f"T-{1000 + i}" for i in range(n)],
            "text": [rng.choice(items) for _ in range(n)],
            "priority": [rng.choice(["low", "normal", "high"]) for _ in range(n)],
        }
    )


def to_jsonl(lines: Iterable[dict[str, Any]]) -> bytes:
    """Request dicts as JSONL bytes (one compact JSON object per line)."""
    from .jsonl import encode_line

    return b"".join(encode_line(line) + b"\n" for line in lines)


_DEMO_BATCHES = [
    ("Support ticket triage", "support,classify"),
    ("Weekly report summaries", "reports,summarize"),
    ("Help-centre translations (FR)", "i18n,translate"),
    ("Order-note extraction", "ops,extract"),
    ("Nightly evaluation set", "eval"),
]


def start_demo_batches(
    client: Any,
    n_batches: int = 3,
    *,
    requests_per_batch: int = 40,
    model: str = "gpt-4o-mini",
    metadata: Optional[dict[str, str]] = None,
) -> list[Any]:
    """Upload ``n_batches`` demo input files and create a batch for each; return the created ``Batch`` objects.

    Batches get a description and comma-separated tags in their metadata (what the dashboard shows and the
    history filters search); ``metadata`` adds or overrides keys on every batch.
    """
    batches = []
    for i in range(n_batches):
        description, tags = _DEMO_BATCHES[i % len(_DEMO_BATCHES)]
        lines = demo_requests(requests_per_batch, model, seed=i, prefix=f"b{i}")
        file = client.upload_file(to_jsonl(lines), filename=f"demo_batch_{i}.jsonl")
        batches.append(
            client.create_batch(
                file.id,
                "/v1/chat/completions",
                metadata={DESCRIPTION_KEY: description, TAGS_KEY: tags, **(metadata or {})},
            )
        )
    return batches


def runs_locally(client: Any) -> bool:
    """True when ``client`` talks to a batch server on this machine (the embedded one or a LocalBatchServer)."""
    from urllib.parse import urlsplit

    return bool(client.is_local or urlsplit(client.base_url).hostname in ("127.0.0.1", "localhost", "::1"))


def ensure_local(client: Any) -> Any:
    """Raise unless ``client`` :func:`runs_locally`; return it.

    The example notebooks create demo batches; this keeps them from doing so on a paid provider because an
    ``OPENAI_API_KEY`` happened to be set in the environment.
    """
    if not runs_locally(client):
        from urllib.parse import urlsplit

        raise RuntimeError(
            f"this example creates demo batches and would send them to {urlsplit(client.base_url).hostname}: "
            "unset OPENAI_API_KEY, OPENAI_BASE_URL and AZURE_OPENAI_* to run it against the embedded local server"
        )
    return client


# (description, tags, endpoint, model, typical requests, seconds per 1,000 requests, input and output tokens)
_HISTORY_JOBS = [
    ("Support ticket triage", "support,nightly", "/v1/chat/completions", "gpt-4o-mini", 2_000, 120, 180, 4),
    ("Weekly report summaries", "reports", "/v1/chat/completions", "gpt-4.1-mini", 400, 400, 1_400, 60),
    ("Help-centre translations (FR)", "i18n,translate", "/v1/chat/completions", "gpt-4o", 1_200, 300, 220, 240),
    ("Product catalogue embeddings", "search,embed", "/v1/embeddings", "text-embedding-3-small", 20_000, 25, 120, 0),
    ("Nightly evaluation set", "eval,nightly", "/v1/responses", "gpt-5-mini", 5_000, 600, 900, 350),
    ("Order-note extraction", "ops,extract", "/v1/chat/completions", "gpt-4.1-nano", 800, 90, 160, 30),
    ("Review sentiment, EU shops", "analytics", "/v1/chat/completions", "gpt-4o-mini", 12_000, 80, 250, 3),
    ("Reasoning benchmark (o4-mini)", "eval", "/v1/chat/completions", "o4-mini", 600, 2_400, 700, 1_800),
]


def seed_demo_history(
    data_dir: Any = None,
    *,
    days: int = 30,
    batches_per_day: float = 4.0,
    seed: int = 0,
    now: Optional[float] = None,
) -> int:
    """Write a realistic past straight into a local batch server's storage; returns the number of batches.

    For screenshots and demos: ``days`` of finished batches (sizes from a few hundred to 50,000 requests, several
    models and endpoints, durations from minutes to hours, some failed requests, cancellations, expiries and a few
    failed validations) with token usage, so history, charts and costs have something to say. It never goes
    through the API: it writes batch records into ``data_dir`` (default: the embedded server's, i.e.
    ``$BATCH_WIDGETS_HOME``), which a running or later-started local server then lists. The records have no
    output files (their details offer no download). Deterministic for a given ``seed`` and ``now``.
    """
    from .server.storage import Storage, default_data_dir, new_batch_doc

    rng = random.Random(seed)
    end = int(time.time() if now is None else now)
    storage = Storage(data_dir if data_dir is not None else default_data_dir())
    docs: list[dict[str, Any]] = []
    try:
        for day in range(days, 0, -1):
            for _ in range(max(0, round(rng.gauss(batches_per_day, 1.5)))):
                desc, tags, endpoint, model, size, per_k, tok_in, tok_out = rng.choice(_HISTORY_JOBS)
                total = max(20, min(MAX_REQUESTS, int(size * rng.uniform(0.3, 2.5))))
                created = end - day * 86_400 + rng.randrange(86_400 - 3_600)
                in_progress = created + rng.randrange(20, 240)
                run = max(90, int(total / 1000 * per_k * rng.uniform(0.6, 3.0)))
                fate = rng.random()
                failed = int(total * rng.choice([0, 0, 0, 0.002, 0.01, 0.03, 0.12]))
                batch_id = "batch_" + f"{created * 1000 + rng.randrange(1000):012x}" + f"{rng.getrandbits(48):012x}"
                doc = new_batch_doc(
                    batch_id,
                    endpoint=endpoint,
                    model=model,
                    input_file_id=f"file-{rng.getrandbits(64):016x}",
                    completion_window=DEFAULT_COMPLETION_WINDOW,
                    now=created,
                    window=86_400,
                    metadata={DESCRIPTION_KEY: desc, TAGS_KEY: tags},
                    status="completed",
                    total=total,
                )
                doc["in_progress_at"] = in_progress
                if fate < 0.04:  # the input file did not validate: nothing ran
                    doc.update(
                        status="failed",
                        in_progress_at=None,
                        failed_at=created + rng.randrange(5, 60),
                        request_counts={"total": 0, "completed": 0, "failed": 0},
                        errors={
                            "object": "list",
                            "data": [
                                {
                                    "code": "invalid_request",
                                    "line": rng.randrange(1, total),
                                    "param": "body.model",
                                    "message": "Unknown model in this line.",
                                }
                            ],
                        },
                    )
                    docs.append(doc)
                    continue
                if fate < 0.12:  # cancelled part-way
                    ran = int(total * rng.uniform(0.05, 0.8))
                    stop = in_progress + int(run * ran / total)
                    doc.update(status="cancelled", cancelling_at=stop, cancelled_at=stop + rng.randrange(5, 90))
                elif fate < 0.17:  # the 24 h window ran out
                    ran = int(total * rng.uniform(0.4, 0.95))
                    doc.update(status="expired", expired_at=created + 86_400)
                else:
                    ran = total
                    doc.update(
                        status="completed",
                        finalizing_at=in_progress + run,
                        completed_at=in_progress + run + rng.randrange(10, 300),
                    )
                bad = min(failed, ran)
                doc["request_counts"] = {"total": total, "completed": ran - bad, "failed": bad}
                if ran:
                    tin = int((ran - bad) * tok_in * rng.uniform(0.8, 1.2))
                    tout = int((ran - bad) * tok_out * rng.uniform(0.7, 1.3))
                    doc["usage"] = {
                        "input_tokens": tin,
                        "input_tokens_details": {"cached_tokens": int(tin * 0.1)},
                        "output_tokens": tout,
                        "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": tin + tout,
                    }
                docs.append(doc)
        docs.sort(key=lambda d: d["created_at"])  # the server lists by insertion order: oldest first
        for doc in docs:
            storage.insert_batch(doc)
    finally:
        storage.close()
    return len(docs)
