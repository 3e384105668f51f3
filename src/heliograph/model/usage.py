"""Token usage in one shape, whatever the provider reported.

Providers count tokens differently, and cost depends on reading them right:

- OpenAI Chat ``prompt_tokens`` *includes* cached tokens
  (``prompt_tokens_details.cached_tokens``), and ``completion_tokens`` *includes*
  reasoning tokens (``completion_tokens_details.reasoning_tokens``).
- The OpenAI Responses API does the same with ``input_tokens``/``output_tokens`` and their
  ``*_details``.
- Anthropic ``input_tokens`` is already fresh; cache reads and writes come separately.

``Usage`` follows Helicone's convention (``packages/cost/usage/openAIUsageProcessor.ts``):
``input_tokens`` is fresh input only, ``output_tokens`` excludes reasoning, and each of
cache read, cache write and reasoning is its own count, so no token is billed twice.
Audio and image tokens are not split out; they stay inside input and output.

The ``usage_from_*`` readers never raise: usage arrives from network payloads, and a
malformed one gives ``None`` counts (unknown) rather than an exception.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = [
    "Usage",
    "usage_from_anthropic",
    "usage_from_openai",
    "usage_from_response",
    "usage_from_responses",
]


@dataclasses.dataclass(frozen=True)
class Usage:
    """Token counts of one LLM call, in Helicone's convention (see the module docstring).

    ``None`` means unknown, which is different from zero: cost is not computed from an
    unknown count. ``estimated`` is True when the counts come from a local tokenizer
    rather than from the provider.
    """

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int | None:
        """Every token of the call, as Helicone totals it (input, output, cache, reasoning)."""
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.reasoning_tokens
        )

    def to_dict(self) -> dict[str, int | bool | None]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "estimated": self.estimated,
        }


def _count(value: Any) -> int | None:
    """A token count from a JSON value: a non-negative integer, else unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    details = usage.get(key)
    return details if isinstance(details, Mapping) else {}


def _split(
    total_in: int | None, cached: int, total_out: int | None, reasoning: int
) -> tuple[int | None, int | None]:
    """Fresh input and non-reasoning output from OpenAI-style inclusive totals.

    If ``cached`` exceeds the prompt total, the prompt is taken as already fresh (some
    OpenAI-compatible servers report Anthropic-style counts); Helicone guards the same way.
    """
    fresh_in = total_in
    if total_in is not None and cached <= total_in:
        fresh_in = total_in - cached
    fresh_out = None if total_out is None else max(0, total_out - reasoning)
    return fresh_in, fresh_out


def usage_from_openai(usage: Any) -> Usage:
    """Read an OpenAI Chat Completions ``usage`` object (also Together and compatibles)."""
    if not isinstance(usage, Mapping):
        return Usage(None, None)
    if "prompt_tokens" not in usage and "input_tokens" in usage:
        return usage_from_responses(usage)
    cached = _count(_details(usage, "prompt_tokens_details").get("cached_tokens")) or 0
    reasoning = _count(_details(usage, "completion_tokens_details").get("reasoning_tokens")) or 0
    fresh_in, fresh_out = _split(
        _count(usage.get("prompt_tokens")),
        cached,
        _count(usage.get("completion_tokens")),
        reasoning,
    )
    return Usage(fresh_in, fresh_out, cache_read_tokens=cached, reasoning_tokens=reasoning)


def usage_from_responses(usage: Any) -> Usage:
    """Read an OpenAI Responses API ``usage`` object."""
    if not isinstance(usage, Mapping):
        return Usage(None, None)
    cached = _count(_details(usage, "input_tokens_details").get("cached_tokens")) or 0
    reasoning = _count(_details(usage, "output_tokens_details").get("reasoning_tokens")) or 0
    fresh_in, fresh_out = _split(
        _count(usage.get("input_tokens")), cached, _count(usage.get("output_tokens")), reasoning
    )
    return Usage(fresh_in, fresh_out, cache_read_tokens=cached, reasoning_tokens=reasoning)


def usage_from_anthropic(usage: Any) -> Usage:
    """Read an Anthropic Messages ``usage`` object; its ``input_tokens`` is already fresh."""
    if not isinstance(usage, Mapping):
        return Usage(None, None)
    return Usage(
        _count(usage.get("input_tokens")),
        _count(usage.get("output_tokens")),
        cache_read_tokens=_count(usage.get("cache_read_input_tokens")) or 0,
        cache_write_tokens=_count(usage.get("cache_creation_input_tokens")) or 0,
    )


def usage_from_response(provider: str, response: Mapping[str, Any]) -> Usage | None:
    """Usage of a non-streamed response body, read the way its provider reports it."""
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return None
    if provider == "ANTHROPIC" or response.get("type") == "message":
        return usage_from_anthropic(usage)
    return usage_from_openai(usage)
