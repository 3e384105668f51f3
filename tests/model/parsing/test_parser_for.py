"""parser_for picks the parser from the stream's first event, the provider and the request."""

from __future__ import annotations

from typing import Any

import pytest

from heliograph.model.parsing import (
    AnthropicParser,
    OpenAIChatParser,
    OpenAIResponsesParser,
    StreamParser,
    parser_for,
)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "gpt-4.1", "input": "hi"}


@pytest.mark.parametrize(
    ("provider", "request_body", "first_event", "expected"),
    [
        ("ANTHROPIC", CHAT, None, AnthropicParser),
        ("anthropic", {}, None, AnthropicParser),
        ("OPENAI", CHAT, None, OpenAIChatParser),
        ("OPENAI", RESPONSES, None, OpenAIResponsesParser),
        ("OPENAI", CHAT, {"type": "response.created", "response": {}}, OpenAIResponsesParser),
        ("OPENAI", RESPONSES, {"choices": [], "object": "chat.completion.chunk"}, OpenAIChatParser),
        ("TOGETHER", CHAT, None, OpenAIChatParser),
        ("CUSTOM", RESPONSES, None, OpenAIResponsesParser),
        ("CUSTOM", CHAT, {"type": "message_start", "message": {}}, AnthropicParser),
        ("ANTHROPIC", CHAT, {"choices": []}, OpenAIChatParser),  # OpenAI-compatible endpoint
        ("GOOGLE", CHAT, None, OpenAIChatParser),
        ("", {}, None, OpenAIChatParser),
    ],
)
def test_parser_choice(
    provider: str, request_body: dict[str, Any], first_event: Any, expected: type
) -> None:
    parser = parser_for(provider, request_body, first_event)
    assert type(parser) is expected
    assert isinstance(parser, StreamParser)


def test_odd_arguments_still_give_a_parser() -> None:
    assert isinstance(parser_for(None, None, 5), OpenAIChatParser)  # type: ignore[arg-type]
