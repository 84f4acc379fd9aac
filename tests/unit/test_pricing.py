import pytest

from batch_widgets.pricing import ModelPrice, Pricing, get_pricing, reset_prices, set_prices


@pytest.fixture(autouse=True)
def _fresh_prices():
    reset_prices()
    yield
    reset_prices()


def test_shipped_table_is_dated_and_has_common_models():
    p = Pricing.default()
    assert p.as_of and p.as_of[:4].isdigit()
    assert p.batch_discount == 0.5
    for model in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3",
        "o4-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ):
        assert p.price_for(model) is not None, model


def test_gpt4o_mini_one_million_in_and_out_at_batch_price():
    # 1M in at $0.15 + 1M out at $0.60 = $0.75 list; batch halves it.
    assert get_pricing().token_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.375)
    assert get_pricing().token_cost("gpt-4o-mini", 1_000_000, 1_000_000, batch=False) == pytest.approx(0.75)


def test_cached_tokens_use_cached_rate():
    # gpt-4.1: 600k uncached x $2 + 400k cached x $0.50 = 1.2 + 0.2 = 1.4 list -> 0.7 batch
    assert get_pricing().token_cost("gpt-4.1", 1_000_000, 0, 400_000) == pytest.approx(0.7)


def test_dated_snapshot_resolves_to_base_model_but_prefixes_do_not():
    p = get_pricing()
    assert p.price_for("gpt-4o-mini-2024-07-18") == p.price_for("gpt-4o-mini")
    assert p.price_for("gpt-4o-audio-preview") is None


def test_unknown_model_is_unknown_never_zero():
    cost, source = get_pricing().cost("my-local-llama", usage=(1000, 500, 0))
    assert cost is None and source == "unknown"


def test_cost_sources_in_order():
    p = get_pricing()
    assert p.cost("gpt-4o", usage=(1_000_000, 0, 0), result_usage=(5, 5, 0), completed_requests=3) == (
        pytest.approx(1.25),
        "usage",
    )
    assert p.cost("gpt-4o", result_usage=(0, 1_000_000, 0), completed_requests=3) == (pytest.approx(5.0), "results")
    assert p.cost("whatever", completed_requests=250) == (pytest.approx(0.25), "estimate")
    assert p.cost("gpt-4o") == (None, "unknown")


def test_set_prices_overrides_and_adds():
    set_prices({"my-model": {"input": 1.0, "output": 2.0}}, per_request_estimate=0.01, batch_discount=1.0)
    p = get_pricing()
    assert p.token_cost("my-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert p.cost(None, completed_requests=10) == (pytest.approx(0.1), "estimate")
    assert p.price_for("gpt-4o") is not None  # merged, not replaced
    set_prices({"only": ModelPrice(1.0)}, replace=True)
    assert get_pricing().price_for("gpt-4o") is None


def test_bad_price_entries_are_rejected_clearly():
    with pytest.raises(ValueError, match="needs 'input'"):
        set_prices({"m": {"output": 1.0}})
    with pytest.raises(TypeError):
        set_prices({"m": 3.0})


def test_anthropic_and_mistral_models_cost_at_their_batch_discount():
    pricing = get_pricing()
    # Claude Haiku 4.5: $1 in, $0.10 cache hits, $5 out per 1M; Message Batches take 50 % off.
    assert pricing.token_cost("claude-haiku-4-5-20251001", 1_000_000, 1_000_000, 500_000) == pytest.approx(
        (500_000 * 1.00 + 500_000 * 0.10 + 1_000_000 * 5.00) / 1e6 * 0.5
    )
    assert pricing.price_for("claude-sonnet-4-20250514") == pricing.price_for("claude-sonnet-4-0")
    # Mistral publishes no cached-input price: cached tokens count as ordinary input.
    assert pricing.token_cost("mistral-small-latest", 2_000_000, 1_000_000, 1_000_000) == pytest.approx(
        (2_000_000 * 0.10 + 1_000_000 * 0.30) / 1e6 * 0.5
    )


def test_a_simulated_batch_costs_are_marked_simulated():
    from batch_widgets.models import Batch
    from batch_widgets.pricing import batch_cost

    raw = {
        "id": "batch_1",
        "input_file_id": "f",
        "status": "completed",
        "created_at": 1,
        "model": "gpt-4o-mini",
        "request_counts": {"total": 2, "completed": 2, "failed": 0},
        "usage": {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500},
    }
    real_usd, real_source = batch_cost(Batch(**raw))
    usd, source = batch_cost(Batch(**raw, simulated=True))  # as our local server's simulated executor says
    assert (real_source, source) == ("usage", "simulated") and usd == real_usd > 0
    assert batch_cost(Batch(**{**raw, "model": "no-such-model"}, simulated=True)) == (None, "unknown")
