"""Prices as data: a dated per-model table (USD per 1M tokens) and the rules that turn usage into cost.

Cost of a batch, best source first:
  "usage"    - the batch object's own ``usage`` (batches created after 2025-09-07 carry it);
  "results"  - token counts summed from its result lines (when the caller has downloaded them);
  "estimate" - completed requests x a flat per-request price (the seed dashboard's $0.001), clearly marked;
  "unknown"  - tokens are known but the model has no price: cost is ``None``, never 0.

The table ships in ``prices.json``; override it per process with :func:`set_prices` or pass a :class:`Pricing`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping, Optional

__all__ = ["ModelPrice", "Pricing", "batch_cost", "batch_usage", "get_pricing", "set_prices", "reset_prices"]

# gpt-4o-mini-2024-07-18 -> gpt-4o-mini; claude-haiku-4-5-20251001 -> claude-haiku-4-5 (Anthropic's snapshots)
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|20\d{6})$")


@dataclass(frozen=True)
class ModelPrice:
    """Standard (non-batch) list prices, USD per 1M tokens."""

    input: float
    output: float = 0.0
    cached_input: Optional[float] = None  # None: cached tokens are billed as ordinary input

    @classmethod
    def coerce(cls, value: Any) -> "ModelPrice":
        if isinstance(value, ModelPrice):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"input", "output", "cached_input"}
            if unknown or "input" not in value:
                raise ValueError(
                    f"a model price needs 'input' (and optionally 'output', 'cached_input'), got keys {sorted(value)}"
                )
            cached = value.get("cached_input")
            return cls(
                float(value["input"]), float(value.get("output") or 0.0), None if cached is None else float(cached)
            )
        raise TypeError(f"a model price must be a ModelPrice or a dict, not {type(value).__name__}")


@dataclass(frozen=True)
class Pricing:
    """A price table plus the batch discount and the per-request estimate used when tokens are unknown."""

    models: Mapping[str, ModelPrice] = field(default_factory=dict)
    batch_discount: float = 0.5  # batch price = list price x this factor (OpenAI: 50 %)
    per_request_estimate: float = 0.001
    as_of: Optional[str] = None
    currency: str = "USD"
    _resolved: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # name -> price

    @classmethod
    def default(cls) -> "Pricing":
        data = json.loads(resources.files("batch_widgets").joinpath("prices.json").read_text("utf-8"))
        return cls(
            models={name: ModelPrice.coerce(p) for name, p in data["models"].items()},
            batch_discount=float(data["batch_discount"]),
            per_request_estimate=float(data["per_request_estimate"]),
            as_of=data.get("as_of"),
            currency=data.get("currency", "USD"),
        )

    def with_prices(
        self,
        models: Optional[Mapping[str, Any]] = None,
        *,
        replace: bool = False,
        batch_discount: Optional[float] = None,
        per_request_estimate: Optional[float] = None,
        as_of: Optional[str] = None,
    ) -> "Pricing":
        """A copy with some prices added or changed (or, with ``replace=True``, a new table)."""
        table = {} if replace else dict(self.models)
        table.update({name: ModelPrice.coerce(p) for name, p in (models or {}).items()})
        return Pricing(
            models=table,
            batch_discount=self.batch_discount if batch_discount is None else float(batch_discount),
            per_request_estimate=(
                self.per_request_estimate if per_request_estimate is None else float(per_request_estimate)
            ),
            as_of=as_of or self.as_of,
            currency=self.currency,
        )

    def price_for(self, model: Optional[str]) -> Optional[ModelPrice]:
        """The price of a model by exact name, else without a trailing date snapshot; ``None`` if unknown."""
        if not model:
            return None
        if model not in self._resolved:  # histories ask for the same few models 100,000 times
            price = self.models.get(model)
            self._resolved[model] = price if price is not None else self.models.get(_DATE_SUFFIX.sub("", model))
        return self._resolved[model]

    def token_cost(
        self,
        model: Optional[str],
        input_tokens: int,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        *,
        batch: bool = True,
    ) -> Optional[float]:
        """USD for these tokens at batch (default) or standard prices; ``None`` when the model has no price.

        ``output_tokens`` include reasoning tokens, as the API counts them, so reasoning is billed as output."""
        price = self.price_for(model)
        if price is None:
            return None
        cached = min(max(int(cached_tokens or 0), 0), int(input_tokens or 0))
        cached_rate = price.input if price.cached_input is None else price.cached_input
        dollars = (
            (int(input_tokens or 0) - cached) * price.input
            + cached * cached_rate
            + int(output_tokens or 0) * price.output
        ) / 1_000_000
        return dollars * (self.batch_discount if batch else 1.0)

    def cost(
        self,
        model: Optional[str],
        *,
        usage: Optional[tuple[int, int, int]] = None,
        result_usage: Optional[tuple[int, int, int]] = None,
        completed_requests: Optional[int] = None,
    ) -> tuple[Optional[float], str]:
        """``(cost, source)`` from the best information available; usages are ``(input, output, cached)``."""
        for tokens, source in ((usage, "usage"), (result_usage, "results")):
            if tokens is not None:
                value = self.token_cost(model, tokens[0], tokens[1], tokens[2])
                return (value, source) if value is not None else (None, "unknown")
        if completed_requests is not None:
            return completed_requests * self.per_request_estimate, "estimate"
        return None, "unknown"


def batch_usage(batch: Any) -> Optional[tuple[int, int, int]]:
    """A batch's ``usage`` as ``(input, output, cached)`` tokens, or ``None`` when it tells nothing yet.

    An all-zero usage on an **active** batch reads as "not reported yet" (the local server, and providers, write
    zeros when a run starts), so its cost falls back to the estimate like a batch with no usage at all. On a
    terminal batch an all-zero usage is a real $0 (nothing ran, or the endpoint counts no tokens).
    """
    usage = getattr(batch, "usage", None)
    if usage is None:
        return None
    tokens = (usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    if not any(tokens) and batch.is_active:
        return None
    return tokens


def batch_cost(
    batch: Any,
    *,
    pricing: Optional[Pricing] = None,
    result_usage: Optional[tuple[int, int, int]] = None,
) -> tuple[Optional[float], str]:
    """``(usd, source)`` of one batch: THE cost every view, export and statistic uses.

    Best source first: the batch's own usage (:func:`batch_usage`), else token counts summed from its downloaded
    results (``result_usage``), else ``succeeded requests x per_request_estimate`` ("estimate"). A model with no
    price gives ``(None, "unknown")``, never 0. USD at batch prices. A batch answered by a simulator (our local
    server's ``simulated`` field) gets source "simulated": the figure is what the tokens would cost.
    """
    usage = batch_usage(batch)
    usd, source = (pricing or get_pricing()).cost(
        batch.model,
        usage=usage,
        result_usage=result_usage if usage is None else None,
        completed_requests=batch.request_counts.completed,
    )
    if usd is not None and getattr(batch, "simulated", False):
        return usd, "simulated"  # what it would cost; the simulator's answers cost nothing
    return usd, source


_current: Optional[Pricing] = None


def get_pricing() -> Pricing:
    """The process-wide pricing (the shipped table unless :func:`set_prices` changed it)."""
    global _current
    if _current is None:
        _current = Pricing.default()
    return _current


def set_prices(
    models: Optional[Mapping[str, Any]] = None,
    *,
    replace: bool = False,
    batch_discount: Optional[float] = None,
    per_request_estimate: Optional[float] = None,
    as_of: Optional[str] = None,
) -> Pricing:
    """Override prices for this process, e.g. ``set_prices({"my-model": {"input": 1, "output": 2}})``."""
    global _current
    _current = get_pricing().with_prices(
        models,
        replace=replace,
        batch_discount=batch_discount,
        per_request_estimate=per_request_estimate,
        as_of=as_of,
    )
    return _current


def reset_prices() -> Pricing:
    """Back to the shipped table."""
    global _current
    _current = Pricing.default()
    return _current
