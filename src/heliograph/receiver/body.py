"""The response body Helicone would show for a log, and what it cost.

Jawn's ``ResponseBodyHandler`` (helicone.md §4.5), reproduced for the local receiver:

- the raw body is ``textBody`` if set, else ``json.streamed_data`` as synthetic SSE
  (``data: {…}`` lines), else the JSON itself;
- a stream (``providerRequest.json.stream`` true) is consolidated into the response it
  stands for, plus ``streamed_data`` (the chunks), with the same parsers Heliograph's
  delivery uses (``model/parsing``); a cancelled stream (status -3) first loses the
  text after its last newline, as in Jawn;
- cost: the ``providerResponse.cost`` the client sent, else priced from the usage with
  the bundled price table for the route's provider. ``CUSTOM`` gets no computed cost
  (Helicone gives it 0; unknown is more honest here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson

from heliograph.model.parsing.consolidate import consolidate_stream
from heliograph.model.pricing import cost_usd
from heliograph.model.record import Provider
from heliograph.model.usage import Usage, usage_from_response

__all__ = ["ProcessedBody", "process_body", "raw_body"]

_CANCELLED = -3


@dataclasses.dataclass(frozen=True)
class ProcessedBody:
    """What the store keeps: the body to show, the text tokens are read from, and cost."""

    body: str
    text: str | None  # the (preprocessed) stream or text body, None for a JSON body
    raw: str | None  # the body as received, when ``body`` is a processed form of it
    usage: Usage | None
    cost: float | None


def raw_body(response: Mapping[str, Any]) -> str | None:
    """The body as Jawn reads it; None when the response is a JSON object."""
    text = response.get("textBody")
    if isinstance(text, str) and text:
        return text
    chunks = response.get("json", {}).get("streamed_data")
    if isinstance(chunks, list):
        return "\n".join("data: " + orjson.dumps(c).decode() for c in chunks)
    return None


def process_body(
    provider: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    model: str | None,
) -> ProcessedBody:
    """The stored body and cost for a log received on ``provider``'s route."""
    text = raw_body(response)
    response_json: Mapping[str, Any] = response.get("json") or {}
    given = response.get("cost")
    given_cost = float(given) if isinstance(given, int | float) else None
    status = response.get("status")
    if text is None or request.get("stream") is not True or _is_json(text):
        body = text if text is not None else orjson.dumps(response_json).decode()
        usage = usage_from_response(provider, response_json)
        return ProcessedBody(body, text, None, usage, _cost(given_cost, provider, model, usage))
    raw = text
    if status == _CANCELLED:
        text = text.rpartition("\n")[0]  # Jawn drops the (possibly torn) last line
    stream = consolidate_stream(provider, request, text)
    cost = _cost(given_cost, provider, model or _str(stream.response.get("model")), stream.usage)
    if status not in (200, _CANCELLED):
        # A failed stream's body leads with the error (Heliograph's builder puts the
        # traceback first); consolidating would hide it, so it is kept as it came.
        return ProcessedBody(raw, text, None, stream.usage, cost)
    consolidated = {**stream.response, "streamed_data": stream.events}
    return ProcessedBody(orjson.dumps(consolidated).decode(), text, raw, stream.usage, cost)


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _cost(
    given: float | None, provider: str, model: str | None, usage: Usage | None
) -> float | None:
    if given is not None:
        return given
    if usage is None or not model or provider == Provider.CUSTOM:
        return None
    return cost_usd(provider, model, usage)
