"""AnthropicParser rebuilds the Messages API message, tool input parsed, usage with cache."""

from __future__ import annotations

from heliograph.model.parsing import AnthropicParser
from heliograph.model.usage import Usage
from tests.model.parsing.streams import (
    ANTHROPIC_OVERLOADED,
    ANTHROPIC_TOOL,
    ANTHROPIC_TOOL_EVENTS,
    consolidate,
)

REQUEST = {"model": "claude-sonnet-4-20250514", "max_tokens": 1024, "messages": [], "stream": True}


def test_thinking_text_and_tool_use_consolidate_field_by_field() -> None:
    parser, content = consolidate("ANTHROPIC", REQUEST, ANTHROPIC_TOOL)
    assert isinstance(parser, AnthropicParser)
    assert parser.result() == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {
                "type": "thinking",
                "thinking": "The user wants the weather in San Francisco.",
                "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h",
            },
            {"type": "text", "text": "Okay, let me check the weather ☀️."},
            {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {"location": "San Francisco, CA", "unit": "°F"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 472,
            "cache_creation_input_tokens": 1500,
            "cache_read_input_tokens": 2048,
            "output_tokens": 89,
            "service_tier": "standard",
        },
    }
    expected = [False, False, False, True, True, False, False, False, True, True, False]
    expected += [False, False, True, True, False, False, False]
    assert content == expected
    assert parser.error is None
    assert parser.unknown_events == []


def test_usage_keeps_cache_tokens_and_takes_final_output_tokens() -> None:
    parser, _ = consolidate("ANTHROPIC", REQUEST, ANTHROPIC_TOOL)
    assert parser.usage() == Usage(
        input_tokens=472, output_tokens=89, cache_read_tokens=2048, cache_write_tokens=1500
    )


def test_message_delta_usage_with_cumulative_counts_overrides() -> None:
    parser = AnthropicParser()
    parser.feed(ANTHROPIC_TOOL_EVENTS[0])
    parser.feed(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"input_tokens": 500, "cache_read_input_tokens": None, "output_tokens": 12},
        }
    )
    assert parser.usage() == Usage(500, 12, cache_read_tokens=2048, cache_write_tokens=1500)


def test_tool_input_that_is_not_json_keeps_the_raw_string() -> None:
    parser = AnthropicParser()
    parser.feed(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        }
    )
    parser.feed(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
        }
    )
    parser.feed({"type": "content_block_stop", "index": 0})
    assert parser.result()["content"][0]["input"] == '{"a": '


def test_tool_use_without_deltas_keeps_empty_input() -> None:
    parser = AnthropicParser()
    parser.feed(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        }
    )
    parser.feed({"type": "content_block_stop", "index": 0})
    assert parser.result()["content"][0]["input"] == {}


def test_result_mid_tool_call_does_not_break_the_rest_of_the_stream() -> None:
    parser = AnthropicParser()
    events = ANTHROPIC_TOOL_EVENTS
    for event in events[:14]:  # stop inside the tool-use block's JSON
        parser.feed(event)
    assert parser.result()["content"][2]["input"] == '{"location": "San Fra'
    for event in events[14:]:
        parser.feed(event)
    assert parser.result()["content"][2]["input"] == {"location": "San Francisco, CA", "unit": "°F"}


def test_error_mid_stream_sets_error_and_keeps_partial_text() -> None:
    parser, _ = consolidate("ANTHROPIC", REQUEST, ANTHROPIC_OVERLOADED)
    assert parser.error == {"type": "overloaded_error", "message": "Overloaded"}
    result = parser.result()
    assert result["content"] == [{"type": "text", "text": "Par"}]
    assert result["stop_reason"] is None


def test_citations_deltas_are_collected() -> None:
    parser = AnthropicParser()
    parser.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    citation = {"type": "char_location", "cited_text": "x", "document_index": 0}
    parser.feed(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "citations_delta", "citation": citation},
        }
    )
    assert parser.result()["content"][0]["citations"] == [citation]


def test_malformed_events_go_to_unknown_events() -> None:
    parser = AnthropicParser()
    assert (
        parser.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}})
        is False
    )
    assert (
        parser.feed(
            {
                "type": "content_block_delta",
                "index": -1,
                "delta": {"type": "text_delta", "text": "x"},
            }
        )
        is False
    )
    assert parser.feed({"type": "message_start", "message": "nope"}) is False
    assert parser.feed({"type": "brand_new_event"}) is False
    assert len(parser.unknown_events) == 4
    assert parser.result()["content"] == []


def test_unknown_events_are_bounded() -> None:
    parser = AnthropicParser()
    for n in range(1000):
        parser.feed({"type": "mystery", "n": n})
    assert len(parser.unknown_events) == 200
    assert parser.unknown_dropped == 800
