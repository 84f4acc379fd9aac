"""Demo data for the example notebooks, the README and the browser tests.

Everything here is deterministic (seeded), so a notebook that prints a request or a count prints the same thing
on every run. Nothing here is needed to use the library itself.
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Optional

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
                metadata={"description": description, "tags": tags, **(metadata or {})},
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
