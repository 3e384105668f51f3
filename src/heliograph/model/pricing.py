"""What an LLM call cost, from its usage and a versioned price table.

Prices live in ``prices.json`` next to this module, in USD **per token**, and are matched
the way Helicone's legacy cost table matches them (``packages/cost/index.ts`` ``costOf``):

- rows are grouped by Helicone provider name (``OPENAI``, ``ANTHROPIC``, ``TOGETHER``);
- each row has ``operator`` ``equals`` | ``startsWith`` | ``includes`` and a ``value``,
  both sides lower-cased before comparing;
- the **first** matching row wins, so more specific rows come first in the file;
- a missing ``cache_read`` or ``cache_write`` rate falls back to the ``input`` rate.

An unknown provider or model costs ``None`` (unknown), never 0: a zero would be reported
as "free" in Helicone's dashboards. Editing a price changes reported costs, so bump
``version`` in ``prices.json`` and ``PRICES_VERSION`` here together (a test checks this).

    usage = usage_from_openai(response["usage"])
    record.cost_usd = cost_usd("OPENAI", response["model"], usage)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Literal

from heliograph.model.usage import Usage

__all__ = ["PRICES_VERSION", "ModelPrice", "PriceTable", "cost_usd", "price_for"]

PRICES_VERSION = "2025-11.1"
"""The ``version`` of the bundled ``prices.json``; changes whenever a price does."""

Operator = Literal["equals", "startsWith", "includes"]
_OPERATORS: frozenset[str] = frozenset({"equals", "startsWith", "includes"})

log = logging.getLogger("heliograph")


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per token for one price-table row; the cache rates already hold the fallback."""

    provider: str
    operator: Operator
    value: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    source: str = ""
    as_of: str = ""

    def matches(self, model_lower: str) -> bool:
        pattern = self.value.lower()
        if self.operator == "equals":
            return model_lower == pattern
        if self.operator == "startsWith":
            return model_lower.startswith(pattern)
        return pattern in model_lower

    def cost(self, usage: Usage) -> float | None:
        """The cost of ``usage`` at these rates; reasoning tokens are billed as output."""
        if usage.input_tokens is None or usage.output_tokens is None:
            return None
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.reasoning_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        )


def _rate(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"price {what} must be a non-negative number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class PriceTable:
    """Price rows per provider, in match order. Build one from ``prices.json``'s shape."""

    version: str
    rows: Mapping[str, Sequence[ModelPrice]]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PriceTable:
        """Validate and load the ``prices.json`` shape; raises ValueError if malformed."""
        try:
            providers = data["providers"]
            rows: dict[str, list[ModelPrice]] = {}
            for provider, entry in providers.items():
                source, as_of = str(entry.get("source", "")), str(entry.get("as_of", ""))
                table = rows.setdefault(provider.upper(), [])
                for row in entry["models"]:
                    operator = row["operator"]
                    if operator not in _OPERATORS:
                        raise ValueError(f"unknown price operator {operator!r}")
                    if not isinstance(row["value"], str) or not row["value"]:
                        raise ValueError(f"price row value must be a string: {row!r}")
                    input_rate = _rate(row["input"], "input")
                    table.append(
                        ModelPrice(
                            provider=provider.upper(),
                            operator=operator,
                            value=row["value"],
                            input=input_rate,
                            output=_rate(row["output"], "output"),
                            cache_read=_rate(row.get("cache_read", input_rate), "cache_read"),
                            cache_write=_rate(row.get("cache_write", input_rate), "cache_write"),
                            source=source,
                            as_of=as_of,
                        )
                    )
            return cls(version=str(data["version"]), rows=rows)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed price table: {exc!r}") from exc

    def price_for(self, provider: str, model: str) -> ModelPrice | None:
        if not isinstance(provider, str) or not isinstance(model, str) or not model:
            return None
        model_lower = model.lower()
        for row in self.rows.get(provider.upper(), ()):
            if row.matches(model_lower):
                return row
        return None

    def cost_usd(self, provider: str, model: str, usage: Usage) -> float | None:
        price = self.price_for(provider, model)
        return None if price is None else price.cost(usage)


@functools.cache
def _bundled() -> PriceTable:
    """The table shipped in ``prices.json``, loaded on first use (no I/O at import)."""
    try:
        text = resources.files("heliograph.model").joinpath("prices.json").read_text("utf-8")
        return PriceTable.from_json(json.loads(text))
    except (OSError, ValueError) as exc:
        # Costs are telemetry: a broken install reports unknown costs, it does not crash.
        log.warning("heliograph price table could not be loaded; costs are unknown: %s", exc)
        return PriceTable(version="unavailable", rows={})


def price_for(provider: str, model: str) -> ModelPrice | None:
    """The first bundled price row matching ``model`` for a Helicone provider name, if any."""
    return _bundled().price_for(provider, model)


def cost_usd(provider: str, model: str, usage: Usage) -> float | None:
    """USD cost of a call, or ``None`` when the model is unknown or token counts are unknown.

    ``provider`` is Helicone's name ("OPENAI", "ANTHROPIC", "TOGETHER"); other providers,
    including "CUSTOM", have no prices here and give ``None``.
    """
    return _bundled().cost_usd(provider, model, usage)
