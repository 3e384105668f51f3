"""Stream parsing: turn a streamed LLM response into the response it stands for.

Pure functions of the bytes received, with no I/O and no provider SDK:

    bytes ──SSEDecoder──▶ StreamEvent(data={...}) ──StreamParser.feed──▶ result(), usage()

- ``sse.SSEDecoder`` splits SSE or NDJSON across arbitrary chunk boundaries.
- ``parser_for`` picks the parser for a provider and request: ``AnthropicParser``
  (Messages), ``OpenAIResponsesParser`` (Responses API) or ``OpenAIChatParser`` (Chat
  Completions from OpenAI, Together and OpenAI-compatible servers, Helicone's default).
- ``result()`` is the non-streamed body the provider would have returned, ``usage()`` the
  provider-reported token usage, ``error`` an error event seen mid-stream.

Invariants: nothing here raises on any input (malformed events land in
``unknown_events``), and memory grows linearly with the content received.

    decoder, parser = SSEDecoder(), parser_for("OPENAI", request)
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if event.data is not None and parser.feed(event.data) and ttft is None:
                ttft = now() - start
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from heliograph.model.parsing.anthropic import AnthropicParser
from heliograph.model.parsing.openai_chat import OpenAIChatParser
from heliograph.model.parsing.openai_responses import OpenAIResponsesParser
from heliograph.model.parsing.sse import SSEDecoder, StreamEvent
from heliograph.model.record import Provider, normalise_provider
from heliograph.model.usage import Usage

__all__ = [
    "AnthropicParser",
    "OpenAIChatParser",
    "OpenAIResponsesParser",
    "SSEDecoder",
    "StreamEvent",
    "StreamParser",
    "parser_for",
]


@runtime_checkable
class StreamParser(Protocol):
    """Consolidates one stream's decoded events; every parser here implements it."""

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Consume one event; True iff it carried content (text, tool-call args, thinking)."""
        ...

    def result(self) -> dict[str, Any]:
        """The consolidated response, as the provider would have returned it unstreamed."""
        ...

    def usage(self) -> Usage | None:
        """Provider-reported usage, if the stream carried it."""
        ...

    @property
    def error(self) -> dict[str, Any] | None:
        """An error event seen mid-stream, if any."""
        ...

    @property
    def unknown_events(self) -> list[dict[str, Any]]:
        """Events the parser did not understand; kept, never fatal."""
        ...


_ANTHROPIC_EVENTS = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "message_delta", "ping"}
)


def parser_for(
    provider: str, request: Mapping[str, Any], first_event: Mapping[str, Any] | None = None
) -> StreamParser:
    """The parser for a stream, chosen from the provider, the request and the first event.

    Anthropic's Messages API gets ``AnthropicParser`` (also when the first event is
    unmistakably Anthropic's, whatever the provider says). Otherwise the Responses API is
    recognised by a first event of type ``response.*``, or, before any event, by a
    request with ``input`` and no ``messages``; everything else is parsed as Chat
    Completions, which is Helicone's default for OpenAI, Together and custom providers.
    """
    # What the stream says it is beats what the caller said it would be.
    if isinstance(first_event, Mapping):
        first_type = first_event.get("type")
        if first_type in _ANTHROPIC_EVENTS:
            return AnthropicParser()
        if isinstance(first_type, str) and first_type.startswith("response."):
            return OpenAIResponsesParser()
        if "choices" in first_event:
            return OpenAIChatParser()
    if normalise_provider(provider if isinstance(provider, str) else None) == Provider.ANTHROPIC:
        return AnthropicParser()
    if isinstance(request, Mapping) and "input" in request and "messages" not in request:
        return OpenAIResponsesParser()
    return OpenAIChatParser()
