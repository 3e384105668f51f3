"""What delivery adds to a record before sending it: usage, estimated tokens and cost.

Capture stays cheap on the caller's thread (a stream is kept as its raw transcript); the
sender threads do the work here, once per send attempt, on a copy, so the spooled record
is never changed and a retry computes the same result.

For a streamed call (``request.stream`` true and a text body) the transcript is parsed
with the provider's stream parser (``model/parsing``); for a plain call the response
JSON's ``usage`` is read. Then:

- **Cost** is priced from the usage with the bundled price table (``model/pricing.py``)
  and sent as ``providerResponse.cost``, unless the caller set a cost already. An unknown
  model or unknown token counts leave it out: unknown, never 0.
- **Estimated tokens.** Helicone reads stream usage only from the stream itself and shows
  -1 tokens and no cost when the provider sent none (an OpenAI stream without
  ``stream_options.include_usage``, a stream cut short). Heliograph then counts the
  tokens with tiktoken and appends **one extra line** to the transcript, in the provider's
  own stream format, carrying that usage and ``"heliograph": {"estimated": true}``, so
  Helicone's parsers pick it up and price it. The log also gets the property
  ``Helicone-Property-Heliograph-Tokens: estimated``, so estimates can be filtered out.
  The transcript always ends with a newline, so the line Jawn drops from a cancelled
  stream (status -3) is an empty one, not the last chunk.

Nothing here raises: a transcript that cannot be parsed is sent as it is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import orjson

from heliograph.capture.tokens import estimate_usage, response_text
from heliograph.model.parsing import AnthropicParser
from heliograph.model.parsing.consolidate import Consolidated, consolidate_stream
from heliograph.model.parsing.openai_responses import OpenAIResponsesParser
from heliograph.model.pricing import cost_usd
from heliograph.model.record import Record
from heliograph.model.usage import Usage, usage_from_response

__all__ = ["ESTIMATED_PROPERTY", "enrich"]

log = logging.getLogger("heliograph.delivery")

ESTIMATED_PROPERTY = "Helicone-Property-Heliograph-Tokens"
"""Set to ``estimated`` on logs whose token counts Heliograph counted itself."""


def enrich(record: Record, *, estimate_tokens: bool = True) -> Record:
    """The record to send: ``record`` plus cost, and for streams estimated usage if needed."""
    try:
        return _enrich(record, estimate_tokens)
    except Exception:  # telemetry about telemetry must not stop delivery
        log.exception("could not compute usage and cost for a record; sending it as captured")
        return record


def _is_stream(record: Record) -> bool:
    return record.request.get("stream") is True and bool(record.response_text)


def _enrich(record: Record, estimate_tokens: bool) -> Record:
    if _is_stream(record):
        return _enrich_stream(record, estimate_tokens)
    response = record.response_json or {}
    if record.cost_usd is not None or record.response_text is not None:
        return record
    usage = usage_from_response(record.provider, response)
    cost = _price(record.provider, record.request, response, usage)
    return record if cost is None else dataclasses.replace(record, cost_usd=cost)


def _enrich_stream(record: Record, estimate_tokens: bool) -> Record:
    transcript = record.response_text or ""
    stream = consolidate_stream(record.provider, record.request, transcript)
    usage = stream.usage
    text, headers = transcript, record.headers
    if estimate_tokens and _needs_estimate(stream, usage):
        model = _model(record.request, stream.response)
        estimate = estimate_usage(record.request, response_text(stream.response), model)
        known_input = usage.input_tokens if usage is not None else None
        if isinstance(stream.parser, AnthropicParser) and known_input is not None:
            # message_start reported the input; only the output was cut short.
            estimate = dataclasses.replace(
                estimate,
                input_tokens=known_input,
                cache_read_tokens=usage.cache_read_tokens if usage else 0,
                cache_write_tokens=usage.cache_write_tokens if usage else 0,
            )
        usage = estimate
        headers = {**record.headers, ESTIMATED_PROPERTY: "estimated"}
        line = _usage_line(stream, estimate)
        if line is not None:
            text = _terminated(transcript) + line
    text = _terminated(text)
    cost = record.cost_usd
    if cost is None and usage is not None:
        cost = _price(record.provider, record.request, stream.response, usage)
    return dataclasses.replace(record, response_text=text, headers=headers, cost_usd=cost)


def _terminated(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _needs_estimate(stream: Consolidated, usage: Usage | None) -> bool:
    if usage is None or usage.input_tokens is None or usage.output_tokens is None:
        return True
    # Anthropic sends the final output count in message_delta; without it (a stream cut
    # short) message_start's placeholder output count (often 1) would be reported.
    return isinstance(stream.parser, AnthropicParser) and not stream.response.get("stop_reason")


def _usage_line(stream: Consolidated, usage: Usage) -> str | None:
    """One stream event carrying ``usage``, in the stream's own format and encoding."""
    marker = {"estimated": True}
    if isinstance(stream.parser, AnthropicParser):
        anthropic_usage: dict[str, Any] = {"output_tokens": usage.output_tokens}
        if usage.input_tokens is not None:
            anthropic_usage["input_tokens"] = usage.input_tokens
        event = {"type": "message_delta", "delta": {}, "usage": anthropic_usage,
                 "heliograph": marker}  # fmt: skip
        name = "message_delta"
    elif isinstance(stream.parser, OpenAIResponsesParser):
        return None  # Helicone has no Responses stream parser to read it; cost carries it
    else:
        prompt = usage.input_tokens
        completion = usage.output_tokens
        event = {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": None
                if prompt is None or completion is None
                else prompt + completion,
            },
            "heliograph": marker,
        }
        name = None
    data = orjson.dumps(event).decode()
    if not stream.sse:
        return data + "\n"
    return (f"event: {name}\n" if name else "") + f"data: {data}\n\n"


def _model(request: Mapping[str, Any], response: Mapping[str, Any]) -> str:
    for source in (response, request):
        model = source.get("model")
        if isinstance(model, str) and model:
            return model
    return ""


def _price(
    provider: str, request: Mapping[str, Any], response: Mapping[str, Any], usage: Usage | None
) -> float | None:
    """Cost from the response's model (most specific), else the request's."""
    if usage is None:
        return None
    for source in (response, request):
        model = source.get("model")
        if isinstance(model, str) and model:
            cost = cost_usd(provider, model, usage)
            if cost is not None:
                return cost
    return None
