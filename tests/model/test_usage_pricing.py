"""Usage readers follow Helicone's token convention; prices match like Helicone's cost table."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.model.pricing import (
    PRICES_VERSION,
    ModelPrice,
    PriceTable,
    cost_usd,
    price_for,
)
from heliograph.model.usage import (
    Usage,
    usage_from_anthropic,
    usage_from_openai,
    usage_from_responses,
)

# --- usage --------------------------------------------------------------------------------


def test_openai_prompt_tokens_include_cached_and_completion_includes_reasoning() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
        }
    )
    assert usage == Usage(
        input_tokens=86, output_tokens=108, cache_read_tokens=1920, reasoning_tokens=192
    )
    assert usage.total_tokens == 2306


def test_openai_usage_without_details() -> None:
    assert usage_from_openai({"prompt_tokens": 10, "completion_tokens": 5}) == Usage(10, 5)


def test_cached_above_prompt_is_taken_as_already_fresh() -> None:
    # Helicone's guard for OpenAI-compatible servers that report Anthropic-style counts.
    usage = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 50},
        }
    )
    assert usage == Usage(10, 1, cache_read_tokens=50)


def test_responses_usage() -> None:
    usage = usage_from_responses(
        {
            "input_tokens": 5000,
            "input_tokens_details": {"cached_tokens": 4096},
            "output_tokens": 1200,
            "output_tokens_details": {"reasoning_tokens": 1024},
            "total_tokens": 6200,
        }
    )
    assert usage == Usage(904, 176, cache_read_tokens=4096, reasoning_tokens=1024)


def test_openai_reader_accepts_responses_shaped_usage() -> None:
    assert usage_from_openai({"input_tokens": 3, "output_tokens": 4}) == Usage(3, 4)


def test_anthropic_input_is_already_fresh() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 12,
            "cache_creation_input_tokens": 3000,
            "cache_read_input_tokens": 9000,
            "output_tokens": 450,
            "service_tier": "standard",
        }
    )
    assert usage == Usage(12, 450, cache_read_tokens=9000, cache_write_tokens=3000)


@pytest.mark.parametrize("reader", [usage_from_openai, usage_from_anthropic, usage_from_responses])
@pytest.mark.parametrize(
    "bad",
    [None, "x", 3, [], {"prompt_tokens": "10", "input_tokens": -1, "output_tokens": True}],
)
def test_malformed_usage_gives_unknown_counts(reader: Any, bad: Any) -> None:
    usage = reader(bad)
    assert usage.input_tokens is None
    assert usage.output_tokens is None
    assert usage.total_tokens is None


def test_to_dict() -> None:
    assert Usage(1, 2, 3, 4, 5, estimated=True).to_dict() == {
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_read_tokens": 3,
        "cache_write_tokens": 4,
        "reasoning_tokens": 5,
        "estimated": True,
    }


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=30), c, max_size=4),
        max_leaves=12,
    )
)
def test_usage_readers_never_raise(value: Any) -> None:
    for reader in (usage_from_openai, usage_from_anthropic, usage_from_responses):
        usage = reader(value)
        assert usage.input_tokens is None or usage.input_tokens >= 0
        assert usage.output_tokens is None or usage.output_tokens >= 0


# --- pricing ------------------------------------------------------------------------------


def table(*rows: dict[str, Any], provider: str = "OPENAI") -> PriceTable:
    return PriceTable.from_json(
        {
            "version": "t",
            "providers": {provider: {"source": "s", "as_of": "a", "models": list(rows)}},
        }
    )


def test_first_matching_row_wins() -> None:
    prices = table(
        {"operator": "startsWith", "value": "gpt-x-mini", "input": 1, "output": 2},
        {"operator": "startsWith", "value": "gpt-x", "input": 3, "output": 4},
        {"operator": "equals", "value": "gpt-x-mini-2025", "input": 5, "output": 6},
    )
    assert prices.price_for("OPENAI", "gpt-x-mini-2025").input == 1  # not the later equals
    assert prices.price_for("OPENAI", "gpt-x-large").input == 3


def test_operators_compare_lower_cased_model_and_value() -> None:
    prices = table(
        {"operator": "equals", "value": "Meta-Llama/Model-A", "input": 1, "output": 1},
        {"operator": "startsWith", "value": "Fam-", "input": 2, "output": 2},
        {"operator": "includes", "value": "Mid", "input": 3, "output": 3},
    )
    assert prices.price_for("OPENAI", "meta-llama/model-a").input == 1
    assert prices.price_for("OPENAI", "META-LLAMA/MODEL-A").input == 1
    assert prices.price_for("OPENAI", "meta-llama/model-a-v2") is None  # equals is exact
    assert prices.price_for("OPENAI", "fam-7b").input == 2
    assert prices.price_for("OPENAI", "x-fam-7b") is None  # startsWith anchors
    assert prices.price_for("OPENAI", "a-MID-b").input == 3
    assert prices.price_for("openai", "fam-7b").input == 2  # provider names in any case


def test_missing_cache_rates_fall_back_to_input_rate() -> None:
    price = table({"operator": "equals", "value": "m", "input": 0.5, "output": 2}).price_for(
        "OPENAI", "m"
    )
    assert price is not None
    assert (price.cache_read, price.cache_write) == (0.5, 0.5)


def test_cost_formula_bills_reasoning_as_output_and_cache_at_cache_rates() -> None:
    price = ModelPrice("OPENAI", "equals", "m", input=1, output=10, cache_read=0.1, cache_write=2)
    usage = Usage(100, 20, cache_read_tokens=1000, cache_write_tokens=50, reasoning_tokens=30)
    assert price.cost(usage) == pytest.approx(100 * 1 + 20 * 10 + 30 * 10 + 1000 * 0.1 + 50 * 2)


def test_unknown_counts_cost_none_not_zero() -> None:
    assert cost_usd("OPENAI", "gpt-4o", Usage(None, 10)) is None
    assert cost_usd("OPENAI", "gpt-4o", Usage(10, None)) is None
    assert cost_usd("OPENAI", "gpt-4o", Usage(0, 0)) == 0.0


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("OPENAI", "my-finetune"),
        ("OPENAI", ""),
        ("CUSTOM", "gpt-4o"),  # Helicone gives CUSTOM no cost
        ("GOOGLE", "gemini-2.5-pro"),
        ("ANTHROPIC", "gpt-4o"),
        ("TOGETHER", "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"),
    ],
)
def test_unknown_models_and_providers_cost_none(provider: str, model: str) -> None:
    assert price_for(provider, model) is None
    assert cost_usd(provider, model, Usage(1000, 1000)) is None


@pytest.mark.parametrize(
    ("provider", "model", "per_million_in", "per_million_out"),
    [
        ("OPENAI", "gpt-4o", 2.50, 10.00),
        ("OPENAI", "gpt-4o-2024-08-06", 2.50, 10.00),
        ("OPENAI", "gpt-4o-2024-05-13", 5.00, 15.00),
        ("OPENAI", "gpt-4o-mini-2024-07-18", 0.15, 0.60),
        ("OPENAI", "gpt-4.1-nano-2025-04-14", 0.10, 0.40),
        ("OPENAI", "o3-mini", 1.10, 4.40),
        ("OPENAI", "o3-2025-04-16", 2.00, 8.00),
        ("OPENAI", "o4-mini-2025-04-16", 1.10, 4.40),
        ("OPENAI", "gpt-5-mini-2025-08-07", 0.25, 2.00),
        ("ANTHROPIC", "claude-opus-4-5-20251101", 5.00, 25.00),
        ("ANTHROPIC", "claude-opus-4-1-20250805", 15.00, 75.00),
        ("ANTHROPIC", "claude-opus-4-20250514", 15.00, 75.00),
        ("ANTHROPIC", "claude-sonnet-4-5-20250929", 3.00, 15.00),
        ("ANTHROPIC", "claude-3-5-haiku-latest", 0.80, 4.00),
        ("ANTHROPIC", "claude-3-haiku-20240307", 0.25, 1.25),
        ("TOGETHER", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88, 0.88),
        ("TOGETHER", "deepseek-ai/deepseek-r1", 3.00, 7.00),
    ],
)
def test_bundled_prices_match_specific_models(
    provider: str, model: str, per_million_in: float, per_million_out: float
) -> None:
    price = price_for(provider, model)
    assert price is not None
    assert price.input * 1e6 == pytest.approx(per_million_in)
    assert price.output * 1e6 == pytest.approx(per_million_out)
    assert price.source and price.as_of


def test_anthropic_cache_rates_are_a_tenth_and_five_quarters_of_input() -> None:
    price = price_for("ANTHROPIC", "claude-sonnet-4-20250514")
    assert price is not None
    assert price.cache_read == pytest.approx(price.input * 0.1)
    assert price.cache_write == pytest.approx(price.input * 1.25)


def test_openai_cached_input_price_and_end_to_end_cost() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 3000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 2048},
        }
    )
    expected = (952 * 2.50 + 2048 * 1.25 + 500 * 10.00) / 1e6
    assert cost_usd("OPENAI", "gpt-4o", usage) == pytest.approx(expected)


def test_together_cache_falls_back_to_input() -> None:
    price = price_for("TOGETHER", "deepseek-ai/DeepSeek-V3")
    assert price is not None
    assert price.cache_read == price.input == price.cache_write


def test_bundled_table_is_valid_and_versioned() -> None:
    text = resources.files("heliograph.model").joinpath("prices.json").read_text("utf-8")
    data = json.loads(text)
    assert data["version"] == PRICES_VERSION
    assert data["unit"] == "per token"
    loaded = PriceTable.from_json(data)
    assert set(loaded.rows) == {"OPENAI", "ANTHROPIC", "TOGETHER"}
    for rows in loaded.rows.values():
        for row in rows:
            # per-token prices: anything above $1,000 per million tokens is a unit error
            assert 0 < row.input < 1e-3 and 0 < row.output < 1e-3, row
            assert row.cache_read <= row.input <= row.cache_write or row.cache_write == row.input


def test_every_bundled_row_is_reachable() -> None:
    # An earlier row must not shadow a later one for the later one's own exact value.
    for provider, rows in PriceTable.from_json(
        json.loads(resources.files("heliograph.model").joinpath("prices.json").read_text())
    ).rows.items():
        for row in rows:
            probe = row.value if row.operator != "startsWith" else row.value + "01-01"
            assert price_for(provider, probe) is not None
            assert price_for(provider, probe).input == row.input, (provider, row.value)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {
            "version": "v",
            "providers": {
                "OPENAI": {"models": [{"operator": "regex", "value": "x", "input": 1, "output": 1}]}
            },
        },
        {
            "version": "v",
            "providers": {
                "OPENAI": {
                    "models": [{"operator": "equals", "value": "x", "input": -1, "output": 1}]
                }
            },
        },
        {
            "version": "v",
            "providers": {"OPENAI": {"models": [{"operator": "equals", "value": "x"}]}},
        },
        {"version": "v", "providers": []},
    ],
)
def test_malformed_tables_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PriceTable.from_json(bad)
